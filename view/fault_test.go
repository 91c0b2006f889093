package view

import (
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// TestInjectedFaultsAreMarked: a fault record is shown as injected, in
// its own colour, apart from real errors.
func TestInjectedFaultsAreMarked(t *testing.T) {
	r := &trace.Record{Kind: trace.KindFault, T: time.Unix(10, 0), Conn: "c1", N: 5, From: trace.Server,
		Rule: "drop has=event_seq nth=50", Action: "drop", Frame: 6, Message: "message not delivered"}
	f := Describe(r, nil)
	if f.Type != "fault:drop" || f.Summary != "INJECTED drop has=event_seq nth=50 on n=6: message not delivered" {
		t.Fatalf("fields %+v", f)
	}
	line := string(AppendLine(nil, r, r.T, Options{Color: true}))
	if !strings.Contains(line, magenta+"fault:drop") {
		t.Fatalf("line %q is not marked in magenta", line)
	}
	errLine := string(AppendLine(nil, &trace.Record{Kind: trace.KindError, T: r.T, Conn: "c1", Message: "x"}, r.T, Options{Color: true}))
	if strings.Contains(errLine, magenta) {
		t.Fatalf("an error line %q is marked like an injected fault", errLine)
	}
}
