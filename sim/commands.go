package sim

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// handler carries out one command; e.mu is held.
type handler func(e *environment, c *command)

// content computes the fields of a one-shot command's reply. An error
// makes the reply success:false with the error's text (and the fields
// returned with it).
type content func(e *environment, c *command) (obj, error)

var handlers map[string]handler

// contents holds the per-command content of one-shot commands answered by
// <type>_response. Commands of the protocol table without an entry get a
// bare success reply.
var contents map[string]content

func init() {
	handlers = map[string]handler{
		"input":                     handleInput,
		"sync":                      handleSync,
		"abort_message":             handleAbort,
		"change_device_state":       handleChangeDeviceState,
		"change_cwd":                handleChangeCwd,
		"recover_pending_approvals": handleRecoverApprovals,
		"resume_queue":              handleResumeQueue,
		"terminal_spawn":            handleTerminalSpawn,
		"terminal_input":            handleTerminalInput,
		"terminal_resize":           handleTerminalResize,
		"terminal_kill":             handleTerminalKill,
		"watch_file":                handleWatch,
		"unwatch_file":              handleWatch,
	}
	contents = map[string]content{}
	for k, v := range fsContents {
		contents[k] = v
	}
	for k, v := range stateContents {
		contents[k] = v
	}
	for k, v := range channelContents {
		contents[k] = v
	}
}

// genericHandler answers one-shot commands with <type>_response and
// silently accepts commands that have no reply.
func genericHandler(e *environment, c *command) {
	i := c.info
	if !i.RepliesByRequestID() {
		return
	}
	reply := i.Replies[0]
	var fields obj
	var err error
	if f := contents[c.typ]; f != nil {
		fields, err = f(e, c)
	} else if i.NeedsRuntime {
		fields = o("runtime", c.key.obj())
	}
	out := o("success", err == nil)
	if err != nil {
		out = out.set("error", err.Error())
	}
	e.reply(c, reply, out.with(fields))
}

func (e *environment) absPath(p string) string {
	if p == "" {
		return e.state.cwd
	}
	if !strings.HasPrefix(p, "/") {
		return cleanPath(path.Join(e.state.cwd, p))
	}
	return cleanPath(p)
}

var fsContents = map[string]content{
	"list_in_directory": func(e *environment, c *command) (obj, error) {
		p := e.absPath(c.a.str("path"))
		folders, files, err := e.fs.list(p)
		if err != nil {
			return o("path", p, "folders", []string{}, "hasMore", false), err
		}
		incl := c.a.boolean("include_files")
		all := append([]string{}, folders...)
		if incl {
			all = append(all, files...)
		}
		off := c.a.integer("offset", 0)
		lim := c.a.integer("limit", 0)
		total := len(all)
		lo := min(max(off, 0), total)
		hi := total
		if lim > 0 {
			hi = min(lo+lim, total)
		}
		var fo, fi []string
		for _, n := range all[lo:hi] {
			if e.fs.isDir(path.Join(p, n)) {
				fo = append(fo, n)
			} else {
				fi = append(fi, n)
			}
		}
		out := o("path", p, "folders", nonNil(fo), "hasMore", hi < total, "total", total)
		if incl {
			out = out.set("files", nonNil(fi))
		}
		return out, nil
	},
	"get_tree": func(e *environment, c *command) (obj, error) {
		p := e.absPath(c.a.str("path"))
		entries, more, err := e.fs.tree(p, c.a.integer("depth", 2))
		list := []obj{}
		for _, t := range entries {
			list = append(list, o("path", t.path, "type", t.typ))
		}
		return o("path", p, "entries", list, "has_more_depth", more), err
	},
	"read_file": func(e *environment, c *command) (obj, error) {
		p := e.absPath(c.a.str("path"))
		enc := c.a.str("encoding")
		if enc == "" {
			enc = "utf8"
		}
		data, err := e.fs.read(p)
		if err != nil {
			return o("path", p, "content", nil, "encoding", enc), err
		}
		s := string(data)
		if enc == "base64" {
			s = base64.StdEncoding.EncodeToString(data)
		}
		return o("path", p, "content", s, "encoding", enc), nil
	},
	"write_file": func(e *environment, c *command) (obj, error) {
		p := e.absPath(c.a.str("path"))
		if !c.a.has("content") {
			return o("path", p), errors.New("missing content")
		}
		e.fs.write(p, []byte(c.a.str("content")))
		e.fileChanged(p)
		return o("path", p), nil
	},
	"edit_file": func(e *environment, c *command) (obj, error) {
		p := e.absPath(c.a.str("file_path"))
		n, line, err := e.fs.edit(p, c.a.str("old_string"), c.a.str("new_string"),
			c.a.boolean("replace_all"), c.a.integer("expected_replacements", 0))
		if err != nil {
			return o("file_path", p, "message", nil, "replacements", 0), err
		}
		data, _ := e.fs.read(p)
		e.direct(c.sock, o("type", "file_ops", "path", p, "cg_entries", []obj{}, "ops", []obj{},
			"source", "agent", "document_content", string(data)))
		e.fileChanged(p)
		return o("file_path", p, "message", fmt.Sprintf("Successfully replaced %d occurrence(s) in %s", n, p),
			"replacements", n, "start_line", line), nil
	},
	"search_files": func(e *environment, c *command) (obj, error) {
		dir := e.absPath(c.a.str("cwd"))
		files := []obj{}
		for _, r := range e.fs.search(dir, c.a.str("query"), c.a.integer("max_results", 5)) {
			files = append(files, o("path", r, "type", "file"))
		}
		return o("files", files), nil
	},
	"grep_in_files": func(e *environment, c *command) (obj, error) {
		dir := e.absPath(c.a.str("cwd"))
		ms, nfiles, trunc, err := e.fs.grep(dir, c.a.str("query"), grepOpts{
			regex: c.a.boolean("is_regex"), caseSensitive: c.a.boolean("case_sensitive"),
			wholeWord: c.a.boolean("whole_word"), glob: c.a.str("glob"),
			max: c.a.integer("max_results", 500), context: c.a.integer("context_lines", 2),
		})
		list := []obj{}
		for _, m := range ms {
			list = append(list, o("path", m.path, "line", m.line, "column", m.col, "column_end", m.colEnd,
				"text", m.text, "before", m.before, "after", m.after))
		}
		return o("matches", list, "total_matches", len(ms), "total_files", nfiles, "truncated", trunc), err
	},
	"get_cwd_map": func(e *environment, c *command) (obj, error) {
		return o("cwd_map", map[string]string{}, "boot_working_directory", e.fs.root), nil
	},
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// fileChanged tells the socket watching p, if any.
func (e *environment) fileChanged(p string) {
	if k := e.state.watched[p]; k != nil && k.alive() {
		e.direct(k, o("type", "file_changed", "path", p, "lastModified", time.Now().UnixMilli()))
	}
}

func handleWatch(e *environment, c *command) {
	p := e.absPath(c.a.str("path"))
	if c.typ == "watch_file" {
		e.state.watched[p] = c.sock
	} else {
		delete(e.state.watched, p)
	}
}

func (e *environment) checkout(branch string, create bool) error {
	st := &e.state
	for _, b := range st.branches {
		if b == branch {
			st.branch = branch
			return nil
		}
	}
	if !create {
		return fmt.Errorf("pathspec '%s' did not match any branch known to git", branch)
	}
	st.branches = append(st.branches, branch)
	st.branch = branch
	return nil
}

func (e *environment) sha() string {
	return fmt.Sprintf("%016x%016x%08x", e.rng.Uint64(), e.rng.Uint64(), e.rng.Uint32())
}

var stateContents = map[string]content{
	// Memory and MemFS.
	"list_memory": func(e *environment, c *command) (obj, error) {
		entries := []obj{}
		for _, p := range e.state.memoryPaths() {
			body := e.state.memory[p]
			entries = append(entries, o("relative_path", p, "is_system", strings.HasPrefix(p, "system/"),
				"description", nil, "content", body, "size", len(body)))
		}
		return o("entries", entries, "done", true, "total", len(entries),
			"memfs_enabled", e.state.memfs, "memfs_initialized", e.state.memfs), nil
	},
	"memory_history": func(e *environment, c *command) (obj, error) {
		fp := c.a.str("file_path")
		commits := []obj{}
		for i := len(e.state.memCommits) - 1; i >= 0; i-- {
			m := e.state.memCommits[i]
			if fp == "" || m.path == fp {
				commits = append(commits, o("sha", m.sha, "message", m.message, "timestamp", m.timestamp,
					"author_name", "Letta Code (simulated)"))
			}
		}
		if lim := c.a.integer("limit", 0); lim > 0 && len(commits) > lim {
			commits = commits[:lim]
		}
		return o("file_path", fp, "commits", commits), nil
	},
	"memory_file_at_ref": func(e *environment, c *command) (obj, error) {
		fp, ref := c.a.str("file_path"), c.a.str("ref")
		body, ok := e.state.memory[fp]
		if !ok {
			return o("file_path", fp, "ref", ref, "content", nil), fmt.Errorf("%s not found at %s", fp, ref)
		}
		return o("file_path", fp, "ref", ref, "content", body), nil
	},
	"memory_commit_diff": func(e *environment, c *command) (obj, error) {
		sha := c.a.str("sha")
		if sha == "HEAD" && len(e.state.memCommits) > 0 {
			sha = e.state.memCommits[len(e.state.memCommits)-1].sha
		}
		for _, m := range e.state.memCommits {
			if m.sha == sha || (sha != "" && strings.HasPrefix(m.sha, sha)) {
				body := e.state.memory[m.path]
				return o("sha", m.sha, "diff", fmt.Sprintf("--- a/%s\n+++ b/%s\n@@ -0,0 +1 @@\n+%s", m.path, m.path,
					strings.TrimSuffix(body, "\n"))), nil
			}
		}
		return o("sha", sha, "diff", nil), fmt.Errorf("unknown commit %q", sha)
	},
	"read_memory_file": func(e *environment, c *command) (obj, error) {
		p := c.a.str("path")
		enc := c.a.str("encoding")
		if enc == "" {
			enc = "utf8"
		}
		base := o("agent_id", c.a.str("agent_id"), "path", p)
		body, ok := e.state.memory[p]
		if !ok {
			return base.with(o("content", nil, "encoding", enc)), fmt.Errorf("memory file %s not found", p)
		}
		if enc == "base64" {
			body = base64.StdEncoding.EncodeToString([]byte(body))
		}
		return base.with(o("content", body, "encoding", enc)), nil
	},
	"write_memory_file": func(e *environment, c *command) (obj, error) {
		p := c.a.str("path")
		base := o("agent_id", c.a.str("agent_id"), "path", p)
		if p == "" || strings.Contains(p, "..") || strings.HasPrefix(p, "/") {
			return base, fmt.Errorf("invalid memory path %q", p)
		}
		body := c.a.str("content")
		if c.a.str("encoding") == "base64" {
			b, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				return base, fmt.Errorf("content is not base64: %w", err)
			}
			body = string(b)
		}
		e.state.memory[p] = body
		msg := c.a.str("commit_message")
		if msg == "" {
			msg = "Update " + p
		}
		m := memCommit{sha: e.sha(), message: msg, path: p, timestamp: timestamp(time.Now())}
		e.state.memCommits = append(e.state.memCommits, m)
		return base.with(o("committed", true, "commit_sha", m.sha)), nil
	},
	"delete_memory_file": func(e *environment, c *command) (obj, error) {
		p := c.a.str("path")
		base := o("agent_id", c.a.str("agent_id"), "path", p)
		if _, ok := e.state.memory[p]; !ok {
			return base.with(o("committed", false)), nil
		}
		delete(e.state.memory, p)
		m := memCommit{sha: e.sha(), message: "Delete " + p, path: p, timestamp: timestamp(time.Now())}
		e.state.memCommits = append(e.state.memCommits, m)
		return base.with(o("committed", true, "commit_sha", m.sha)), nil
	},
	"enable_memfs": func(e *environment, c *command) (obj, error) {
		e.state.memfs = true
		return o("memory_directory", e.state.memoryDir(c.a.str("agent_id"))), nil
	},

	// Models and providers.
	"list_models": func(e *environment, c *command) (obj, error) {
		handles := []string{}
		for _, m := range modelEntries {
			h, _ := m.get("handle")
			handles = append(handles, h.(string))
		}
		return o("entries", modelEntries, "available_handles", handles), nil
	},
	"update_model": func(e *environment, c *command) (obj, error) {
		p := c.a.sub("payload")
		id, handle := p.str("model_id"), p.str("model_handle")
		for _, m := range modelEntries {
			mid, _ := m.get("id")
			mh, _ := m.get("handle")
			if (id != "" && id == mid) || (handle != "" && handle == mh) {
				e.state.modelID, e.state.modelHandle = mid.(string), mh.(string)
				return o("runtime", c.key.obj(), "applied_to", "conversation", "model_id", mid,
					"model_handle", mh, "model_settings", o("max_tokens", 4096)), nil
			}
		}
		return o("runtime", c.key.obj()), fmt.Errorf("unknown model (id %q, handle %q)", id, handle)
	},
	"list_connect_providers": func(e *environment, c *command) (obj, error) {
		return o("target", "local", "providers", e.providerList()), nil
	},
	"connect_provider": func(e *environment, c *command) (obj, error) {
		return e.setProvider(c, true)
	},
	"disconnect_provider": func(e *environment, c *command) (obj, error) {
		return e.setProvider(c, false)
	},
	"update_toolset": func(e *environment, c *command) (obj, error) {
		if t := c.a.str("toolset_preference"); t != "" && t != "auto" {
			e.state.toolset = t
		}
		return o("runtime", c.key.obj(), "current_toolset", e.state.toolset,
			"current_toolset_preference", c.a.str("toolset_preference")), nil
	},

	// Git, experiments, secrets, skills.
	"search_branches": func(e *environment, c *command) (obj, error) {
		q := strings.ToLower(c.a.str("query"))
		lim := c.a.integer("max_results", 20)
		var names []string
		for _, b := range e.state.branches {
			if strings.Contains(strings.ToLower(b), q) && len(names) < lim {
				names = append(names, b)
			}
		}
		if !e.srv.v2() {
			return o("branches", nonNil(names)), nil
		}
		list := []obj{}
		for _, n := range names {
			list = append(list, o("name", n, "is_current", n == e.state.branch, "is_remote", false))
		}
		return o("branches", list), nil
	},
	"checkout_branch": func(e *environment, c *command) (obj, error) {
		b := c.a.str("branch")
		err := e.checkout(b, c.a.boolean("create"))
		if err != nil {
			return o("branch", e.state.branch), err
		}
		return o("branch", b), nil
	},
	"get_experiments": func(e *environment, c *command) (obj, error) {
		return o("experiments", e.state.experimentList()), nil
	},
	"set_experiment": func(e *environment, c *command) (obj, error) {
		id := c.a.str("experiment_id")
		for i := range e.state.experiments {
			if e.state.experiments[i].id == id {
				e.state.experiments[i].enabled = c.a.boolean("enabled")
				e.state.experiments[i].override = c.a.boolean("enabled")
				return o("experiments", e.state.experimentList()), nil
			}
		}
		return o("experiments", e.state.experimentList()), fmt.Errorf("unknown experiment %q", id)
	},
	"secret_list": func(e *environment, c *command) (obj, error) {
		keys := make([]string, 0, len(e.state.secrets))
		for k := range e.state.secrets {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		list := []obj{}
		for _, k := range keys {
			list = append(list, o("key", k, "value", e.state.secrets[k]))
		}
		return o("secrets", list), nil
	},
	"secret_apply": func(e *environment, c *command) (obj, error) {
		for k, v := range c.a.sub("set") {
			if s, ok := v.(string); ok {
				e.state.secrets[strings.ToUpper(k)] = s
			}
		}
		for _, k := range c.a.strings("unset") {
			delete(e.state.secrets, strings.ToUpper(k))
		}
		names := []string{}
		for k := range e.state.secrets {
			names = append(names, k)
		}
		sort.Strings(names)
		return o("names", names), nil
	},
	"skill_enable": func(e *environment, c *command) (obj, error) {
		p := c.a.str("skill_path")
		if p == "" {
			return nil, errors.New("missing skill_path")
		}
		name := path.Base(p)
		e.state.skills[name] = p
		return o("skill_name", name), nil
	},
	"skill_disable": func(e *environment, c *command) (obj, error) {
		name := c.a.str("name")
		if _, ok := e.state.skills[name]; !ok {
			return o("skill_name", name), fmt.Errorf("skill %q is not enabled", name)
		}
		delete(e.state.skills, name)
		return o("skill_name", name), nil
	},

	// App server.
	"app_server_info": func(e *environment, c *command) (obj, error) {
		return o("backend", "local", "letta_code_version", "0.32.18-sim", "protocol_version", 1,
			"capabilities", o("agent_management", false, "conversation_management", false,
				"memory_management", true, "runtime_start", false, "split_channels", true)), nil
	},
}

func (e *environment) providerList() []obj {
	ids := []string{"anthropic", "openai"}
	list := []obj{}
	for _, id := range ids {
		on := e.state.providers[id]
		conn := o("is_connected", on)
		connected := []obj{}
		if on {
			conn = conn.with(o("provider_name", id, "provider_type", id, "auth_type", "api"))
			connected = append(connected, conn)
		}
		list = append(list, o("id", id, "display_name", strings.ToUpper(id[:1])+id[1:],
			"description", "Simulated "+id+" provider", "provider_type", id, "provider_name", id,
			"provider_names", []string{id}, "requires_api_key", true,
			"fields", []obj{o("key", "api_key", "label", "API key", "secret", true, "required", true)},
			"connected", conn, "connected_providers", connected))
	}
	return list
}

func (e *environment) setProvider(c *command, on bool) (obj, error) {
	id := c.a.str("provider_id")
	if _, ok := e.state.providers[id]; !ok {
		return o("target", "local", "providers", e.providerList(), "models_may_have_changed", false),
			fmt.Errorf("unknown provider %q", id)
	}
	e.state.providers[id] = on
	return o("target", "local", "providers", e.providerList(), "models_may_have_changed", true), nil
}
