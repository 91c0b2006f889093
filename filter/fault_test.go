package filter

import (
	"testing"

	"github.com/lettadev/wsproxy/trace"
)

func TestFaultRecords(t *testing.T) {
	fault := &trace.Record{Kind: trace.KindFault, Conn: "c1", From: trace.Server, Rule: "drop nth=2", Action: "drop", Frame: 3, Message: "message not delivered"}
	frame := &trace.Record{Kind: trace.KindFrame, Conn: "c1", From: trace.Server, Op: trace.OpText, Payload: []byte(`{"type":"a"}`)}
	for _, c := range []struct {
		filter       string
		fault, frame bool
	}{
		{"kind:fault", true, false},
		{"-kind:fault", false, true},
		{"delivered", true, false},
		{"kind:fault from:server", true, false},
	} {
		f, err := Parse(c.filter)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		if f.Match(fault, Facts{}) != c.fault || f.Match(frame, Facts{}) != c.frame {
			t.Errorf("%q: fault %v frame %v, want %v %v", c.filter, f.Match(fault, Facts{}), f.Match(frame, Facts{}), c.fault, c.frame)
		}
	}
}
