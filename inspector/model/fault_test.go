package model

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// TestInjectedFaultRows: a fault record is a row of its own kind (not an
// error), summarised as injected, and the finding it explains is
// expected.
func TestInjectedFaultRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.jsonl")
	w, err := recorder.Create(path, recorder.Options{Compression: recorder.Plain})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0).UTC()
	recs := []*trace.Record{
		trace.NewHeader("test", "0", trace.SourceProxy, t0),
		{Kind: trace.KindOpen, T: t0, Conn: "c1", N: 1, Open: &trace.Open{URL: "/v1/environments/e/status/ws?agentId=a&conversationId=c&channel=stream"}},
		{Kind: trace.KindFrame, T: t0, Conn: "c1", N: 2, From: trace.Server, Op: trace.OpText, Payload: []byte(`{"type":"stream_delta","seq":1,"event_seq":1}`)},
		{Kind: trace.KindFault, T: t0, Conn: "c1", N: 3, From: trace.Server, Rule: "drop nth=2", Action: "drop", Frame: 4, Message: "message not delivered"},
		{Kind: trace.KindFrame, T: t0, Conn: "c1", N: 4, From: trace.Server, Op: trace.OpText, Payload: []byte(`{"type":"stream_delta","seq":2,"event_seq":2}`)},
		{Kind: trace.KindFrame, T: t0, Conn: "c1", N: 5, From: trace.Server, Op: trace.OpText, Payload: []byte(`{"type":"stream_delta","seq":3,"event_seq":3}`)},
		{Kind: trace.KindClose, T: t0.Add(time.Minute), Conn: "c1", N: 6, By: trace.Client, Code: 1000},
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := LoadAll([]string{path}, analysis.Config{Disable: []string{analysis.RuleUnackedSeq, analysis.RuleMissingHeartbeat, analysis.RuleGapWithoutSync}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i := 0; i < m.Len(); i++ {
		r := m.Row(i)
		if r.Kind() == trace.KindFault {
			found = true
			if s := m.Summary(i); !strings.HasPrefix(s, "INJECTED drop (drop nth=2) on n=4") {
				t.Errorf("summary %q", s)
			}
		}
		if r.Kind() == trace.KindError {
			t.Errorf("row %d is an error", i)
		}
	}
	if !found {
		t.Fatal("no fault row")
	}
	fs := m.Findings()
	if len(fs) != 1 || fs[0].Rule != analysis.RuleEventSeqGap || fs[0].Severity != analysis.Expected {
		t.Errorf("findings %+v, want one expected event-seq-gap", fs)
	}
}
