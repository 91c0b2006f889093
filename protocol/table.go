package protocol

// This file is the protocol model's single table. Sources: the published
// Remote Client API reference (remote-client-api.txt), the real device's v2
// protocol (the WsProtocolCommand and WsProtocolMessage unions of Letta
// Code 0.32.18, protocol_v2.d.ts) and what the device was seen to do
// (NOTES.md). A new protocol version is an edit of Table.

// LoopStatuses lists the documented update_loop_status statuses; the turn
// is idle at LoopIdle.
var LoopStatuses = []string{
	"SENDING_API_REQUEST",
	"WAITING_FOR_API_RESPONSE",
	"RETRYING_API_REQUEST",
	"PROCESSING_API_RESPONSE",
	"EXECUTING_CLIENT_SIDE_TOOL",
	"EXECUTING_COMMAND",
	"WAITING_ON_APPROVAL",
	"WAITING_ON_INPUT",
}

// LoopIdle is the loop status of an idle runtime.
const LoopIdle = "WAITING_ON_INPUT"

const (
	ref    = SrcReference
	v2     = SrcV2
	both   = SrcReference | SrcV2
	legacy = SrcLegacy
	relay  = SrcRelay
)

// command is a one-shot command answered by <name>_response, by request_id,
// which it must carry.
func command(name string, src Source) TypeInfo {
	return TypeInfo{Name: name, Role: RoleCommand, Channel: ChannelControl, Source: src,
		Replies: []string{name + "_response"}, NeedsRequestID: true}
}

// runtimeCommand is a command that must carry a runtime object.
func runtimeCommand(name string, src Source) TypeInfo {
	t := command(name, src)
	t.NeedsRuntime = true
	return t
}

// reply is the direct answer to a command, on the control channel.
func reply(name string, src Source) TypeInfo {
	return TypeInfo{Name: name, Role: RoleReply, Channel: ChannelControl, Source: src}
}

// event is a device event on the given channel; envelope says whether it
// carries runtime/event_seq/idempotency_key.
func event(name string, ch Channel, src Source, envelope bool) TypeInfo {
	return TypeInfo{Name: name, Role: RoleEvent, Channel: ch, Source: src, Envelope: envelope}
}

func legacyEvent(name string) TypeInfo {
	t := event(name, ChannelControl, ref|legacy, false)
	t.Legacy = true
	return t
}

// responses builds command rows (and their reply rows) for names answered
// by <name>_response.
func responses(src Source, names ...string) []TypeInfo {
	var out []TypeInfo
	for _, n := range names {
		out = append(out, command(n, src), reply(n+"_response", src))
	}
	return out
}

// Table is the protocol model's data: one row per message type.
var Table = buildTable()

// DefaultModel is the model built from Table.
var DefaultModel = MustModel(Table)

func buildTable() []TypeInfo {
	var t []TypeInfo
	add := func(rows ...TypeInfo) { t = append(t, rows...) }

	// Transport (relay) and heartbeats. The relay answers client pings;
	// the device pings every 30 s on each socket and expects a pong.
	add(
		TypeInfo{Name: "ping", Role: RoleTransport, Source: ref | v2 | relay, Replies: []string{"pong"}, Correlate: Uncorrelated},
		TypeInfo{Name: "pong", Role: RoleTransport, Source: ref | v2 | relay},
		TypeInfo{Name: "ack", Role: RoleTransport, Source: ref | relay},
		TypeInfo{Name: "listener_ready", Role: RoleTransport, Source: relay},
	)

	// Turns, state and sync.
	add(
		TypeInfo{Name: "input", Role: RoleCommand, Channel: ChannelControl, Source: both, NeedsRuntime: true,
			Replies: []string{"input_accepted"}, ReplyOptional: true,
			Starts: []string{"update_loop_status", "stream_delta", "control_request", "update_queue", "turn_finished", "error", "run_request_error"}},
		TypeInfo{Name: "input_accepted", Role: RoleReply, Channel: ChannelControl, Source: v2},
		TypeInfo{Name: "sync", Role: RoleCommand, Channel: ChannelControl, Source: both, NeedsRuntime: true,
			Replies: []string{"sync_response"}, ReplyOptional: true,
			Starts: []string{"update_device_status", "update_loop_status", "update_queue", "update_subagent_state", "control_request"}},
		reply("sync_response", v2),
		TypeInfo{Name: "change_device_state", Role: RoleCommand, Channel: ChannelControl, Source: both, NeedsRuntime: true,
			Correlate: Uncorrelated, Starts: []string{"update_device_status", "cwd_changed"}},
		TypeInfo{Name: "abort_message", Role: RoleCommand, Channel: ChannelControl, Source: both, NeedsRuntime: true,
			Replies: []string{"abort_message_response", "cancel_ack"}},
		reply("abort_message_response", v2),
		TypeInfo{Name: "cancel_ack", Role: RoleReply, Channel: ChannelControl, Source: ref | legacy, Legacy: true},
		TypeInfo{Name: "resume_queue", Role: RoleCommand, Channel: ChannelControl, Source: v2, NeedsRuntime: true,
			Replies: []string{"resume_queue_response"}},
		reply("resume_queue_response", v2),
		TypeInfo{Name: "change_cwd", Role: RoleCommand, Channel: ChannelControl, Source: ref | legacy, Legacy: true,
			Replies: []string{"cwd_changed"}, ReplyOptional: true},
		TypeInfo{Name: "cwd_changed", Role: RoleReply, Channel: ChannelControl, Source: ref | legacy, Legacy: true},
		TypeInfo{Name: "recover_pending_approvals", Role: RoleCommand, Channel: ChannelControl, Source: ref | legacy, Legacy: true,
			Replies: []string{"recover_pending_approvals_ack"}, NeedsRequestID: true},
		TypeInfo{Name: "recover_pending_approvals_ack", Role: RoleReply, Channel: ChannelControl, Source: ref | legacy, Legacy: true},
		// runtime_start creates the runtime: it carries no runtime object.
		command("runtime_start", v2), reply("runtime_start_response", v2),
	)

	// Device events (v2). Stream-channel state and content, control-channel
	// turn and file events.
	add(
		event("update_device_status", ChannelStream, both, true),
		event("update_loop_status", ChannelStream, both, true),
		event("update_queue", ChannelStream, both, true),
		event("stream_delta", ChannelStream, both, true),
		event("update_subagent_state", ChannelStream, v2, true),
		event("turn_finished", ChannelControl, v2, true),
		// The device sends control_request with the envelope; the reference
		// shows it with seq and request_id only.
		TypeInfo{Name: "control_request", Role: RoleDeviceRequest, Channel: ChannelControl, Source: both,
			Envelope: true, EnvelopeOptional: true, AnsweredBy: "input"},
		TypeInfo{Name: "external_tool_call_request", Role: RoleDeviceRequest, Channel: ChannelControl, Source: v2,
			AnsweredBy: "external_tool_call_response"},
		TypeInfo{Name: "external_tool_call_response", Role: RoleCommand, Channel: ChannelControl, Source: v2, Correlate: Uncorrelated,
			NeedsRequestID: true},
		event("error", ChannelControl, ref, false),
		event("run_request_error", ChannelControl, ref, false),
		event("file_ops", ChannelControl, both, false),
		event("file_changed", ChannelControl, both, false),
		event("memory_updated", ChannelControl, both, false),
		event("skills_updated", ChannelControl, v2, false),
		event("crons_updated", ChannelControl, v2, false),
		event("channels_updated", ChannelControl, both, false),
		event("channel_accounts_updated", ChannelControl, both, false),
		event("channel_pairings_updated", ChannelControl, both, false),
		event("channel_routes_updated", ChannelControl, both, false),
		event("channel_targets_updated", ChannelControl, both, false),
		event("teleport_ready", ChannelControl, v2, false),
	)
	// file_ops is also a command (the client pushes patches); the event
	// row above covers both directions, with no reply.

	// Terminals: correlated by terminal_id, not request_id.
	add(
		TypeInfo{Name: "terminal_spawn", Role: RoleCommand, Channel: ChannelControl, Source: both,
			Replies: []string{"terminal_spawned"}, Correlate: ByTerminalID, Starts: []string{"terminal_output", "terminal_exited"}},
		TypeInfo{Name: "terminal_input", Role: RoleCommand, Channel: ChannelControl, Source: both, Correlate: Uncorrelated,
			Starts: []string{"terminal_output"}},
		TypeInfo{Name: "terminal_resize", Role: RoleCommand, Channel: ChannelControl, Source: both, Correlate: Uncorrelated},
		TypeInfo{Name: "terminal_kill", Role: RoleCommand, Channel: ChannelControl, Source: both,
			Replies: []string{"terminal_exited"}, Correlate: ByTerminalID, ReplyOptional: true},
		reply("terminal_spawned", both),
		event("terminal_output", ChannelControl, both, false),
		reply("terminal_exited", both),
	)

	// Filesystem.
	add(responses(both, "list_in_directory", "get_tree", "read_file", "write_file", "edit_file",
		"search_files", "grep_in_files")...)
	add(
		TypeInfo{Name: "watch_file", Role: RoleCommand, Channel: ChannelControl, Source: v2, Correlate: Uncorrelated,
			NeedsRequestID: true, Starts: []string{"file_changed"}},
		TypeInfo{Name: "unwatch_file", Role: RoleCommand, Channel: ChannelControl, Source: v2, Correlate: Uncorrelated,
			NeedsRequestID: true},
	)

	// Memory and MemFS.
	add(responses(both, "list_memory", "memory_history", "memory_file_at_ref", "memory_commit_diff",
		"read_memory_file", "write_memory_file", "delete_memory_file", "enable_memfs")...)

	// Models, providers and toolsets.
	add(responses(both, "list_models", "list_connect_providers", "connect_provider", "disconnect_provider")...)
	add(runtimeCommand("update_model", both), reply("update_model_response", both))
	add(runtimeCommand("update_toolset", v2), reply("update_toolset_response", v2))
	add(responses(v2, "chatgpt_usage_read")...)

	// Git, experiments, secrets, skills.
	add(responses(both, "search_branches", "checkout_branch", "get_experiments", "set_experiment",
		"secret_list", "secret_apply", "skill_enable", "skill_disable")...)

	// Channels.
	add(responses(both, "channels_list", "channel_accounts_list", "channel_account_create",
		"channel_account_update", "channel_account_bind", "channel_account_unbind", "channel_account_delete",
		"channel_account_start", "channel_account_stop", "channel_get_config", "channel_set_config",
		"channel_start", "channel_stop", "channel_pairings_list", "channel_pairing_bind",
		"channel_routes_list", "channel_targets_list", "channel_target_bind", "channel_route_remove")...)
	add(responses(v2, "channel_route_update")...)

	// App server, agents and conversations (v2).
	add(responses(v2, "app_server_info", "create_agent", "agent_list", "agent_retrieve", "agent_create",
		"agent_update", "agent_delete", "conversation_list", "conversation_retrieve", "conversation_create",
		"conversation_update", "conversation_recompile", "conversation_fork", "conversation_messages_list",
		"conversation_compact", "set_boot_working_directory", "get_cwd_map")...)
	add(runtimeCommand("get_reflection_settings", v2), reply("get_reflection_settings_response", v2))
	add(runtimeCommand("set_reflection_settings", v2), reply("set_reflection_settings_response", v2))
	add(runtimeCommand("runtime_external_tools_update", v2), reply("runtime_external_tools_update_response", v2))

	// Tasks, queue, subagents, schedules, teleport.
	add(runtimeCommand("execute_command", v2), reply("execute_command_response", v2))
	add(runtimeCommand("remove_queue_item", v2), reply("remove_queue_item_response", v2))
	add(runtimeCommand("monitor_stop", v2), reply("monitor_stop_response", v2))
	add(runtimeCommand("launch_subagent", v2), reply("launch_subagent_response", v2))
	add(responses(v2, "cron_list", "cron_add", "cron_get", "cron_runs", "cron_trigger", "cron_pause",
		"cron_resume", "cron_update", "cron_delete", "cron_delete_all")...)
	add(runtimeCommand("teleport_probe", v2), reply("teleport_probe_response", v2))
	add(
		TypeInfo{Name: "teleport_request", Role: RoleCommand, Channel: ChannelControl, Source: v2, NeedsRuntime: true,
			NeedsRequestID: true, Correlate: Uncorrelated, Starts: []string{"teleport_ready"}},
		TypeInfo{Name: "teleport_failed", Role: RoleCommand, Channel: ChannelControl, Source: v2, NeedsRuntime: true,
			Correlate: Uncorrelated},
	)

	// Legacy events the reference still lists.
	for _, n := range []string{"status", "state_response", "run_started", "run_completed", "mode_changed",
		"message", "queue_item_enqueued", "queue_batch_dequeued", "queue_blocked", "queue_cleared",
		"queue_item_dropped"} {
		add(legacyEvent(n))
	}
	// request_id is optional for these one-shot commands in v2.
	for i := range t {
		switch t[i].Name {
		case "list_in_directory":
			t[i].NeedsRequestID = false
		}
	}
	return t
}
