package analysis

import (
	"fmt"
	"io"
	"strings"
)

// Severity is how bad a finding is.
type Severity uint8

// Severities.
const (
	// Warning: a deviation from good practice or the documented protocol
	// that loses nothing by itself.
	Warning Severity = iota + 1
	// Error: a broken guarantee (a lost, unacknowledged or unmatched
	// message, a device bug).
	Error
	// Note: something the trace cannot show and the checker did not
	// judge (a cut, records lost in -lossy mode, a payload nested too
	// deep). Notes never fail a check.
	Note
)

// String returns "warning" or "error".
func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	case Note:
		return "note"
	case Expected:
		return "expected"
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes "warning" or "error".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "warning":
		*s = Warning
	case "error":
		*s = Error
	case "note":
		*s = Note
	case "expected":
		*s = Expected
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Rule ids. They are a stable interface: tests, CI configurations and the
// simulator's ground truth (package faults) name them.
const (
	RuleUnackedSeq         = "unacked-seq"
	RuleAckUnknownSeq      = "ack-unknown-seq"
	RuleSeqRegression      = "seq-regression"
	RuleEventSeqGap        = "event-seq-gap"
	RuleEventSeqRegression = "event-seq-regression"
	RuleGapWithoutSync     = "gap-without-sync"
	RuleDuplicateKey       = "duplicate-idempotency-key"
	RuleUnmatchedRequest   = "unmatched-request"
	RuleOrphanResponse     = "orphan-response"
	RuleResponseMismatch   = "response-type-mismatch"
	RuleUnansweredApproval = "unanswered-approval"
	RuleDuplicateRequestID = "duplicate-request-id"
	RuleMissingHeartbeat   = "missing-heartbeat"
	RulePingWithoutPong    = "ping-without-pong"
	RuleNoSyncOnAttach     = "no-sync-on-attach"
	RuleInvalidJSON        = "invalid-json"
	RuleUnknownType        = "unknown-type"
	RuleMissingField       = "missing-field"
	RuleBinaryFrame        = "binary-frame"
	RuleFrameError         = "frame-error"
	RuleUndetermined       = "undetermined"
)

// Rule describes one check.
type Rule struct {
	// ID is the rule's stable id.
	ID string
	// Severity is the severity of its findings. A rule whose findings can
	// have either (duplicate-idempotency-key) has Mixed set and Severity
	// Error, the worse of the two.
	Severity Severity
	Mixed    bool
	// Scope is "socket", "session" or "frame": the state the rule keeps.
	Scope string
	// Summary says what the rule reports, in one line.
	Summary string
	// Example is a finding of the rule as the text output prints it.
	Example string
}

// SeverityName returns "error", "warning" or "warning/error".
func (r Rule) SeverityName() string {
	if r.Mixed {
		return "warning/error"
	}
	return r.Severity.String()
}

var rules = []Rule{
	{RuleUnackedSeq, Error, false, "socket",
		"a server frame's transport seq is not acked on its socket within the ack timeout (or by close/end)",
		"t.jsonl:12: error: unacked-seq: seq 7 (update_loop_status) was not acked within 10s"},
	{RuleAckUnknownSeq, Error, false, "socket",
		"the client acks a seq the server never sent on that socket",
		"t.jsonl:40: error: ack-unknown-seq: ack for seq 99, which the server never sent on this socket (highest sent: 12)"},
	{RuleSeqRegression, Error, false, "socket",
		"a server frame's transport seq is not greater than the previous one on its socket",
		"t.jsonl:41: error: seq-regression: seq 5 (stream_delta) after seq 12 on this socket"},
	{RuleEventSeqGap, Error, false, "session",
		"event_seq skips values, across all sockets of the session, beyond the reordering window",
		"t.jsonl:30: error: event-seq-gap: event_seq 12-13 missing: jumped from 11 to 14"},
	{RuleEventSeqRegression, Error, false, "session",
		"event_seq goes backwards or repeats without being a redelivery of the same idempotency_key",
		"t.jsonl:33: error: event-seq-regression: event_seq 9 (stream_delta) goes back: highest so far 14, expected 15"},
	{RuleGapWithoutSync, Warning, false, "session",
		"the client sends no sync within the sync timeout after an event_seq gap",
		"t.jsonl:30: warning: gap-without-sync: no sync within 10s after event_seq gap 12-13"},
	{RuleDuplicateKey, Error, true, "session",
		"an idempotency_key is delivered again: warning for a redelivery identical apart from seq, error for a different payload",
		"t.jsonl:51: warning: duplicate-idempotency-key: stream_delta stream_delta:40:9f0c… delivered again (identical apart from seq: a redelivery the client must dedupe); first at line 49"},
	{RuleUnmatchedRequest, Error, false, "socket",
		"a command's reply never comes on its socket, or comes after the response timeout",
		"t.jsonl:8: error: unmatched-request: read_file rf-3 got no reply within 30s (accepted: read_file_response)"},
	{RuleOrphanResponse, Error, false, "socket",
		"a reply whose request_id no command on its socket had",
		"t.jsonl:9: error: orphan-response: read_file_response orphan-1: no command on this socket had this request_id"},
	{RuleResponseMismatch, Error, false, "socket",
		"the reply to a request_id has a type the command does not accept",
		"t.jsonl:9: error: response-type-mismatch: get_tree_response answers read_file rf-3 (accepted: read_file_response)"},
	{RuleUnansweredApproval, Error, false, "session",
		"a control_request is never answered by an approval_response input",
		"t.jsonl:60: error: unanswered-approval: control_request perm-tc-1 was never answered by an input before the trace ended"},
	{RuleDuplicateRequestID, Warning, false, "socket",
		"a command reuses a request_id an earlier command on the same socket used",
		"t.jsonl:70: warning: duplicate-request-id: get_tree reuses request_id rf-1 (first used by read_file at line 12)"},
	{RuleMissingHeartbeat, Warning, false, "socket",
		"no {\"type\":\"ping\"} from the client for longer than the heartbeat interval plus slack",
		"t.jsonl:3: warning: missing-heartbeat: no ping from the client for 35s after the socket opened"},
	{RulePingWithoutPong, Warning, false, "socket",
		"a ping (client, device or WebSocket control frame) gets no pong within the pong timeout",
		"t.jsonl:80: warning: ping-without-pong: client ping got no pong from the server within 10s"},
	{RuleNoSyncOnAttach, Warning, false, "socket",
		"the client's first commands on a socket include no sync with recover_approvals: true",
		"t.jsonl:5: warning: no-sync-on-attach: the client's first 3 commands on this socket (read_file, input, list_models) include no sync with recover_approvals:true"},
	{RuleInvalidJSON, Warning, false, "frame",
		"a text frame is not a JSON object",
		"t.jsonl:7: warning: invalid-json: text frame from client is not a JSON object (\"hello\")"},
	{RuleUnknownType, Warning, false, "frame",
		"a message type the protocol model does not know",
		"t.jsonl:7: warning: unknown-type: type \"totally_unknown_command\" from client is not in the protocol model"},
	{RuleMissingField, Warning, false, "frame",
		"a command without a required runtime or request_id, an event without its event_seq envelope, an ack without seq, a message without type",
		"t.jsonl:7: warning: missing-field: read_file from client has no request_id (the device ignores it)"},
	{RuleBinaryFrame, Warning, false, "frame",
		"a binary frame (the protocol is JSON text)",
		"t.jsonl:7: warning: binary-frame: binary frame from server (12 bytes)"},
	{RuleFrameError, Warning, false, "frame",
		"an error record: a frame the proxy could not decode",
		"t.jsonl:7: warning: frame-error: invalid UTF-8 in text frame"},
	{RuleUndetermined, Note, false, "socket",
		"what the trace cannot show, not judged: what was pending at a cut or a close by the proxy, acks and replies for frames from before the trace began, a connection after records were lost (-lossy), a payload nested too deep",
		"t.jsonl:90: note: undetermined: the trace ends with the connection open (file cut at byte 5120): not judged: 2 unacked seq(s), 1 request(s) awaiting a reply"},
}

var ruleByID = func() map[string]*Rule {
	m := make(map[string]*Rule, len(rules))
	for i := range rules {
		m[rules[i].ID] = &rules[i]
	}
	return m
}()

// Rules returns every rule, in a fixed order (transport, events, requests,
// liveness, format).
func Rules() []Rule { return append([]Rule(nil), rules...) }

// LookupRule returns the rule with the given id.
func LookupRule(id string) (Rule, bool) {
	r, ok := ruleByID[id]
	if !ok {
		return Rule{}, false
	}
	return *r, true
}

// WriteRules prints the rule table (id, severity, summary), one rule a
// line, as "wsproxy check -rules" shows it.
func WriteRules(w io.Writer) error {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "%-26s %-14s %s\n", r.ID, r.SeverityName(), r.Summary)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
