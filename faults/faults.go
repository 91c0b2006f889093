// Package faults defines the ground-truth record shared by the simulator
// (package sim) and the reference client (package client): every fault
// either of them injects on purpose is reported as a Fault, naming the
// checker rule it must trigger, so that a checker can be tested against an
// exact list.
package faults

import (
	"fmt"
	"sort"

	"github.com/lettadev/wsproxy/analysis"
)

// Checker rule ids a Fault can name. They are the checker's own (package
// analysis is their one home); the comments say what Subject holds.
const (
	// RuleEventSeqGap: event_seq values of a connection were never sent.
	// Subject is the inclusive missing range "A-B".
	RuleEventSeqGap = analysis.RuleEventSeqGap
	// RuleDuplicateIdempotencyKey: an event was delivered again with the
	// same idempotency_key. Subject is the key.
	RuleDuplicateIdempotencyKey = analysis.RuleDuplicateKey
	// RuleUnmatchedRequest: a command never got an accepted reply.
	// Subject is its request_id.
	RuleUnmatchedRequest = analysis.RuleUnmatchedRequest
	// RuleOrphanResponse: a reply carries a request_id nobody sent.
	// Subject is that request_id.
	RuleOrphanResponse = analysis.RuleOrphanResponse
	// RuleUnackedSeq: a frame with a transport seq was never acked on the
	// socket that delivered it. Subject is the seq in decimal.
	RuleUnackedSeq = analysis.RuleUnackedSeq
	// RuleMissingHeartbeat: a client socket never sent a ping.
	RuleMissingHeartbeat = analysis.RuleMissingHeartbeat
	// RuleNoSyncOnAttach: a client attached (or reattached) without
	// sending sync.
	RuleNoSyncOnAttach = analysis.RuleNoSyncOnAttach
	// RuleGapWithoutSync: a client saw an event_seq gap and did not sync.
	// Subject is the missing range "A-B".
	RuleGapWithoutSync = analysis.RuleGapWithoutSync
	// RuleDuplicateRequestID: a client reused a request_id. Subject is the
	// reused id.
	RuleDuplicateRequestID = analysis.RuleDuplicateRequestID
)

// Fault is one injected fault.
type Fault struct {
	// Knob is the fault switch that caused it (e.g. "gap", "skip-ack").
	Knob string `json:"knob"`
	// Rule is the checker rule the fault must trigger, "" when no finding
	// is expected (a short delay, a drop at a quiet point).
	Rule string `json:"rule,omitempty"`
	// Subject identifies the finding within the rule (see the Rule
	// constants).
	Subject string `json:"subject,omitempty"`
	// ConnectionID is the environment connection the fault happened on.
	ConnectionID string `json:"connection_id,omitempty"`
	// Channel is "control", "stream" or "single"; empty when the fault
	// belongs to no single socket.
	Channel string `json:"channel,omitempty"`
	// Socket is the 1-based ordinal of the socket among the sockets of
	// ConnectionID and Channel, in accept order; 0 when Channel is empty.
	Socket int `json:"socket,omitempty"`
	// Detail is a human-readable note.
	Detail string `json:"detail,omitempty"`
}

// String formats the fault on one line.
func (f Fault) String() string {
	rule := f.Rule
	if rule == "" {
		rule = "(no finding)"
	}
	s := fmt.Sprintf("%s: %s", f.Knob, rule)
	if f.Subject != "" {
		s += " " + f.Subject
	}
	if f.ConnectionID != "" {
		s += " conn=" + f.ConnectionID
	}
	if f.Channel != "" {
		s += fmt.Sprintf(" socket=%s#%d", f.Channel, f.Socket)
	}
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	return s
}

// Expected returns the faults that must trigger a finding (Rule != ""),
// in their original order.
func Expected(fs []Fault) []Fault {
	var out []Fault
	for _, f := range fs {
		if f.Rule != "" {
			out = append(out, f)
		}
	}
	return out
}

// ByRule counts faults per rule ("" counts faults that expect no
// finding).
func ByRule(fs []Fault) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[f.Rule]++
	}
	return m
}

// Sort orders faults canonically: by rule, connection, channel, socket,
// subject, knob, detail.
func Sort(fs []Fault) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		switch {
		case a.Rule != b.Rule:
			return a.Rule < b.Rule
		case a.ConnectionID != b.ConnectionID:
			return a.ConnectionID < b.ConnectionID
		case a.Channel != b.Channel:
			return a.Channel < b.Channel
		case a.Socket != b.Socket:
			return a.Socket < b.Socket
		case a.Subject != b.Subject:
			return a.Subject < b.Subject
		case a.Knob != b.Knob:
			return a.Knob < b.Knob
		}
		return a.Detail < b.Detail
	})
}
