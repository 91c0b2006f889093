package client

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/faults"
)

// Fault is one fault the client injected on purpose, reported as ground
// truth in Report.Faults. It is the shared type of package faults.
type Fault = faults.Fault

// Knob names used in Fault.Knob by the client.
const (
	KnobSkipAck        = "skip-ack"
	KnobNeverPing      = "never-ping"
	KnobNoSync         = "no-sync"
	KnobReuseRequestID = "reuse-request-id"
)

// Faults are the client's fault knobs; every knob is off at its zero
// value. Report.Faults lists what they caused, as ground truth:
//
//   - skip-ack: Rule unacked-seq, Subject the seq (decimal), the socket
//     that delivered the frame.
//   - never-ping: Rule missing-heartbeat, one per socket (Subject empty).
//   - no-sync: Rule no-sync-on-attach, one per attach, on the control (or
//     single) socket; Rule gap-without-sync, Subject "A-B", per gap seen.
//   - reuse-request-id: Rule duplicate-request-id, Subject the reused id,
//     the socket the second use went on.
//
// A frame that arrives after the client sent its close frame cannot be
// acked; it is reported as unacked-seq too (Knob never-ping when pings
// are off, which leaves the close unfenced, else late-frame).
type Faults struct {
	// SkipAckEvery leaves unacked every frame whose seq is a multiple of
	// SkipAckEvery (on every socket, or only on SkipAckChannel).
	SkipAckEvery int
	// SkipAckSeqs leaves these seqs unacked.
	SkipAckSeqs []int64
	// SkipAckChannel restricts ack skipping to one channel ("control",
	// "stream" or "single"; "" = every socket).
	SkipAckChannel string
	// NeverPing sends no ping at all, not even the heartbeat at attach or
	// the ping barriers before closing (the client then waits for
	// silence instead).
	NeverPing bool
	// NoSync sends no sync: not on attach, not after an event_seq gap.
	NoSync bool
	// ReuseRequestIDEvery makes every N-th scripted request reuse the
	// request_id of the scripted request before it.
	ReuseRequestIDEvery int
}

// Entry is one message in Report.Log.
type Entry struct {
	// Dir is "send" or "recv".
	Dir string `json:"dir"`
	// Channel and Socket name the socket (ordinal per connection and
	// channel, in dial order).
	Channel string `json:"channel"`
	Socket  int    `json:"socket"`
	// Type is the message's type.
	Type string `json:"type"`
	// EventSeq is the event_seq of a received event.
	EventSeq int64 `json:"event_seq,omitempty"`
	// Dropped marks a received duplicate that was not delivered.
	Dropped bool `json:"dropped,omitempty"`
}

// Report is what a run did and found.
type Report struct {
	Script       string `json:"script"`
	ConnectionID string `json:"connection_id"`
	// RequestsSent counts commands sent (scripted ones, syncs, approval
	// answers); RepliesMatched those answered by an accepted reply.
	RequestsSent   int `json:"requests_sent"`
	RepliesMatched int `json:"replies_matched"`
	// Unanswered lists "type request_id" of requests that timed out;
	// Abandoned those still waiting when their socket was lost (the step
	// is retried with a new request_id after reconnecting).
	Unanswered []string `json:"unanswered,omitempty"`
	Abandoned  []string `json:"abandoned,omitempty"`
	// The rest of RequestsSent: NoReplyExpected commands the protocol
	// answers with no reply (an input, an ack of an approval); DeviceErrors
	// those answered by an error event; WrongReplies those answered by a
	// reply of a type they do not accept; PendingAtEnd those still waiting
	// when the run ended (OptionalPending of them had an optional reply).
	NoReplyExpected int `json:"no_reply_expected"`
	DeviceErrors    int `json:"device_errors"`
	WrongReplies    int `json:"wrong_replies"`
	PendingAtEnd    int `json:"pending_at_end"`
	OptionalPending int `json:"optional_pending"`
	// Events counts device events delivered to the application.
	Events int `json:"events"`
	// DuplicatesDropped counts events dropped by idempotency_key;
	// ConflictingDuplicates those whose payload differed from the first.
	DuplicatesDropped     int `json:"duplicates_dropped"`
	ConflictingDuplicates int `json:"conflicting_duplicates"`
	// Gaps lists the event_seq ranges never received ("A-B").
	Gaps []string `json:"gaps,omitempty"`
	// SyncsSent counts sync commands; Reconnects re-attachments.
	SyncsSent  int `json:"syncs_sent"`
	Reconnects int `json:"reconnects"`
	AcksSent   int `json:"acks_sent"`
	PingsSent  int `json:"pings_sent"`
	PongsSeen  int `json:"pongs_seen"`
	// Orphans lists request_ids of replies no request of this run used;
	// LateReplies those of replies that came after their request timed
	// out.
	Orphans     []string `json:"orphans,omitempty"`
	LateReplies []string `json:"late_replies,omitempty"`
	// Approvals counts control_requests answered; Turns turns run.
	Approvals int `json:"approvals"`
	Turns     int `json:"turns"`
	// Commands lists the command types sent, once each, sorted.
	Commands []string `json:"commands"`
	// Failures are the client's assertion failures.
	Failures []string `json:"failures,omitempty"`
	// Faults is the client's ground truth.
	Faults []Fault `json:"faults,omitempty"`
	// Log lists messages in the order the client handled them (acks
	// excluded).
	Log      []Entry       `json:"log,omitempty"`
	Duration time.Duration `json:"duration"`
}

// OK reports whether every assertion passed.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

func (r *Report) failf(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// String summarises the report on a few lines.
func (r *Report) String() string {
	var b strings.Builder
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "%s script %q on %s in %v\n", verdict, r.Script, r.ConnectionID, r.Duration.Round(time.Millisecond))
	// Every request is in exactly one of these, so the counts add up.
	fmt.Fprintf(&b, "  requests %d: %d answered", r.RequestsSent, r.RepliesMatched)
	for _, part := range []struct {
		n    int
		what string
	}{
		{r.NoReplyExpected, "need no reply"}, {r.OptionalPending, "with an optional reply that did not come"},
		{r.DeviceErrors, "answered by a device error"}, {r.WrongReplies, "answered by a wrong reply"},
		{len(r.Unanswered), "unanswered"}, {len(r.Abandoned), "abandoned at a reconnect"},
		{r.PendingAtEnd - r.OptionalPending, "still pending at the end"},
	} {
		if part.n > 0 {
			fmt.Fprintf(&b, ", %d %s", part.n, part.what)
		}
	}
	fmt.Fprintf(&b, "; command types %d\n", len(r.Commands))
	fmt.Fprintf(&b, "  events %d, duplicates dropped %d (%d conflicting), gaps %d, syncs %d\n",
		r.Events, r.DuplicatesDropped, r.ConflictingDuplicates, len(r.Gaps), r.SyncsSent)
	fmt.Fprintf(&b, "  turns %d, approvals %d, reconnects %d, acks %d, pings %d, pongs %d\n",
		r.Turns, r.Approvals, r.Reconnects, r.AcksSent, r.PingsSent, r.PongsSeen)
	if len(r.Gaps) > 0 {
		fmt.Fprintf(&b, "  gaps: %s\n", strings.Join(r.Gaps, ", "))
	}
	if len(r.Orphans) > 0 {
		fmt.Fprintf(&b, "  orphan replies: %s\n", strings.Join(r.Orphans, ", "))
	}
	if len(r.LateReplies) > 0 {
		fmt.Fprintf(&b, "  late replies: %s\n", strings.Join(r.LateReplies, ", "))
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "  failure: %s\n", f)
	}
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  injected: %s\n", f)
	}
	return b.String()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
