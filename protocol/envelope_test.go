package protocol

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

func TestParseFields(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want func(t *testing.T, e Envelope)
	}{
		{"event", `{"type":"update_loop_status","loop_status":{"status":"WAITING_ON_INPUT","active_run_ids":[]},"runtime":{"agent_id":"agent-1","conversation_id":"default"},"event_seq":2,"emitted_at":"2026-11-28T17:04:18.522Z","idempotency_key":"update_loop_status:2:b6"}`,
			func(t *testing.T, e Envelope) {
				eq(t, "type", string(e.Type), "update_loop_status")
				eq(t, "loop", string(e.LoopStatus), "WAITING_ON_INPUT")
				eq(t, "agent", string(e.AgentID), "agent-1")
				eq(t, "conv", string(e.ConversationID), "default")
				eq(t, "key", string(e.IdempotencyKey), "update_loop_status:2:b6")
				if !e.HasEventSeq || e.EventSeq != 2 || e.HasSeq {
					t.Errorf("event_seq = %d/%v seq %v", e.EventSeq, e.HasEventSeq, e.HasSeq)
				}
				if e.Kind() != RoleEvent || e.Info.Channel != ChannelStream {
					t.Errorf("kind %v channel %v", e.Kind(), e.Info.Channel)
				}
			}},
		{"approval", `{"type":"input","runtime":{"agent_id":"a","conversation_id":"c"},"request_id":"in-appr-2","payload":{"kind":"approval_response","request_id":"perm-tool-1","decision":{"behavior":"allow"}}}`,
			func(t *testing.T, e Envelope) {
				eq(t, "rid", string(e.RequestID), "in-appr-2")
				eq(t, "approval rid", string(e.ApprovalRequestID), "perm-tool-1")
				eq(t, "kind", string(e.PayloadKind), "approval_response")
				if !e.IsApprovalResponse() || !e.HasRuntime {
					t.Error("not an approval response with runtime")
				}
			}},
		{"create message keeps nested request ids out", `{"type":"input","runtime":{"agent_id":"a"},"payload":{"kind":"create_message","request_id":"x","messages":[{"request_id":"y"}]}}`,
			func(t *testing.T, e Envelope) {
				if e.RequestID != nil || e.ApprovalRequestID != nil {
					t.Errorf("rid %q approval %q", e.RequestID, e.ApprovalRequestID)
				}
			}},
		{"seq and escapes", `{"seq":42,"type":"list_models_\u0072esponse","request_id":"m\"1","entries":[{"type":"x","seq":7}]}`,
			func(t *testing.T, e Envelope) {
				eq(t, "type", string(e.Type), "list_models_response")
				eq(t, "rid", string(e.RequestID), `m"1`)
				if !e.HasSeq || e.Seq != 42 || e.Kind() != RoleReply {
					t.Errorf("seq %d %v kind %v", e.Seq, e.HasSeq, e.Kind())
				}
			}},
		{"string seq is not numeric", `{"type":"ack","seq":"5"}`,
			func(t *testing.T, e Envelope) {
				if e.HasSeq {
					t.Error("string seq taken as numeric")
				}
			}},
		{"unknown type", `{"type":"totally_unknown_command","request_id":"u1"}`,
			func(t *testing.T, e Envelope) {
				if e.Kind() != RoleUnknown || e.Info != nil || e.TypeString() != "totally_unknown_command" {
					t.Errorf("kind %v", e.Kind())
				}
			}},
		{"sync recover", `{"type":"sync","recover_approvals":true,"runtime":{"agent_id":"a","conversation_id":"c"}}`,
			func(t *testing.T, e Envelope) {
				if !e.RecoverApprovals {
					t.Error("recover_approvals not seen")
				}
			}},
		{"terminal", ` {"type":"terminal_spawned","terminal_id":"t1","pid":7} `,
			func(t *testing.T, e Envelope) { eq(t, "tid", string(e.TerminalID), "t1") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			c.want(t, e)
		})
	}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{`, `{"type":}`, `{"type":"x",}`, `{"type":"x"} {}`, `{"a":tru}`, `{"a":"b}`, `{"a" "b"}`, `{"a":1 "b":2}`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q): no error", in)
		} else if !errors.Is(err, jsonscan.ErrSyntax) {
			t.Errorf("Parse(%q): %v is not a syntax error", in, err)
		}
	}
}

// TestRealDeviceFrames parses every frame the real device sent or received
// and compares the envelope with encoding/json.
func TestRealDeviceFrames(t *testing.T) {
	// Frames recorded from Letta Code 0.32.18 (shared/protocol/real-device).
	files := mustGlob(t, "testdata/*.jsonl")
	if len(files) == 0 {
		t.Skip("no sample frames")
	}
	n := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			var line struct {
				Frame json.RawMessage `json:"frame"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil || len(line.Frame) == 0 {
				continue
			}
			n++
			compareWithStdlib(t, line.Frame)
		}
		fh.Close()
	}
	if n < 100 {
		t.Fatalf("only %d frames", n)
	}
}

func mustGlob(t *testing.T, p string) []string {
	m, err := filepath.Glob(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// compareWithStdlib checks Parse against encoding/json on a valid object
// (decoded into maps, so that keys match exactly, last duplicate winning).
func compareWithStdlib(t *testing.T, payload []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return // not an object
	}
	e, err := Parse(payload)
	if err != nil {
		t.Fatalf("Parse(%s): %v", payload, err)
	}
	str := func(m map[string]json.RawMessage, k string) (string, bool) {
		var s string
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		return "", false
	}
	obj := func(m map[string]json.RawMessage, k string) map[string]json.RawMessage {
		var o map[string]json.RawMessage
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &o) == nil && o != nil {
			return o
		}
		return nil
	}
	num := func(m map[string]json.RawMessage, k string) (int64, bool) {
		var f float64
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &f) == nil && f == float64(int64(f)) && f < 1<<53 && f > -(1<<53) {
			return int64(f), true
		}
		return 0, false
	}
	check := func(what string, got []byte, m map[string]json.RawMessage, k string) {
		if s, ok := str(m, k); ok && string(got) != s {
			t.Errorf("%s = %q, want %q in %s", what, got, s, payload)
		} else if !ok && got != nil {
			t.Errorf("%s = %q, want none in %s", what, got, payload)
		}
	}
	check("type", e.Type, top, "type")
	check("request_id", e.RequestID, top, "request_id")
	check("idempotency_key", e.IdempotencyKey, top, "idempotency_key")
	check("terminal_id", e.TerminalID, top, "terminal_id")
	if n, ok := num(top, "seq"); ok != e.HasSeq || n != e.Seq {
		t.Errorf("seq = %d,%v want %d,%v in %s", e.Seq, e.HasSeq, n, ok, payload)
	}
	if n, ok := num(top, "event_seq"); ok != e.HasEventSeq || n != e.EventSeq {
		t.Errorf("event_seq = %d,%v want %d,%v in %s", e.EventSeq, e.HasEventSeq, n, ok, payload)
	}
	rt := obj(top, "runtime")
	if (rt != nil) != e.HasRuntime {
		t.Errorf("runtime presence %v in %s", e.HasRuntime, payload)
	}
	if rt != nil {
		check("agent_id", e.AgentID, rt, "agent_id")
		check("conversation_id", e.ConversationID, rt, "conversation_id")
	}
	if ls := obj(top, "loop_status"); ls != nil {
		check("loop_status.status", e.LoopStatus, ls, "status")
	}
	if p := obj(top, "payload"); p != nil {
		check("payload.kind", e.PayloadKind, p, "kind")
		if k, _ := str(p, "kind"); k == "approval_response" {
			check("payload.request_id", e.ApprovalRequestID, p, "request_id")
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"update_loop_status","loop_status":{"status":"WAITING_ON_INPUT"},"runtime":{"agent_id":"a","conversation_id":"c"},"event_seq":2,"idempotency_key":"k"}`,
		`{"type":"input","request_id":"r","payload":{"kind":"approval_response","request_id":"perm-1"}}`,
		`{"seq":1e2,"type":"ack"}`, `{"type":"\ud83d\ude00"}`, `{}`, `[1,2]`, `{"a":[{"b":"\\"}]}`, `{"seq":-0.0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		valid := json.Valid(b)
		if err == nil && !valid {
			// The scanner is structural: it may accept what the strict
			// decoder rejects inside strings, but the object must at least
			// start and end like one.
			if len(b) < 2 {
				t.Fatalf("accepted %q", b)
			}
		}
		if valid && err != nil {
			var obj map[string]json.RawMessage
			if json.Unmarshal(b, &obj) == nil {
				t.Fatalf("valid object %q rejected: %v", b, err)
			}
		}
		// encoding/json replaces invalid UTF-8 with U+FFFD; Parse keeps the
		// bytes as they are, so compare only valid text.
		if err == nil && valid && utf8.Valid(b) {
			var obj map[string]json.RawMessage
			if json.Unmarshal(b, &obj) == nil {
				compareWithStdlib(t, b)
			}
		}
		_ = e.Kind()
	})
}
