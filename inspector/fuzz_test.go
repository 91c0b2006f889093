package inspector

import (
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/inspector/model"
	"github.com/lettadev/wsproxy/trace"
)

// FuzzRender feeds arbitrary payloads (from the network, through a trace)
// to what the views draw them with: the one-line summary, the coloured
// JSON, the hex view. Nothing may panic, and the coloured JSON must draw
// as the indented text it colours.
func FuzzRender(f *testing.F) {
	for _, s := range []string{`{"type":"stream_delta","delta":{"content":"hi [red]"}}`, `{"type":"control_request","request":{"tool_name":"Bash","input":{"command":"ls"}}}`,
		`{"type":"input","payload":{"kind":"create_message","messages":[{"content":"x"}]}}`, `{"type":"update_loop_status","loop_status":{"status":"X"}}`,
		`[1,2,"[[]"]`, "\xff\x00", `{"a":"\u005b"}`, `{"type":"ack","seq":1e400}`, ""} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, p []byte, op uint8) {
		ops := []trace.Op{trace.OpText, trace.OpBinary, trace.OpPing, trace.OpClose}
		o := ops[int(op)%len(ops)]
		r := &trace.Record{Kind: trace.KindFrame, Op: o, Payload: p, Form: trace.FormOf(o, p), Size: len(p)}
		model.Summarize(r)
		renderPayload(o, p, 1<<10)
		if pretty, ok := model.Pretty(p); ok && len(pretty) < 4096 {
			got := stripTags(colorJSON(string(pretty)))
			if strings.TrimRight(got, "\n") != strings.TrimRight(string(pretty), "\n") {
				t.Fatalf("coloured JSON draws as %q, want %q", got, pretty)
			}
		}
	})
}
