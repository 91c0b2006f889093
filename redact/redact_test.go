package redact

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"type":"ping"}`, `{"type":"ping"}`},
		{`{"type":"connect_provider","request_id":"r","api_key":"sk-live-123","options":{"token":"abc","max_tokens":5}}`,
			`{"type":"connect_provider","request_id":"r","api_key":"[REDACTED]","options":{"token":"[REDACTED]","max_tokens":5}}`},
		{`{"type":"secret_list_response","request_id":"r","success":true,"secrets":[{"key":"GITHUB","value":"ghp_x"},{"key":"B","value":"y"}]}`,
			`{"type":"secret_list_response","request_id":"r","success":true,"secrets":[{"key":"GITHUB","value":"[REDACTED]"},{"key":"B","value":"[REDACTED]"}]}`},
		{`{"type":"secret_apply","request_id":"r","agent_id":"a","set":{"A":"1","B":"2"},"unset":["C"]}`,
			`{"type":"secret_apply","request_id":"r","agent_id":"a","set":{"A":"[REDACTED]","B":"[REDACTED]"},"unset":["C"]}`},
		{`{"type":"x","items":[{"Password" : "hunter2"}, 3],"idempotency_key":"k","refresh_token":null}`,
			`{"type":"x","items":[{"Password" : "[REDACTED]"}, 3],"idempotency_key":"k","refresh_token":null}`},
		{`{"type":"x","auth":{"client_secret":{"nested":1}}}`, `{"type":"x","auth":{"client_secret":"[REDACTED]"}}`},
		{`{"type":"list_connect_providers_response","fields":[{"name":"api_key","secret":true,"token":42}]}`,
			`{"type":"list_connect_providers_response","fields":[{"name":"api_key","secret":true,"token":42}]}`},
		{`not json token`, `not json token`},
		{`{"broken":"token`, `{"broken":"token`},
	}
	for _, c := range cases {
		got, changed := JSON([]byte(c.in))
		if string(got) != c.want {
			t.Errorf("JSON(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
		if changed != (c.in != c.want) {
			t.Errorf("JSON(%s) changed=%v", c.in, changed)
		}
		if changed && json.Valid([]byte(c.in)) && !json.Valid(got) {
			t.Errorf("redacted JSON invalid: %s", got)
		}
	}
}

func TestURLAndHeaders(t *testing.T) {
	u, ch := URL("/v1/environments/c/status/ws?agentId=a&token=sk-123&channel=stream")
	if ch != true || strings.Contains(u, "sk-123") || !strings.Contains(u, "agentId=a") || !strings.Contains(u, "channel=stream") {
		t.Errorf("URL: %s %v", u, ch)
	}
	if u, ch := URL("/ws?agentId=a"); ch || u != "/ws?agentId=a" {
		t.Errorf("URL changed %s", u)
	}
	h := http.Header{"Authorization": {"Bearer sk-1"}, "Cookie": {"s=1"}, "User-Agent": {"x"}}
	out, ch := Headers(h)
	if !ch || out["Authorization"][0] != Placeholder || out["Cookie"][0] != Placeholder || out["User-Agent"][0] != "x" {
		t.Errorf("Headers: %v", out)
	}
	if h["Authorization"][0] != "Bearer sk-1" {
		t.Error("input modified")
	}
}

func TestIsSecretKey(t *testing.T) {
	for _, k := range []string{"token", "Token", "api_key", "API-KEY", "github_token", "client_secret", "password", "Authorization"} {
		if !IsSecretKey(k) {
			t.Errorf("%s not secret", k)
		}
	}
	for _, k := range []string{"max_tokens", "total_tokens", "idempotency_key", "key", "type", "secrets", "tokenizer"} {
		if IsSecretKey(k) {
			t.Errorf("%s secret", k)
		}
	}
}

func FuzzJSON(f *testing.F) {
	f.Add([]byte(`{"type":"x","token":"a","b":[{"password":1}]}`))
	f.Add([]byte(`{"type":"secret_apply","set":{"a":"b"}}`))
	f.Add([]byte(`{"a":"x:y","b\"token":1,"Api-Key" : "k","t":{"max_tokens":3,"github_token":"g"}}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		out, changed := JSON(p)
		if !changed && string(out) != string(p) {
			t.Fatal("unchanged payload differs")
		}
		if changed && json.Valid(p) && !json.Valid(out) {
			t.Fatalf("valid %q redacted to invalid %q", p, out)
		}
		// The prefilter never hides a secret the full walk would find.
		if !mayHoldSecret(p) && json.Valid(p) {
			if i := firstObject(p); i >= 0 {
				if spans := walkObject(p, i, 0, topLevelType(p, i), nil); len(spans) > 0 {
					t.Fatalf("prefilter missed secrets in %q", p)
				}
			}
		}
	})
}

func firstObject(p []byte) int {
	for i, c := range p {
		if c == '{' {
			return i
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return -1
		}
	}
	return -1
}

func BenchmarkJSONNoSecret(b *testing.B) {
	p := []byte(`{"type":"update_loop_status","loop_status":{"status":"PROCESSING_API_RESPONSE","active_run_ids":["local-run-2"],"executing_tool_call_ids":[]},"runtime":{"agent_id":"agent-00000000-0000-4000-8000-000000000001","conversation_id":"default"},"event_seq":17,"emitted_at":"2026-11-28T17:06:52.626Z","idempotency_key":"update_loop_status:17:ee59b6c2-4f1a"}`)
	b.SetBytes(int64(len(p)))
	for i := 0; i < b.N; i++ {
		if _, ch := JSON(p); ch {
			b.Fatal("redacted")
		}
	}
}
