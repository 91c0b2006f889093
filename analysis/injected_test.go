package analysis

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// faultStream builds a trace: one socket, server events with event_seq
// 1..n (seq = event_seq), each acked, and fault records before the
// frames named in faults (event_seq -> action).
func faultStream(n int, faults map[int]string, skip map[int]bool) []*trace.Record {
	t0 := time.Unix(1000, 0)
	var recs []*trace.Record
	add := func(r *trace.Record) {
		r.N = int64(len(recs) + 1)
		r.Line = r.N
		r.T = t0.Add(time.Duration(len(recs)) * time.Millisecond)
		recs = append(recs, r)
	}
	add(&trace.Record{Kind: trace.KindOpen, Conn: "c1", Open: &trace.Open{URL: "/v1/environments/e/status/ws?agentId=a&conversationId=c&channel=stream"}})
	add(&trace.Record{Kind: trace.KindFrame, Conn: "c1", From: trace.Client, Op: trace.OpText, Form: trace.FormMsg,
		Payload: []byte(`{"type":"sync","request_id":"s1","recover_approvals":true,"runtime":{"agent_id":"a","conversation_id":"c"}}`)})
	for i := 1; i <= n; i++ {
		if skip[i] {
			continue
		}
		if a, ok := faults[i]; ok {
			add(&trace.Record{Kind: trace.KindFault, Conn: "c1", From: trace.Server, Rule: a + " (test)", Action: a, Frame: int64(len(recs) + 2)})
		}
		add(&trace.Record{Kind: trace.KindFrame, Conn: "c1", From: trace.Server, Op: trace.OpText, Form: trace.FormMsg,
			Payload: []byte(fmt.Sprintf(`{"type":"stream_delta","seq":%d,"event_seq":%d,"idempotency_key":"k%d","runtime":{"agent_id":"a","conversation_id":"c"}}`, i, i, i))})
		if faults[i] != "drop" {
			add(&trace.Record{Kind: trace.KindFrame, Conn: "c1", From: trace.Client, Op: trace.OpText, Form: trace.FormMsg,
				Payload: []byte(fmt.Sprintf(`{"type":"ack","seq":%d}`, i))})
		}
	}
	add(&trace.Record{Kind: trace.KindClose, Conn: "c1", By: trace.Client, Code: 1000})
	return recs
}

func checkStream(recs []*trace.Record) ([]Finding, []FaultReport) {
	cfg := DefaultConfig()
	cfg.Collect = true
	cfg.Disable = []string{RuleMissingHeartbeat, RuleGapWithoutSync}
	e := New(cfg)
	for _, r := range recs {
		e.Write(r)
	}
	e.Finish(time.Time{})
	return e.Findings(), e.FaultReports()
}

func summary(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.Rule, f.Subject))
	}
	return strings.Join(out, "; ")
}

func TestInjectedFaultsAreExpected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults map[int]string
		skip   map[int]bool // real losses: never in the trace
		want   string
	}{
		{"clean", nil, nil, ""},
		{"injected drop", map[int]string{5: "drop"}, nil, "expected event-seq-gap 5-5"},
		{"real gap", nil, map[int]bool{5: true}, "error event-seq-gap 5-5"},
		{"injected drop next to a real gap", map[int]string{5: "drop"}, map[int]bool{6: true, 7: true}, "error event-seq-gap 6-7"},
		{"injected duplicate", map[int]string{5: "duplicate"}, nil, "expected seq-regression 5; expected duplicate-idempotency-key k5"},
		{"injected and real", map[int]string{3: "drop"}, map[int]bool{8: true}, "expected event-seq-gap 3-3; error event-seq-gap 8-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, reps := checkStream(faultStream(12, tc.faults, tc.skip))
			if got := summary(fs); got != tc.want {
				t.Errorf("findings %q, want %q", got, tc.want)
			}
			if len(reps) != len(tc.faults) {
				t.Errorf("%d fault reports, want %d", len(reps), len(tc.faults))
			}
		})
	}
}

// TestReactionToAnInjectedGap: a sync after an injected gap is the
// healthy reaction; none is reported as failed.
func TestReactionToAnInjectedGap(t *testing.T) {
	recs := faultStream(6, map[int]string{3: "drop"}, nil)
	_, reps := checkStream(recs)
	if len(reps) != 1 || reps[0].Outcome != OutcomeFailed || reps[0].Message != "stream_delta event_seq 3 seq 3" {
		t.Fatalf("without a sync: %+v", reps)
	}
	last := recs[len(recs)-1]
	sync := &trace.Record{Kind: trace.KindFrame, Conn: "c1", From: trace.Client, Op: trace.OpText, Form: trace.FormMsg, T: last.T,
		Payload: []byte(`{"type":"sync","request_id":"s2","recover_approvals":true,"runtime":{"agent_id":"a","conversation_id":"c"}}`)}
	recs = append(recs[:len(recs)-1], sync, last)
	_, reps = checkStream(recs)
	if len(reps) != 1 || reps[0].Outcome != OutcomeOK || !strings.Contains(reps[0].Saw, "sync") {
		t.Fatalf("with a sync: %+v", reps)
	}
}
