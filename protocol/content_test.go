package protocol_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/protocol"
)

func TestParseDelta(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want protocol.Delta
		ok   bool
	}{
		{`{"type":"stream_delta","delta":{"id":"m1","message_type":"assistant_message","content":"Hi \"there\""}}`,
			protocol.Delta{ID: "m1", MessageType: "assistant_message", Content: `Hi "there"`}, true},
		{`{"delta":{"message_type":"stop_reason","stop_reason":"end_turn"},"type":"stream_delta"}`,
			protocol.Delta{MessageType: "stop_reason", StopReason: "end_turn"}, true},
		{`{"type":"stream_delta","delta":{"message_type":"approval_request_message","tool_call":{"name":"Bash","arguments":"{\"command\":\"ls\"}"}}}`,
			protocol.Delta{MessageType: "approval_request_message", ToolName: "Bash", ToolArguments: `{"command":"ls"}`}, true},
		{`{"type":"stream_delta","delta":{"tool_call":{"name":"Edit","arguments":{"path": "a"}}}}`,
			protocol.Delta{ToolName: "Edit", ToolArguments: `{"path":"a"}`}, true},
		{`{"type":"stream_delta","delta":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}`,
			protocol.Delta{Content: "ab"}, true},
		{`{"type":"stream_delta"}`, protocol.Delta{}, true},
		{`{"type":"update_loop_status","delta":{"content":"x"}}`, protocol.Delta{}, false},
		{`{"type":"stream_delta","delta":{"content":"x"`, protocol.Delta{}, false},
		{`not json`, protocol.Delta{}, false},
	} {
		got, ok := protocol.ParseDelta([]byte(tc.in))
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseDelta(%s) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// The reference's own examples: a prompt, an approval (decision object),
// a deny; older clients' decision spellings too.
func TestParseInput(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want protocol.Input
	}{
		{`{"type":"input","runtime":{"agent_id":"a","conversation_id":"c"},"payload":{"kind":"create_message","messages":[{"role":"user","content":"What files should I inspect first?","client_message_id":"cm_01J_demo"}],"supports_control_response":true}}`,
			protocol.Input{Kind: "create_message", Prompt: "What files should I inspect first?"}},
		{`{"type":"input","payload":{"kind":"approval_response","request_id":"req-1","decision":{"behavior":"allow","message":"Approved"}}}`,
			protocol.Input{Kind: "approval_response", RequestID: "req-1", Behavior: "allow"}},
		{`{"type":"input","payload":{"kind":"approval_response","request_id":"req-2","decision":"deny"}}`,
			protocol.Input{Kind: "approval_response", RequestID: "req-2", Behavior: "deny"}},
		{`{"type":"input","payload":{"kind":"approval_response","response":{"decision":"allow"}}}`,
			protocol.Input{Kind: "approval_response", Behavior: "allow"}},
	} {
		got, ok := protocol.ParseInput([]byte(tc.in))
		if !ok || got != tc.want {
			t.Errorf("ParseInput(%s) = %+v, %v; want %+v", tc.in, got, ok, tc.want)
		}
	}
	if in, _ := protocol.ParseInput([]byte(`{"type":"input","payload":{"kind":"create_message"}}`)); !in.IsPrompt() {
		t.Error("create_message is not a prompt")
	}
	if _, ok := protocol.ParseInput([]byte(`{"type":"sync"}`)); ok {
		t.Error("a sync parsed as an input")
	}
}

func TestParseToolRequestAndLoopStatus(t *testing.T) {
	tr, ok := protocol.ParseToolRequest([]byte(`{"type":"control_request","request_id":"perm-1","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls -la","description":"list"}}}`))
	if !ok || tr.Subtype != "can_use_tool" || tr.ToolName != "Bash" || tr.Command != "ls -la" || len(tr.Input) == 0 {
		t.Errorf("tool request %+v %v", tr, ok)
	}
	st, ok := protocol.LoopStatus([]byte(`{"type":"update_loop_status","loop_status":{"status":"WAITING_ON_INPUT","active_run_ids":[]}}`))
	if !ok || st != protocol.LoopIdle {
		t.Errorf("loop status %q %v", st, ok)
	}
	if _, ok := protocol.LoopStatus([]byte(`{"type":"stream_delta","loop_status":{"status":"x"}}`)); ok {
		t.Error("a stream_delta read as a loop status")
	}
}

func TestSummaryFallsBack(t *testing.T) {
	// A delta of a shape the model does not know says nothing specific:
	// callers show their generic rendering.
	if s, specific := protocol.Summary("stream_delta", []byte(`{"type":"stream_delta","delta":{"text":"x"}}`)); specific || s != "" {
		t.Errorf("unknown delta shape: %q %v", s, specific)
	}
	if s, specific := protocol.Summary("read_file_response", []byte(`{"type":"read_file_response","success":false,"error":"no such file","path":"/x"}`)); specific || s != `success=false error "no such file" path=/x` {
		t.Errorf("reply: %q %v", s, specific)
	}
}

func ExampleSummary() {
	for _, m := range []string{
		`{"type":"stream_delta","delta":{"message_type":"assistant_message","content":"I looked at your request."}}`,
		`{"type":"control_request","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"rm -rf build"}}}`,
		`{"type":"input","payload":{"kind":"approval_response","request_id":"perm-1","decision":{"behavior":"deny"}}}`,
		`{"type":"update_loop_status","loop_status":{"status":"WAITING_ON_INPUT"}}`,
		`{"type":"input_accepted","request_id":"in-1","accepted":true,"disposition":"started"}`,
	} {
		var env protocol.Envelope
		protocol.DefaultModel.ParseInto(&env, []byte(m))
		s, specific := protocol.Summary(env.TypeString(), []byte(m))
		fmt.Printf("%-20s %v %s\n", env.TypeString(), specific, s)
	}
	// Output:
	// stream_delta         true "I looked at your request."
	// control_request      true can_use_tool Bash "rm -rf build"
	// input                true approval_response deny
	// update_loop_status   true WAITING_ON_INPUT
	// input_accepted       false accepted=true disposition=started
}

// FuzzSummary: no payload panics the content readers, and the delta
// scanner agrees with encoding/json on valid JSON.
func FuzzSummary(f *testing.F) {
	for _, s := range []string{
		`{"type":"stream_delta","delta":{"id":"m","message_type":"assistant_message","content":"a\u00e9\n"}}`,
		`{"type":"stream_delta","delta":{"tool_call":{"name":"Bash","arguments":{"command":"ls"}}}}`,
		`{"type":"stream_delta","delta":{"content":[{"type":"text","text":"x"}]}}`,
		`{"type":"control_request","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"}}}`,
		`{"type":"input","payload":{"kind":"approval_response","decision":{"behavior":"allow"}}}`,
		`{"type":"update_loop_status","loop_status":{"status":"WAITING_ON_INPUT"}}`,
		`{"type":"ack","seq":3}`, `{"type":"stream_delta","delta":[]}`, `{"type":"stream_delta","delta":{"content":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range []string{"stream_delta", "update_loop_status", "control_request", "input", "ack", "other"} {
			protocol.Summary(typ, b)
		}
		d, ok := protocol.ParseDelta(b)
		if !ok || !json.Valid(b) || !utf8.Valid(b) {
			return
		}
		// Maps: exact member names, the last of duplicates wins, as in
		// the scanner (struct fields would match names case-insensitively).
		var top map[string]json.RawMessage
		var delta map[string]json.RawMessage
		if json.Unmarshal(b, &top) != nil || json.Unmarshal(top["delta"], &delta) != nil {
			return
		}
		var want string
		if json.Unmarshal(delta["content"], &want) == nil && d.Content != want {
			t.Fatalf("content %q, encoding/json says %q", d.Content, want)
		}
		want = ""
		if json.Unmarshal(delta["message_type"], &want) == nil && d.MessageType != want {
			t.Fatalf("message_type %q, encoding/json says %q", d.MessageType, want)
		}
	})
}

// Deeply nested content (valid JSON, 200,000 levels) is read without
// running out of stack: the readers scan iteratively or stop at
// encoding/json's depth bound.
func TestDeepContent(t *testing.T) {
	d := strings.Repeat(`{"a":`, 200000) + "1" + strings.Repeat("}", 200000)
	for _, typ := range []string{"stream_delta", "control_request", "input", "update_loop_status", "ack", "x"} {
		p := []byte(`{"type":"` + typ + `","delta":{"content":` + d + `,"tool_call":` + d + `},"request":` + d +
			`,"payload":{"messages":[{"content":` + d + `}],"decision":` + d + `},"seq":` + d + `}`)
		protocol.Summary(typ, p)
		protocol.ParseDelta(p)
		protocol.ParseInput(p)
		protocol.ParseToolRequest(p)
	}
}
