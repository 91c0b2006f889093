package redact

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testRules(t testing.TB, r Rules) *Rules {
	t.Helper()
	if err := r.Compile(); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestRulesJSON(t *testing.T) {
	r := testRules(t, Rules{
		Members:  []string{"output"},
		Paths:    []PathRule{{Type: "read_file_response", Path: "content"}, {Path: "payload.messages[].text"}, {Path: "lines[]"}},
		Patterns: []string{`/home/[^/"]+`},
	})
	for _, c := range []struct{ in, want string }{
		{`{"type":"read_file_response","request_id":"r1","content":"x","path":"/home/bob/a"}`,
			`{"type":"read_file_response","request_id":"r1","content":"[REDACTED]","path":"[REDACTED]/a"}`},
		// The path rule is for read_file_response only.
		{`{"type":"read_file","content":"x"}`, `{"type":"read_file","content":"x"}`},
		{`{"type":"input","payload":{"kind":"create_message","messages":[{"text":"hi","role":"user"},{"text":"yo"}]}}`,
			`{"type":"input","payload":{"kind":"create_message","messages":[{"text":"[REDACTED]","role":"user"},{"text":"[REDACTED]"}]}}`},
		{`{"type":"t", "lines": [1, "a"], "output" : {"deep":1}}`, `{"type":"t", "lines": ["[REDACTED]", "[REDACTED]"], "output" : "[REDACTED]"}`},
		// Member names match patterns; escaped strings are decoded first.
		{`{"type":"tree","files":{"/home/bob/x":1,"n":"\/home\/bob\/y"}}`, `{"type":"tree","files":{"[REDACTED]/x":1,"n":"[REDACTED]/y"}}`},
		// Identity members are never touched, even by patterns.
		{`{"type":"/home/x","request_id":"/home/y","runtime":{"agent_id":"/home/z"}}`, `{"type":"/home/x","request_id":"/home/y","runtime":{"agent_id":"/home/z"}}`},
		{`not json /home/bob`, `not json /home/bob`},
		{`{"output":null}`, `{"output":null}`},
	} {
		got, _ := r.JSON([]byte(c.in))
		if string(got) != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestRulesErrors(t *testing.T) {
	for _, c := range []struct {
		r    Rules
		want string
	}{
		{Rules{Members: []string{"seq"}}, `member "seq" carries a message's identity`},
		{Rules{Paths: []PathRule{{Path: "a..b"}}}, "empty member name"},
		{Rules{Paths: []PathRule{{Path: "payload.request_id"}}}, `"request_id" carries`},
		{Rules{Patterns: []string{"a*"}}, "matches the empty string"},
		{Rules{Patterns: []string{"("}}, `pattern "("`},
	} {
		if err := c.r.Compile(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "r.json")
	os.WriteFile(bad, []byte(`{"member":["x"]}`), 0o600)
	if _, err := LoadRules(bad); err == nil || !strings.Contains(err.Error(), `unknown field "member"`) || !strings.Contains(err.Error(), bad) {
		t.Errorf("unknown field: %v", err)
	}
	os.WriteFile(bad, []byte("{\n  \"members\": [\"x\",]\n}"), 0o600)
	if _, err := LoadRules(bad); err == nil || !strings.Contains(err.Error(), "line 2, byte offset 21") {
		t.Errorf("syntax: %v", err)
	}
}

// FuzzRulesJSON: whatever the payload, the result is valid JSON when the
// input was, and the message's envelope is unchanged.
func FuzzRulesJSON(f *testing.F) {
	for _, s := range []string{
		`{"type":"read_file_response","request_id":"r1","content":"/home/a/b"}`,
		`{"type":"input","payload":{"kind":"approval_response","request_id":"p1","messages":[{"text":"/home/q"}]}}`,
		`{"a":{"b":[{"c":"\u002fhome\u002fx"}]},"/home/k":[[]]}`,
		`{}`, `[]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	r := testRules(f, Rules{Members: []string{"content"}, Paths: []PathRule{{Path: "a.b[].c"}, {Path: "payload.messages[]"}},
		Patterns: []string{`/home/[^/"]+`, `[0-9]{3}`}})
	f.Fuzz(func(t *testing.T, p []byte) {
		out, _ := r.JSON(p)
		if json.Valid(p) && !json.Valid(out) {
			t.Fatalf("invalid result %q from %q", out, p)
		}
		if json.Valid(p) && !sameEnvelope(p, out) {
			t.Fatalf("envelope changed: %q → %q", p, out)
		}
	})
}
