package filter

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/trace"
)

func frame(from trace.Side, conn, payload string) *trace.Record {
	p := []byte(payload)
	return &trace.Record{Kind: trace.KindFrame, Conn: conn, From: from, Op: trace.OpText, Payload: p,
		Form: trace.FormOf(trace.OpText, p), Size: len(p), Line: 7}
}

var (
	delta    = frame(trace.Server, "c2", `{"type":"stream_delta","delta":{"text":"Hello World"},"event_seq":12,"seq":30}`)
	readFile = frame(trace.Client, "c1", `{"type":"read_file","request_id":"rf-3","path":"a.go"}`)
	reply    = frame(trace.Server, "c1", `{"type":"read_file_response","request_id":"rf-3","success":true}`)
	ack      = frame(trace.Client, "c2", `{"type":"ack","seq":30}`)
	approval = frame(trace.Client, "c1", `{"type":"input","payload":{"kind":"approval_response","request_id":"perm-1"}}`)
	ping     = &trace.Record{Kind: trace.KindFrame, Conn: "c1", From: trace.Client, Op: trace.OpPing, Payload: []byte("hb")}
	closed   = &trace.Record{Kind: trace.KindClose, Conn: "c1", By: trace.Proxy, Code: 1001, Reason: "shutting down"}
	errRec   = &trace.Record{Kind: trace.KindError, Conn: "c2", Message: "upstream: connection reset"}
	notJSON  = frame(trace.Client, "c1", `hello: world`)
)

var all = []*trace.Record{delta, readFile, reply, ack, approval, ping, closed, errRec, notJSON}

func TestMatch(t *testing.T) {
	facts := map[*trace.Record]Facts{delta: {Rules: []string{"unacked-seq"}}, reply: {Rules: []string{"orphan-response", "duplicate-request-id"}}}
	cases := []struct {
		filter string
		want   []*trace.Record
	}{
		{"", all},
		{"   ", all},
		{"type:stream_delta", []*trace.Record{delta}},
		{"type:read_file*", []*trace.Record{readFile, reply}},
		{"from:client", []*trace.Record{readFile, ack, approval, ping, notJSON}},
		{"from:proxy", []*trace.Record{closed}},
		{"conn:c2", []*trace.Record{delta, ack, errRec}},
		{"conn:c2 from:server", []*trace.Record{delta}},
		{"req:rf-3", []*trace.Record{readFile, reply}},
		{"req:perm-1", []*trace.Record{approval}},
		{"req:rf*", []*trace.Record{readFile, reply}},
		{"rule:unacked-seq", []*trace.Record{delta}},
		{"rule:duplicate-request-id", []*trace.Record{reply}},
		{"rule:*", []*trace.Record{delta, reply}},
		{"-rule:*", []*trace.Record{readFile, ack, approval, ping, closed, errRec, notJSON}},
		{"seq:30", []*trace.Record{delta, ack}},
		{"seq:1-29", nil},
		{"seq:29-31 type:ack", []*trace.Record{ack}},
		{"event_seq:12", []*trace.Record{delta}},
		{"event_seq:0-11", nil},
		{"kind:close", []*trace.Record{closed}},
		{"kind:error", []*trace.Record{errRec}},
		{"op:ping", []*trace.Record{ping}},
		{"-kind:frame", []*trace.Record{closed, errRec}},
		{"hello", []*trace.Record{delta, notJSON}},   // smart case: lower case folds
		{"Hello", []*trace.Record{delta}},            // upper case is exact
		{`"hello world"`, []*trace.Record{delta}},    // quoted: spaces kept
		{`"hello: world"`, []*trace.Record{notJSON}}, // quoted: colon is text
		{`-"hello"`, []*trace.Record{readFile, reply, ack, approval, ping, closed, errRec}},
		{"shutting", []*trace.Record{closed}},      // close reason
		{"reset conn:c2", []*trace.Record{errRec}}, // error message
		{"line:7", []*trace.Record{delta, readFile, reply, ack, approval, notJSON}},
		{"line:8-9", nil},
		{"type:ping", nil}, // a ping control frame has no type
		{"-type:ack from:client op:text", []*trace.Record{readFile, approval, notJSON}},
	}
	for _, c := range cases {
		f, err := Parse(c.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filter, err)
		}
		var got []*trace.Record
		for _, r := range all {
			if f.Match(r, facts[r]) {
				got = append(got, r)
			}
		}
		if !same(got, c.want) {
			t.Errorf("%q matched %s, want %s", c.filter, names(got), names(c.want))
		}
	}
}

func same(a, b []*trace.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func names(rs []*trace.Record) string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r.Kind)+":"+string(r.Payload)+r.Reason+r.Message)
	}
	return "[" + strings.Join(s, " | ") + "]"
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		filter, term string
		offset, idx  int
		msg          string
	}{
		{"seq:abc", "seq:abc", 0, 1, "seq: wants a non-negative integer"},
		{"from:client seq:9-3", "seq:9-3", 12, 2, "A <= B"},
		{"type:x  foo:bar", "foo:bar", 8, 2, `unknown key "foo"`},
		{"rule:no-such-rule", "rule:no-such-rule", 0, 1, `unknown rule "no-such-rule"`},
		{"from:everyone", "from:everyone", 0, 1, "client, server or proxy"},
		{"kind:frames", "kind:frames", 0, 1, "kind: wants"},
		{"op:txt", "op:txt", 0, 1, "op: wants"},
		{"type:", "type:", 0, 1, "wants a value"},
		{`a "unterminated`, `"unterminated`, 2, 2, "unterminated quote"},
		{"event_seq:-1", "event_seq:-1", 0, 1, "non-negative"},
	}
	for _, c := range cases {
		_, err := Parse(c.filter)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("Parse(%q) = %v, want *Error", c.filter, err)
		}
		if pe.Term != c.term || pe.Offset != c.offset || pe.Index != c.idx || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("Parse(%q) = %+v, want term %q offset %d index %d msg containing %q", c.filter, pe, c.term, c.offset, c.idx, c.msg)
		}
		if !strings.Contains(err.Error(), c.term) {
			t.Errorf("error %q does not name the term %q", err, c.term)
		}
	}
}

func TestString(t *testing.T) {
	f, err := Parse("  type:ack   from:client ")
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != "type:ack   from:client" || f.Empty() || f.NeedsText() {
		t.Errorf("String %q Empty %v NeedsText %v", f.String(), f.Empty(), f.NeedsText())
	}
	g, _ := Parse("x -type:ack")
	if !g.NeedsText() {
		t.Error("free text filter does not report NeedsText")
	}
	e, _ := Parse("")
	if !e.Empty() || e.String() != "" {
		t.Error("empty filter is not empty")
	}
	var nilF *Filter
	if !nilF.Match(delta, Facts{}) || nilF.String() != "" {
		t.Error("nil filter must match everything")
	}
	if len(Keys()) != len(keys) || Keys()[0].Name != "type" {
		t.Errorf("Keys() = %v", Keys())
	}
}

func TestMatchTermsThenText(t *testing.T) {
	f := MustParse("from:server world -type:ack")
	for _, r := range all {
		x := FieldsOf(r, Facts{})
		both := f.MatchTerms(&x) && f.MatchText(&x)
		if both != f.MatchFields(&x) {
			t.Errorf("%s: MatchTerms && MatchText = %v, MatchFields = %v", names([]*trace.Record{r}), both, !both)
		}
	}
	x := FieldsOf(delta, Facts{})
	x.Text = nil
	if !f.MatchTerms(&x) || f.MatchText(&x) {
		t.Error("MatchTerms must ignore the text and MatchText look only at it")
	}
}

func TestMatchFieldsNoAlloc(t *testing.T) {
	f := MustParse("type:stream_delta from:server world seq:1-100 -rule:*")
	x := FieldsOf(delta, Facts{})
	if !f.MatchFields(&x) {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(100, func() { f.MatchFields(&x) }); n != 0 {
		t.Errorf("MatchFields allocates %v times", n)
	}
}

func TestContainsFold(t *testing.T) {
	cases := []struct {
		s, needle string
		want      bool
	}{
		{"Hello World", "world", true},
		{"Hello World", "hello world", true},
		{"HELLO", "hello", true},
		{"hell", "hello", false},
		{"aAaAab", "aab", true},
		{"", "a", false},
		{"x", "", true},
		{"wWorld", "world", true},
		{"12:34", "2:3", true},
	}
	for _, c := range cases {
		if got := containsFold([]byte(c.s), []byte(c.needle)); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v", c.s, c.needle, got)
		}
	}
}

// containsFold agrees with lower-casing both sides, on random ASCII.
func TestContainsFoldAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alpha = "aAbB:7_\" e"
	for k := 0; k < 20000; k++ {
		s := make([]byte, rng.IntN(12))
		for i := range s {
			s[i] = alpha[rng.IntN(len(alpha))]
		}
		n := make([]byte, 1+rng.IntN(4))
		for i := range n {
			n[i] = strings.ToLower(alpha)[rng.IntN(len(alpha))]
		}
		want := strings.Contains(strings.ToLower(string(s)), string(n))
		if got := containsFold(s, n); got != want {
			t.Fatalf("containsFold(%q, %q) = %v, want %v", s, n, got, want)
		}
	}
}

func BenchmarkMatchFields(b *testing.B) {
	f := MustParse("from:server world")
	x := FieldsOf(delta, Facts{})
	for i := 0; i < b.N; i++ {
		f.MatchFields(&x)
	}
}
