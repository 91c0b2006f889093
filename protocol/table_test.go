package protocol

import "testing"

func TestTableShape(t *testing.T) {
	m := DefaultModel
	for _, c := range []struct {
		cmd     string
		replies []string
	}{
		{"list_models", []string{"list_models_response"}},
		{"ping", []string{"pong"}},
		{"abort_message", []string{"abort_message_response", "cancel_ack"}},
		{"sync", []string{"sync_response"}},
		{"input", []string{"input_accepted"}},
		{"change_cwd", []string{"cwd_changed"}},
		{"recover_pending_approvals", []string{"recover_pending_approvals_ack"}},
		{"terminal_spawn", []string{"terminal_spawned"}},
		{"channel_route_remove", []string{"channel_route_remove_response"}},
		{"cron_delete_all", []string{"cron_delete_all_response"}},
	} {
		ti := m.Lookup(c.cmd)
		if ti == nil || ti.Role != RoleCommand && ti.Role != RoleTransport {
			t.Fatalf("%s: %+v", c.cmd, ti)
		}
		for _, r := range c.replies {
			if !m.ExpectedReply(c.cmd, r) {
				t.Errorf("%s does not accept %s", c.cmd, r)
			}
		}
	}
	if m.ExpectedReply("read_file", "write_file_response") {
		t.Error("read_file accepts write_file_response")
	}
	// Every *_response row answers the command of its name, and every
	// command that is answered by request_id needs a reply row.
	for _, ti := range m.Types() {
		if ti.Role == RoleReply && len(ti.ReplyTo) == 0 {
			t.Errorf("reply %s answers nothing", ti.Name)
		}
		if ti.Role == RoleCommand && ti.Correlate != Uncorrelated && len(ti.Replies) == 0 {
			t.Errorf("command %s is correlated but has no replies", ti.Name)
		}
	}
	if !m.Lookup("input").StartsStream() || !m.Lookup("sync").StartsStream() || m.Lookup("read_file").StartsStream() {
		t.Error("stream starters wrong")
	}
	if m.Lookup("stream_delta").Channel != ChannelStream || m.Lookup("control_request").Channel != ChannelControl {
		t.Error("channels wrong")
	}
	if m.Lookup("list_in_directory").NeedsRequestID || !m.Lookup("read_file").NeedsRequestID || m.Lookup("sync").NeedsRequestID {
		t.Error("NeedsRequestID wrong")
	}
	if m.Lookup("no_such_type") != nil {
		t.Error("unknown type found")
	}
	// Every reference command is in the table.
	for _, n := range []string{"list_in_directory", "get_tree", "read_file", "write_file", "edit_file", "search_files",
		"grep_in_files", "list_memory", "memory_history", "memory_file_at_ref", "memory_commit_diff", "read_memory_file",
		"write_memory_file", "delete_memory_file", "enable_memfs", "list_models", "update_model", "list_connect_providers",
		"connect_provider", "disconnect_provider", "search_branches", "checkout_branch", "get_experiments", "set_experiment",
		"secret_list", "secret_apply", "skill_enable", "skill_disable", "channels_list", "ping", "abort_message",
		"change_cwd", "recover_pending_approvals", "sync", "input", "change_device_state", "terminal_spawn",
		"terminal_input", "terminal_resize", "terminal_kill", "ack"} {
		if m.Lookup(n) == nil {
			t.Errorf("reference command %s missing", n)
		}
	}
}

func TestNewModelRejectsBadTables(t *testing.T) {
	if _, err := NewModel([]TypeInfo{{Name: "a"}, {Name: "a"}}); err == nil {
		t.Error("duplicate accepted")
	}
	if _, err := NewModel([]TypeInfo{{Name: "a", Role: RoleCommand, Replies: []string{"b"}}}); err == nil {
		t.Error("dangling reply accepted")
	}
}
