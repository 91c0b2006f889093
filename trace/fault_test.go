package trace

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFaultRecordsRoundTrip(t *testing.T) {
	for _, r := range []*Record{
		{Kind: KindFault, T: t0, Conn: "c1", N: 7, From: Server, Rule: "drop has=event_seq nth=50", Action: "drop", Frame: 8, Message: "message not delivered"},
		{Kind: KindFault, T: t0, Conn: "c1", N: 9, From: Server, Rule: "close=1011 nth=200", Action: "close", Frame: 10, Code: 1011, Message: "both sides sent close 1011"},
		{Kind: KindFault, T: t0, Conn: "c1", N: 11, From: Server, Rule: "corrupt", Action: "corrupt", Frame: 12, Op: OpText, Payload: []byte(`{"type":"a",`), Form: FormText},
		{Kind: KindFault, T: t0, Conn: "c2", N: 13, From: Server, Rule: "inject=f.json", Action: "inject", Frame: 14, Op: OpText, Payload: []byte(`{"type":"sync"}`), Form: FormMsg},
		{Kind: KindFault, T: t0, Conn: "c3", N: 2, Rule: "drop", Action: "decline-compression", Message: "offer not passed upstream"},
	} {
		line, err := AppendLine(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if r.Frame > 0 && !bytes.Contains(line, []byte(`"frame":`)) || !bytes.Contains(line, []byte(`"kind":"fault"`)) {
			t.Errorf("line %s", line)
		}
		got := roundTrip(t, r)
		a, _ := json.Marshal(r)
		b, _ := json.Marshal(got)
		if !bytes.Equal(a, b) {
			t.Errorf("round trip:\n got %s\nwant %s", b, a)
		}
	}
}

func TestFaultRecordErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`{"kind":"fault","t":"2026-11-28T17:04:18.516000001Z","conn":"c1","action":"drop"}`, "rule and action"},
		{`{"kind":"fault","t":"2026-11-28T17:04:18.516000001Z","conn":"c1","rule":"drop","action":"drop","frame":-3}`, "negative"},
		{`{"kind":"fault","t":"2026-11-28T17:04:18.516000001Z","conn":"c1","rule":"drop","action":"drop","frame":"x"}`, "not an integer"},
	} {
		var r Record
		if err := ParseLine([]byte(tc.line), &r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.line, err, tc.want)
		}
	}
}
