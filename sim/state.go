package sim

import (
	"fmt"
	"math/rand"
	"sort"

	"github.com/lettadev/wsproxy/protocol"
)

// deviceState is the simulated device's mutable state beyond files.
type deviceState struct {
	mode        string
	cwd         string
	cwdRevision int
	branch      string
	branches    []string
	modelHandle string
	modelID     string
	toolset     string
	experiments []experiment
	secrets     map[string]string
	skills      map[string]string // name → path
	memory      map[string]string // relative path → content
	memCommits  []memCommit
	memfs       bool
	providers   map[string]bool // provider id → connected
	accounts    map[string]map[string]*channelAccount
	routes      []channelRoute
	channelsOn  map[string]bool
	terminals   map[string]*terminal
	watched     map[string]*socket
}

type experiment struct {
	id, label, description string
	enabled                bool
	override               any
}

type memCommit struct {
	sha, message, path, timestamp string
}

type channelAccount struct {
	channelID, accountID, displayName string
	enabled, running                  bool
	dmPolicy                          string
	allowedUsers                      []string
}

type channelRoute struct {
	channelID, accountID, chatID, agentID, convID string
}

type terminal struct {
	id         string
	pid        int
	cols, rows int
	sock       *socket
}

var supportedCommands = []string{"clear", "compact", "init", "reload", "doctor", "toolset", "secret"}

var modelEntries = []obj{
	o("id", "model-sim-mini", "handle", "openai/gpt-4o-mini", "label", "GPT-4o mini",
		"description", "OpenAI GPT-4o mini", "isDefault", true, "isFeatured", true, "free", false),
	o("id", "model-sim-sonnet", "handle", "anthropic/claude-sonnet-4-6", "label", "Claude Sonnet 4.6",
		"description", "Anthropic Claude Sonnet 4.6", "isDefault", false, "isFeatured", true, "free", false),
	o("id", "model-sim-local", "handle", "letta/sim-deterministic", "label", "Simulated model",
		"description", "Deterministic model of the simulator", "isDefault", false, "isFeatured", false, "free", true),
}

func newDeviceState(cfg Environment, rng *rand.Rand) deviceState {
	st := deviceState{
		mode:        "standard",
		cwd:         cfg.WorkingDirectory,
		branch:      cfg.GitBranch,
		branches:    []string{cfg.GitBranch, "feature/foo", "fix/bar"},
		modelHandle: "openai/gpt-4o-mini",
		modelID:     "model-sim-mini",
		toolset:     "default",
		experiments: []experiment{
			{id: "artifacts", label: "artifacts", description: "Artifact creation tools."},
			{id: "conversation_titles", label: "conversation titles", description: "Generate conversation titles."},
			{id: "diffs", label: "diffs", description: "Worktree diff previews."},
		},
		secrets:    map[string]string{"GITHUB_TOKEN": "ghp_simFAKE000000000000", "OPENAI_API_KEY": "sk-sim-fake-0000"},
		skills:     map[string]string{},
		memory:     map[string]string{},
		memfs:      true,
		providers:  map[string]bool{"openai": true, "anthropic": false},
		accounts:   map[string]map[string]*channelAccount{"slack": {}, "telegram": {}},
		channelsOn: map[string]bool{},
		terminals:  map[string]*terminal{},
		watched:    map[string]*socket{},
	}
	st.memory["system/persona.md"] = "I am a simulated Letta Code agent.\n"
	st.memory["system/human.md"] = "The user is debugging the remote client protocol.\n"
	st.memory["notes/project.md"] = "wsproxy records and checks Letta Code remote client traffic.\n"
	for _, p := range []string{"system/persona.md", "system/human.md", "notes/project.md"} {
		st.memCommits = append(st.memCommits, memCommit{
			sha: fmt.Sprintf("%040x", rng.Uint64()), message: "Initial " + p, path: p,
			timestamp: "2026-01-01T00:00:00.000Z",
		})
	}
	st.accounts["slack"]["acct-sim"] = &channelAccount{channelID: "slack", accountID: "acct-sim",
		displayName: "Simulated Slack", enabled: true, dmPolicy: "pairing"}
	return st
}

func (st *deviceState) memoryDir(agent string) string {
	if agent == "" {
		agent = "agent"
	}
	return "~/.letta/agents/" + agent + "/memory"
}

func (st *deviceState) experimentList() []obj {
	out := make([]obj, 0, len(st.experiments))
	for _, x := range st.experiments {
		src := "default"
		if x.override != nil {
			src = "override"
		}
		out = append(out, o("id", x.id, "label", x.label, "description", x.description,
			"enabled", x.enabled, "source", src, "override", x.override))
	}
	return out
}

func (st *deviceState) memoryPaths() []string {
	var ps []string
	for p := range st.memory {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// runtime is one agent/conversation on the device: loop state, queue,
// active turn and pending approvals.
type runtime struct {
	key       rtKey
	status    string
	runs      []string
	executing []string
	turn      *turn
	queue     []queued
	pending   []*approval
	clientIDs map[string][]string // run id → client message ids
}

type queued struct {
	id, clientMessageID, content, enqueuedAt string
	c                                        *command
}

type approval struct {
	requestID string
	request   obj
	turn      *turn
}

func (rt *runtime) idle() bool {
	return rt.turn == nil && len(rt.pending) == 0 && len(rt.queue) == 0
}

func (rt *runtime) loopState() obj {
	runs := rt.runs
	if runs == nil {
		runs = []string{}
	}
	ex := rt.executing
	if ex == nil {
		ex = []string{}
	}
	return o("status", rt.status, "active_run_ids", runs, "executing_tool_call_ids", ex)
}

func (rt *runtime) queueItems() []obj {
	out := []obj{}
	for _, q := range rt.queue {
		out = append(out, o("id", q.id, "client_message_id", q.clientMessageID, "kind", "message",
			"source", "user", "content", q.content, "enqueued_at", q.enqueuedAt))
	}
	return out
}

func (rt *runtime) pendingList() []obj {
	out := []obj{}
	for _, p := range rt.pending {
		out = append(out, o("request_id", p.requestID, "request", p.request))
	}
	return out
}

// deviceStatus builds update_device_status.device_status for a runtime.
func (e *environment) deviceStatus(rt *runtime) obj {
	st := &e.state
	recent := []string{}
	for _, b := range st.branches {
		if b != st.branch {
			recent = append(recent, b)
		}
	}
	skills := []obj{}
	names := make([]string, 0, len(st.skills))
	for n := range st.skills {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		skills = append(skills, o("id", n, "name", n, "description", "Simulated skill", "path", st.skills[n], "source", "global"))
	}
	return o(
		"current_connection_id", e.id,
		"connection_name", e.cfg.Name,
		"is_online", true,
		"is_processing", rt.turn != nil,
		"current_permission_mode", st.mode,
		"current_working_directory", st.cwd,
		"cwd_revision", st.cwdRevision,
		"git_context", o("branch", st.branch, "recent_branches", recent),
		"letta_code_version", "0.32.18-sim",
		"current_toolset", st.toolset,
		"current_toolset_preference", "auto",
		"available_toolsets", []obj{},
		"current_loaded_tools", []string{"Bash", "Read", "Write", "Edit"},
		"current_available_skills", skills,
		"background_processes", []obj{},
		"pending_control_requests", rt.pendingList(),
		"experiments", st.experimentList(),
		"memory_directory", st.memoryDir(rt.key.agent),
		"reflection_settings", nil,
		"supported_commands", supportedCommands,
	)
}

func (e *environment) emitDeviceStatus(rt *runtime) {
	e.emit(rt.key, "update_device_status", o("device_status", e.deviceStatus(rt)))
}

func (e *environment) emitLoopStatus(rt *runtime, status string) {
	rt.status = status
	if status != "EXECUTING_CLIENT_SIDE_TOOL" {
		rt.executing = nil
	}
	e.emit(rt.key, "update_loop_status", o("loop_status", rt.loopState()))
}

func (e *environment) emitQueue(rt *runtime, removed []obj) {
	if removed == nil {
		removed = []obj{}
	}
	e.emit(rt.key, "update_queue", o("queue", rt.queueItems(), "removed", removed))
}

// idleStatus is the loop status a runtime rests in.
var idleStatus = protocol.LoopIdle
