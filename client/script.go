package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/protocol"
)

// Script is a scripted session: steps run in order on one attached
// session.
type Script struct {
	Name  string `json:"name"`
	Steps []Step `json:"steps"`
}

// Step is one scripted action; exactly one of its action fields is set.
//
// String values in Send may use ${agent_id}, ${conversation_id} and
// ${cwd} (the device's working directory); a command that needs a runtime
// gets one when it has none, and request_id is filled in when absent.
type Step struct {
	// Send sends one command (its fields, "type" included) and waits for
	// its reply, its effect, or a ping barrier when it has no reply.
	Send map[string]any `json:"send,omitempty"`
	// AllowFailure accepts a reply with success:false or an error event.
	AllowFailure bool `json:"allow_failure,omitempty"`
	// Turn runs a streaming turn.
	Turn *Turn `json:"turn,omitempty"`
	// WaitIdle waits until the runtime's loop status is WAITING_ON_INPUT.
	WaitIdle bool `json:"wait_idle,omitempty"`
	// Reconnect closes the session normally and attaches again.
	Reconnect bool `json:"reconnect,omitempty"`
	// Pause waits for a duration ("250ms").
	Pause Duration `json:"pause,omitempty"`
}

// Turn is a user message and the answer to its tool approval.
type Turn struct {
	Message string `json:"message"`
	// Approval answers the turn's control_request: "allow" or "deny"
	// (default deny).
	Approval string `json:"approval,omitempty"`
	// ExpectApproval says whether the turn must ask for approval; by
	// default it must when Message contains "run ".
	ExpectApproval *bool `json:"expect_approval,omitempty"`
}

func (t *Turn) expectsApproval() bool {
	if t.ExpectApproval != nil {
		return *t.ExpectApproval
	}
	return strings.Contains(strings.ToLower(t.Message), "run ")
}

func (t *Turn) decision() string {
	if t.Approval == "" {
		return "deny"
	}
	return t.Approval
}

// Duration is a time.Duration written as a string ("1.5s") in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "250ms" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string like \"250ms\": %w", err)
	}
	*d = Duration(n)
	return nil
}

// ParseScript decodes a JSON script and validates it.
func ParseScript(data []byte) (*Script, error) {
	var s Script
	d := json.NewDecoder(strings.NewReader(string(data)))
	d.DisallowUnknownFields()
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadScript reads a JSON script file.
func LoadScript(path string) (*Script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	s, err := ParseScript(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Name == "" {
		s.Name = path
	}
	return s, nil
}

// Validate checks that every step has exactly one action and that sent
// commands name a command type of the protocol model.
func (s *Script) Validate() error { return s.ValidateFor(protocol.DefaultModel) }

// ValidateFor is Validate against the protocol model m.
func (s *Script) ValidateFor(m *protocol.Model) error {
	if len(s.Steps) == 0 {
		return errors.New("script: no steps")
	}
	for i, st := range s.Steps {
		n := 0
		if st.Send != nil {
			n++
			t, _ := st.Send["type"].(string)
			info := m.Lookup(t)
			if t == "" {
				return fmt.Errorf("script: step %d: send has no type", i+1)
			}
			if info == nil || (info.Role != protocol.RoleCommand && t != "ping") {
				return fmt.Errorf("script: step %d: %q is not a command of the protocol model", i+1, t)
			}
		}
		if st.Turn != nil {
			n++
			if d := st.Turn.decision(); d != "allow" && d != "deny" {
				return fmt.Errorf("script: step %d: approval %q (want allow or deny)", i+1, d)
			}
		}
		if st.WaitIdle {
			n++
		}
		if st.Reconnect {
			n++
		}
		if st.Pause > 0 {
			n++
		}
		if n != 1 {
			return fmt.Errorf("script: step %d: want exactly one action, have %d", i+1, n)
		}
	}
	return nil
}

// Commands returns the command types the script sends, including "input"
// for turns.
func (s *Script) Commands() []string {
	seen := map[string]bool{}
	for _, st := range s.Steps {
		if t, _ := st.Send["type"].(string); t != "" {
			seen[t] = true
		}
		if st.Turn != nil {
			seen["input"] = true
		}
	}
	return sortedKeys(seen)
}

func send(kv ...any) Step {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return Step{Send: m}
}

type kv = map[string]any

// DefaultScript exercises every command of the published reference at
// least once (plus a few v2 ones), runs three turns (a tool approved, a
// tool denied, no tool), reconnects, and checks state after reconnecting.
func DefaultScript() *Script {
	const (
		note = "${cwd}/notes/client.txt"
		rt   = "${agent_id}"
	)
	runtime := kv{"agent_id": rt, "conversation_id": "${conversation_id}"}
	steps := []Step{
		send("type", "sync", "recover_approvals", true),
		// Filesystem.
		send("type", "list_in_directory", "path", "${cwd}", "include_files", true),
		send("type", "get_tree", "path", "${cwd}", "depth", 2),
		send("type", "write_file", "path", note, "content", "written by the reference client\nsecond line\n"),
		send("type", "read_file", "path", note),
		send("type", "edit_file", "file_path", note, "old_string", "second line", "new_string", "edited line"),
		send("type", "read_file", "path", note),
		send("type", "search_files", "query", "client", "cwd", "${cwd}", "max_results", 5),
		send("type", "grep_in_files", "query", "hello", "cwd", "${cwd}", "context_lines", 1),
		// Memory.
		send("type", "list_memory", "agent_id", rt),
		send("type", "memory_history", "agent_id", rt, "limit", 10),
		send("type", "memory_file_at_ref", "agent_id", rt, "file_path", "system/persona.md", "ref", "HEAD"),
		send("type", "memory_commit_diff", "agent_id", rt, "sha", "HEAD"),
		send("type", "read_memory_file", "agent_id", rt, "path", "system/persona.md"),
		send("type", "write_memory_file", "agent_id", rt, "path", "notes/client.md", "content", "remember the client\n",
			"commit_message", "client note"),
		send("type", "delete_memory_file", "agent_id", rt, "path", "notes/client.md"),
		send("type", "enable_memfs", "agent_id", rt),
		// Models and providers.
		send("type", "list_models"),
		send("type", "update_model", "payload", kv{"model_handle": "anthropic/claude-sonnet-4-6"}),
		send("type", "update_model", "payload", kv{"model_id": "model-sim-mini"}),
		send("type", "list_connect_providers", "target", "local"),
		send("type", "connect_provider", "target", "local", "provider_id", "anthropic", "fields", kv{"api_key": "sk-fake"}),
		send("type", "disconnect_provider", "target", "local", "provider_id", "anthropic"),
		// Git, experiments, secrets, skills.
		send("type", "search_branches", "query", "feature"),
		send("type", "checkout_branch", "branch", "feature/client", "create", true),
		send("type", "checkout_branch", "branch", "main"),
		send("type", "get_experiments"),
		send("type", "set_experiment", "experiment_id", "diffs", "enabled", true),
		send("type", "secret_list", "agent_id", rt),
		send("type", "secret_apply", "agent_id", rt, "set", kv{"CLIENT_TOKEN": "fake-value"}, "unset", []any{}),
		send("type", "skill_enable", "skill_path", "/workspace/skills/review"),
		send("type", "skill_disable", "name", "review"),
		// Channels.
		send("type", "channels_list"),
		send("type", "channel_accounts_list", "channel_id", "slack"),
		send("type", "channel_account_create", "channel_id", "slack", "account", kv{"account_id": "acct-client",
			"display_name": "Client bot", "dm_policy": "allowlist", "allowed_users": []any{"U1"}}),
		send("type", "channel_account_update", "channel_id", "slack", "account_id", "acct-client",
			"patch", kv{"display_name": "Client bot 2"}),
		send("type", "channel_account_bind", "channel_id", "slack", "account_id", "acct-client", "runtime", runtime),
		send("type", "channel_account_unbind", "channel_id", "slack", "account_id", "acct-client"),
		send("type", "channel_account_start", "channel_id", "slack", "account_id", "acct-client"),
		send("type", "channel_account_stop", "channel_id", "slack", "account_id", "acct-client"),
		send("type", "channel_get_config", "channel_id", "slack", "account_id", "acct-client"),
		send("type", "channel_set_config", "channel_id", "slack", "account_id", "acct-client", "config", kv{"dm_policy": "open"}),
		send("type", "channel_start", "channel_id", "slack"),
		send("type", "channel_stop", "channel_id", "slack"),
		send("type", "channel_pairings_list", "channel_id", "slack"),
		send("type", "channel_pairing_bind", "channel_id", "slack", "account_id", "acct-client", "runtime", runtime, "code", "PAIR42"),
		send("type", "channel_routes_list", "channel_id", "slack"),
		send("type", "channel_targets_list", "channel_id", "slack"),
		send("type", "channel_target_bind", "channel_id", "slack", "account_id", "acct-client", "runtime", runtime,
			"target_id", "target-general"),
		send("type", "channel_route_remove", "channel_id", "slack", "chat_id", "chat-PAIR42"),
		send("type", "channel_account_delete", "channel_id", "slack", "account_id", "acct-client"),
		// Heartbeat, legacy acknowledgements, v2 extras.
		send("type", "ping"),
		send("type", "abort_message"),
		send("type", "change_cwd", "cwd", "${cwd}"),
		send("type", "recover_pending_approvals"),
		send("type", "app_server_info"),
		send("type", "resume_queue"),
		// Terminals.
		send("type", "terminal_spawn", "terminal_id", "term-client", "cols", 80, "rows", 24, "cwd", "${cwd}"),
		send("type", "terminal_input", "terminal_id", "term-client", "data", "echo hello-from-client\r"),
		send("type", "terminal_resize", "terminal_id", "term-client", "cols", 100, "rows", 30),
		send("type", "terminal_kill", "terminal_id", "term-client"),
		// Device state.
		send("type", "change_device_state", "payload", kv{"mode": "acceptEdits"}),
		send("type", "change_device_state", "payload", kv{"cwd": "${cwd}"}),
		send("type", "change_device_state", "payload", kv{"mode": "standard"}),
		// Turns.
		{Turn: &Turn{Message: "Please run ls -la", Approval: "allow"}},
		{Turn: &Turn{Message: "Please run rm -rf build", Approval: "deny"}},
		{Turn: &Turn{Message: "Summarise what you know about this project."}},
		{WaitIdle: true},
		// Reconnect and check that state survived.
		{Reconnect: true},
		send("type", "read_file", "path", note),
		send("type", "list_models"),
		{WaitIdle: true},
	}
	return &Script{Name: "default", Steps: steps}
}
