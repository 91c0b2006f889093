// Package analysis is wsproxy's protocol invariant checker: it reads the
// records of a trace (or of a live proxy) and reports where the Letta Code
// Remote Client protocol's guarantees were broken.
//
// # Design
//
// The Engine is sans-IO and streaming. Records go in through Write (it is
// a trace.Sink); time is the records' T, moved on between records by
// Advance, so that a silent peer is reported without waiting for the next
// record; Finish ends a stream and reports what is still owed. Findings
// come out through Config.OnFinding as they are found and, with
// Config.Collect, from Findings. The engine never reads the wall clock:
// the same trace always gives the same findings.
//
// Rules are small pieces over shared state: per socket (transport seq and
// acks, requests and replies, heartbeats, the attach sequence) and per
// session, that is protocol.Session.Key (connection id, agent and
// conversation: every channel and every reconnect under the same
// connection id), for what the device numbers across sockets (event_seq,
// idempotency keys, approvals, device pings). A socket without session
// info (the app server's /ws) is its own session. Memory is bounded by
// outstanding state: pending requests, unacked seqs, events waiting in the
// reordering window, and recent idempotency keys and request ids in
// bounded windows. A closed socket's state is released at once; a
// session's Config.SessionLinger after its last socket closed.
//
// Because the two sockets of a session deliver independently, a missing
// event_seq becomes a gap only once Config.ReorderEvents events or
// Config.ReorderWindow of record time have passed since the first event
// beyond it arrived; a late arrival inside that window is neither a gap
// nor a regression.
//
// # Rules
//
// Rule ids are a stable interface (see Rules, "wsproxy check -rules", and
// package faults, whose ground truth names them). Timeouts are "at or
// after": a reply exactly ResponseTimeout after its command is late. A
// timeout is reported when the clock (the next record, or Advance) passes
// it; a late ack, reply, ping or sync that is itself that next record is
// reported with its line as the related line, one that comes later still
// is recognized and not reported again.
//
//	id                         severity       what, and an example finding
//	unacked-seq                error          a server frame's transport seq not acked on its socket
//	                                          within AckTimeout (10s), or still unacked at close/end;
//	                                          one finding per seq
//	    t.jsonl:12: error: unacked-seq: seq 7 (update_loop_status) was not acked within 10s
//	ack-unknown-seq            error          an ack for a seq the server never sent on that socket
//	    t.jsonl:40: error: ack-unknown-seq: ack for seq 99, which the server never sent on this socket (highest sent: 12)
//	seq-regression             error          a transport seq not greater than the previous one on its socket
//	    t.jsonl:41: error: seq-regression: seq 5 (stream_delta) after seq 12 on this socket
//	event-seq-gap              error          event_seq skips values (session-wide, after the reordering
//	                                          window); subject "A-B", the missing range
//	    t.jsonl:30: error: event-seq-gap: event_seq 12-13 missing: jumped from 11 to 14
//	event-seq-regression       error          event_seq goes back or repeats, not as a redelivery (a
//	                                          repeat with the same idempotency_key)
//	    t.jsonl:33: error: event-seq-regression: event_seq 9 (stream_delta) goes back: highest so far 14, expected 15
//	gap-without-sync           warning        no sync from the client within SyncTimeout (10s) of a gap
//	    t.jsonl:30: warning: gap-without-sync: no sync within 10s after event_seq gap 12-13
//	duplicate-idempotency-key  warning/error  a key delivered again: warning when identical apart from
//	                                          seq (a redelivery to dedupe), error when different
//	    t.jsonl:51: warning: duplicate-idempotency-key: stream_delta stream_delta:40:9f0c… delivered again (identical apart from seq: a redelivery the client must dedupe); first at line 49
//	unmatched-request          error          no accepted reply on the command's socket within
//	                                          ResponseTimeout (30s), or none by close/end; commands
//	                                          whose reply is optional (sync, input, change_cwd,
//	                                          terminal_kill) are not reported when none comes
//	    t.jsonl:8: error: unmatched-request: read_file rf-3 got no reply within 30s (accepted: read_file_response)
//	orphan-response            error          a reply whose request_id no command on its socket had
//	    t.jsonl:9: error: orphan-response: read_file_response orphan-1: no command on this socket had this request_id
//	response-type-mismatch     error          a reply type the command does not accept
//	    t.jsonl:9: error: response-type-mismatch: get_tree_response answers read_file rf-3 (accepted: read_file_response)
//	unanswered-approval        error          a control_request never answered by an approval_response
//	                                          input on any socket of the session
//	    t.jsonl:60: error: unanswered-approval: control_request perm-tc-1 was never answered by an input before the trace ended
//	duplicate-request-id       warning        a command reuses a request_id of an earlier command on
//	                                          its socket
//	    t.jsonl:70: warning: duplicate-request-id: get_tree reuses request_id rf-1 (first used by read_file at line 12)
//	missing-heartbeat          warning        no {"type":"ping"} from the client for Heartbeat+Slack
//	                                          (30s+5s) while the socket is open
//	    t.jsonl:3: warning: missing-heartbeat: no ping from the client for 35s after the socket opened
//	ping-without-pong          warning        a client ping without a server pong on its socket, a
//	                                          device ping without a client pong on any socket of the
//	                                          session, a WebSocket ping frame without a pong frame,
//	                                          within PongTimeout (10s)
//	    t.jsonl:80: warning: ping-without-pong: client ping got no pong from the server within 10s
//	no-sync-on-attach          warning        the client's first 3 commands on a socket include no
//	                                          sync with recover_approvals: true
//	    t.jsonl:5: warning: no-sync-on-attach: the client's first 3 commands on this socket (read_file, input, list_models) include no sync with recover_approvals:true
//	invalid-json               warning        a text frame that is not a JSON object
//	    t.jsonl:7: warning: invalid-json: text frame from client is not a JSON object ("hello")
//	unknown-type               warning        a type not in the protocol model
//	    t.jsonl:7: warning: unknown-type: type "totally_unknown_command" from client is not in the protocol model
//	missing-field              warning        a command without a required runtime or request_id, an
//	                                          event without event_seq, an ack without seq, no type
//	    t.jsonl:7: warning: missing-field: read_file from client has no request_id (the device ignores it)
//	binary-frame               warning        a binary frame
//	    t.jsonl:7: warning: binary-frame: binary frame from server (12 bytes)
//	frame-error                warning        an error record (a frame the proxy could not decode)
//	    t.jsonl:7: warning: frame-error: invalid UTF-8 in text frame
//	undetermined               note           what the trace cannot show, not judged (one note per
//	                                          connection): pending at a cut or a close by the proxy,
//	                                          acks and replies from before the trace, records lost
//	    t.jsonl:90: note: undetermined: the trace ends with the connection open (file cut at byte 5120): not judged: 2 unacked seq(s), 1 request(s) awaiting a reply
//
// # What a trace cannot show
//
// A trace cut by a crash or head -c, a rotated part read alone, a
// connection the proxy closed itself (shutdown, a frame too big, a lost
// peer), a connection whose open record is not in the trace, and a
// connection whose records were dropped in -lossy mode (a loss record) all
// leave things that cannot be judged. They are never errors: what was
// still pending (unacked seqs, requests awaiting replies, gaps awaiting a
// sync or still in the reordering window, approvals, pings, an attach
// sequence not finished) and acks or replies for frames from before the
// trace are counted into one undetermined note per connection, at Finish.
// From a loss record on, findings that depend on the missing records
// (seq/ack, request/reply, the session's event_seq gaps, heartbeats,
// pongs, approvals, the attach sequence) are not reported for that
// connection and its session (Stats.Suppressed counts them), and a note
// says so at once. Error records of a proxy whose recording fell behind
// are ignored. A payload nested deeper than jsonscan.MaxDepth has its
// envelope checked and gets a note that its content was not.
//
// # Feeding it
//
// Offline, CheckFiles reads trace files (rotated parts of one run as one
// stream) on a second goroutine and checks them; WriteText, WriteJSON and
// WriteJUnit print the Report. Live, a proxy writes every record to the
// engine from one goroutine in arrival order and calls Advance on a ticker
// from the same goroutine (proxy.Options.Sink and Tick do exactly that),
// then Finish at shutdown. From several goroutines, wrap it in Locked.
package analysis
