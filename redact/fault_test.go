package redact

import (
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/trace"
)

// TestFaultRecordsAreRedacted: the payload an injected fault delivered
// (inject, corrupt) is redacted like a frame's.
func TestFaultRecordsAreRedacted(t *testing.T) {
	r := &trace.Record{Kind: trace.KindFault, Conn: "c1", Rule: "inject=f.json", Action: "inject", Frame: 2, Op: trace.OpText,
		Payload: []byte(`{"type":"secrets_set","api_key":"sk-live-123456"}`)}
	var x Redactor
	if err := x.Record(r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(r.Payload), "sk-live-123456") || !r.Redacted {
		t.Fatalf("payload %s (redacted %v)", r.Payload, r.Redacted)
	}
}
