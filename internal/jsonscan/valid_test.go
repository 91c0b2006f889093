package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

var validCases = []string{
	`{}`, `[]`, ` {"a":1} `, `{"a":[1,2,{"b":null}],"c":"}"}`, `"x"`, `0`, `-0.5e+10`, `true`, `null`,
	`{"a":"\u00e9\n\"\\"}`, `[[[[]]]]`, `{"a":{}}`, `{"":""}`, `1E5`, `[1,"a",true,false,null,{"x":[]}]`,
	`{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a":1 "b":2}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
	`"\q"`, `"\u12"`, "\"a\x01b\"", `tru`, `nul`, `{"a":1}}`, `[1]]`, `{} {}`, ``, ` `, `"`, `{"a":[}`, `[{]}`,
	`{"a" : 1 , "b" : [ 1 , 2 ] }`, "{\"a\":\t1}", `NaN`, `Infinity`, `0x10`, `1e400`, `-01`, `[-]`,
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", c, got, want)
		}
	}
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	if !Valid([]byte(deep)) {
		t.Error("deep nesting refused")
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

var validSample = []byte(`{"type":"update_loop_status","loop_status":{"status":"PROCESSING_API_RESPONSE","active_run_ids":["local-run-2"],"executing_tool_call_ids":[]},"runtime":{"agent_id":"agent-00000000-0000-4000-8000-000000000001","conversation_id":"default"},"event_seq":17,"emitted_at":"2026-11-28T17:06:52.626Z","idempotency_key":"update_loop_status:17:ee59b6c2-4f1a"}`)

// BenchmarkValid compares Valid with encoding/json.Valid on a 300-byte
// protocol message, side by side.
func BenchmarkValid(b *testing.B) {
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(validSample)))
		for i := 0; i < b.N; i++ {
			if !Valid(validSample) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(validSample)))
		for i := 0; i < b.N; i++ {
			if !json.Valid(validSample) {
				b.Fatal("invalid")
			}
		}
	})
}
