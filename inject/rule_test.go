package inject

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

func TestParseRules(t *testing.T) {
	for _, tc := range []struct {
		text string
		want Rule
	}{
		{"drop from=server has=event_seq nth=50", Rule{Action: Drop, From: "server", Has: "event_seq", Nth: 50, P: 1}},
		{"  duplicate   p=0.1 type=stream_delta ", Rule{Action: Duplicate, Type: "stream_delta", P: 0.1}},
		{"delay=250ms reply-to=list_models count=1", Rule{Action: Delay, Duration: 250 * time.Millisecond, ReplyTo: "list_models", Count: 1, P: 1}},
		{"reorder=3 channel=stream", Rule{Action: Reorder, N: 3, Channel: "stream", P: 1}},
		{"close=1011 nth=200", Rule{Action: Close, Code: 1011, Nth: 200, P: 1}},
		{"from=client type=ack drop", Rule{Action: Drop, From: "client", Type: "ack", P: 1}},
		{"stall=2s after=10s", Rule{Action: Stall, Duration: 2 * time.Second, After: 10 * time.Second, hasAfter: true, P: 1}},
		{"truncate count=1", Rule{Action: Truncate, Count: 1, P: 1}},
		{"inject=bogus.json type=list_models", Rule{Action: Inject, File: "bogus.json", Type: "list_models", P: 1}},
		{"corrupt\tp=1", Rule{Action: Corrupt, P: 1}},
	} {
		r, err := Parse(tc.text)
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		tc.want.Text = strings.TrimSpace(tc.text)
		if *r != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.text, *r, tc.want)
		}
	}
}

// TestParseErrorsPointAtTheTerm: every bad rule gets an *Error whose
// offset is the start of the offending term (or its value).
func TestParseErrorsPointAtTheTerm(t *testing.T) {
	for _, tc := range []struct {
		text, at, msg string // at: the text at the error's offset
	}{
		{"drop tpye=ack", "tpye=ack", `unknown term "tpye"`},
		{"drop from=sever", "sever", "want client or server"},
		{"delay=fast", "fast", "positive duration"},
		{"delay=-1s", "-1s", "positive duration"},
		{"drop p=2", "2", "probability"},
		{"drop p=0", "0", "probability"},
		{"drop count=0", "0", "positive integer"},
		{"drop nth=x", "x", "positive integer"},
		{"close=999", "999", "close code"},
		{"close=1005", "1005", "close code"},
		{"reorder=0", "0", "1 to 1000"},
		{"drop duplicate", "duplicate", "a second action"},
		{"drop type=a type=b", "type=b", "given twice"},
		{"type=ack from=client", "type=ack", "no action"},
		{"drop=1", "drop=1", "takes no value"},
		{"drop has=seqq", "seqq", "has=seqq: want one of event_seq"},
		{"drop channel=ctl", "ctl", "control, stream or single"},
		{"drop type=", "type=", "needs a value"},
		{"", "", "empty rule"},
		{"drop after=soon", "soon", "duration"},
	} {
		_, err := Parse(tc.text)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v, want *Error", tc.text, err)
			continue
		}
		if pe.Offset < 0 || pe.Offset > len(tc.text) || !strings.HasPrefix(tc.text[pe.Offset:], tc.at) {
			t.Errorf("%q: offset %d, want the start of %q", tc.text, pe.Offset, tc.at)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.msg) || !strings.Contains(msg, tc.text) || !strings.Contains(msg, "^") {
			t.Errorf("%q: message %q, want %q, the rule and a caret", tc.text, msg, tc.msg)
		}
	}
}

func TestParseFileNamesTheLine(t *testing.T) {
	rules, err := ParseFile("f.rules", []byte("# faults\n\ndrop type=a   # the first\nduplicate type=b\n"))
	if err != nil || len(rules) != 2 || rules[0].Type != "a" || rules[1].Action != Duplicate {
		t.Fatalf("rules %v, err %v", rules, err)
	}
	_, err = ParseFile("f.rules", []byte("drop type=a\n  drop nth=x\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "f.rules:2:") || !strings.Contains(err.Error(), "nth=x") {
		t.Fatalf("error %v, want f.rules:2: naming nth=x", err)
	}
}

func TestInjectFileMustHoldOneJSONObject(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ok.json"), []byte(`{"type":"sync"}`+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"type":`), 0o600)
	for name, want := range map[string]string{"ok.json": "", "bad.json": "does not hold one JSON object", "missing.json": "no such file"} {
		r, _ := Parse("inject=" + name)
		_, err := New([]*Rule{r}, Options{Dir: dir})
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
}

func frameRec(from trace.Side, payload string) *trace.Record {
	return &trace.Record{Kind: trace.KindFrame, From: from, Op: trace.OpText, Payload: []byte(payload)}
}

// decisions runs a fixed traffic of n server events and client acks
// through a fresh engine and returns the indices of the messages each rule
// fired on.
func decisions(t *testing.T, seed uint64, n int, rules ...string) []string {
	var rs []*Rule
	for _, s := range rules {
		r, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	e, err := New(rs, Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1000, 0)
	var out []string
	for _, url := range []string{"/v1/environments/e/status/ws?channel=control", "/v1/environments/e/status/ws?channel=stream"} {
		c := e.Open(url, start)
		for i := range n {
			ev := frameRec(trace.Server, fmt.Sprintf(`{"type":"stream_delta","event_seq":%d,"seq":%d}`, i, i))
			if v := c.Decide(trace.Server, ev, start.Add(time.Duration(i)*time.Second)); v.Rule != nil {
				out = append(out, url[len(url)-7:]+" server "+itoa(i)+" "+v.Rule.Action.String())
			}
			ack := frameRec(trace.Client, fmt.Sprintf(`{"type":"ack","seq":%d}`, i))
			if v := c.Decide(trace.Client, ack, start.Add(time.Duration(i)*time.Second)); v.Rule != nil {
				out = append(out, url[len(url)-7:]+" client "+itoa(i)+" "+v.Rule.Action.String())
			}
		}
	}
	return out
}

func itoa(i int) string { return fmt.Sprintf("%03d", i) }

func TestSameSeedSameFaults(t *testing.T) {
	rules := []string{"drop from=server has=event_seq p=0.1", "duplicate type=ack p=0.05", "delay=1s p=0.2 after=30s"}
	a, b := decisions(t, 7, 200, rules...), decisions(t, 7, 200, rules...)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	// Expected about 40 drops, 20 duplicates and 0.2 × 680 delays (minus overlaps).
	if len(a) < 120 || len(a) > 220 {
		t.Fatalf("%d faults, implausible: %v", len(a), a)
	}
	if c := decisions(t, 8, 200, rules...); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Fatalf("seeds 7 and 8 gave the same faults")
	}
}

func TestMatchesAndCounts(t *testing.T) {
	got := decisions(t, 1, 10, "drop from=server nth=4 count=1", "close=1011 from=client nth=3")
	want := []string{"control client 002 close", "control server 003 drop", "control client 005 close", "control client 008 close",
		"=stream client 002 close", "=stream server 003 drop", "=stream client 005 close", "=stream client 008 close"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := decisions(t, 1, 10, "drop channel=stream type=ack after=8s"); strings.Join(got, "|") != "=stream client 008 drop|=stream client 009 drop" {
		t.Fatalf("channel/after: %q", got)
	}
}

func TestReplyTo(t *testing.T) {
	r, _ := Parse("drop reply-to=list_models")
	e, _ := New([]*Rule{r}, Options{})
	c := e.Open("/v1/environments/e/status/ws?channel=control", time.Time{})
	c.Decide(trace.Client, frameRec(trace.Client, `{"type":"list_models","request_id":"m1"}`), time.Time{})
	c.Decide(trace.Client, frameRec(trace.Client, `{"type":"read_file","request_id":"f1"}`), time.Time{})
	for _, tc := range []struct {
		msg  string
		fire bool
	}{
		{`{"type":"read_file_response","request_id":"f1"}`, false},
		{`{"type":"list_models_response","request_id":"other"}`, false},
		{`{"type":"list_models_response","request_id":"m1"}`, true},
		{`{"type":"list_models_response","request_id":"m1"}`, false}, // answered already
	} {
		if v := c.Decide(trace.Server, frameRec(trace.Server, tc.msg), time.Time{}); (v.Rule != nil) != tc.fire {
			t.Errorf("%s: fired %v, want %v", tc.msg, v.Rule != nil, tc.fire)
		}
	}
	if s := e.Stats(); s[0].Faults != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestCorruptedIsNeverJSON(t *testing.T) {
	for _, p := range []string{"", "{}", `{"a":1}`, `{"type":"é"}`, "x"} {
		c := Corrupted([]byte(p))
		if len(c) == 0 || (len(c) >= 2 && c[0] == '{' && c[len(c)-1] == '}' && validJSON(c)) {
			t.Errorf("Corrupted(%q) = %q", p, c)
		}
	}
}

func validJSON(b []byte) bool {
	return jsonValid(b)
}
