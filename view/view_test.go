package view

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func frame(ms int, conn string, from trace.Side, p string) *trace.Record {
	return &trace.Record{Kind: trace.KindFrame, T: t0.Add(time.Duration(ms) * time.Millisecond), Conn: conn, From: from,
		Op: trace.OpText, Payload: []byte(p), Size: len(p), Line: int64(ms)}
}

func TestLine(t *testing.T) {
	r := frame(1500, "c1", trace.Client, `{"type":"read_file","request_id":"rf-1","path":"/a\nb","runtime":{"agent_id":"x"}}`)
	got := string(AppendLine(nil, r, t0, Options{}))
	want := `  1500   1.500000 c1   → read_file                  req=rf-1                         82B  path="/a⏎b"`
	if got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	r = frame(2, "c2", trace.Server, `{"type":"stream_delta","seq":7,"event_seq":12,"delta":{"text":"hi"}}`)
	if got := string(AppendLine(nil, r, t0, Options{Color: true})); !strings.Contains(got, "\x1b[32m←\x1b[0m") || !strings.Contains(got, "seq=7 ev=12") {
		t.Errorf("coloured: %q", got)
	}
	bin := &trace.Record{Kind: trace.KindFrame, T: t0, Conn: "c1", From: trace.Server, Op: trace.OpBinary, Payload: []byte{0xff, 0}, Size: 2}
	if got := Describe(bin, nil); got.Type != "binary" || got.Summary != "base64 /wA=" {
		t.Errorf("binary: %+v", got)
	}
	cl := &trace.Record{Kind: trace.KindClose, Conn: "c1", By: trace.Proxy, Code: 1001, Reason: "going away"}
	if got := Describe(cl, nil).Summary; got != `by proxy code 1001 "going away"` {
		t.Errorf("close: %q", got)
	}
}

func TestShowJSONColours(t *testing.T) {
	var b bytes.Buffer
	r := frame(5, "c1", trace.Server, `{"type":"x","n":-1.5e3,"ok":true,"s":"a\"b:","z":null}`)
	if err := Show(&b, r, t0, true, Options{Color: true, File: "t.jsonl"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"▶ t.jsonl:5  c1 x", "\x1b[34m\"type\"\x1b[0m: \x1b[32m\"x\"\x1b[0m", "\x1b[36m-1.5e3\x1b[0m",
		"\x1b[35mtrue\x1b[0m", "\x1b[32m\"a\\\"b:\"\x1b[0m", "\x1b[35mnull\x1b[0m"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%q", want, out)
		}
	}
	b.Reset()
	Show(&b, frame(6, "c1", trace.Client, "plain\ntext"), t0, false, Options{})
	if !strings.Contains(b.String(), "  plain\n  text\n") || strings.Contains(b.String(), "\x1b") {
		t.Errorf("text: %q", b.String())
	}
}

func TestCollector(t *testing.T) {
	c := NewCollector(nil)
	c.Write(&trace.Record{Kind: trace.KindOpen, T: t0, Conn: "c1", Open: &trace.Open{}})
	for i := 0; i < 100; i++ {
		id := `"r` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `"`
		c.Write(frame(i*10, "c1", trace.Client, `{"type":"list_models","request_id":`+id+`}`))
		if i < 99 {
			// reply after i+1 ms; a wrong-typed reply first is not the answer
			c.Write(frame(i*10, "c1", trace.Server, `{"type":"stream_delta","request_id":`+id+`}`))
			c.Write(frame(i*10+i+1, "c1", trace.Server, `{"type":"list_models_response","request_id":`+id+`}`))
		}
	}
	c.Write(&trace.Record{Kind: trace.KindClose, T: t0.Add(time.Second), Conn: "c1"})
	s := c.Result()
	if len(s.Latency) != 1 {
		t.Fatalf("%+v", s.Latency)
	}
	l := s.Latency[0]
	if l.Command != "list_models" || l.Answered != 99 || l.Unanswered != 1 || l.P50 != 50 || l.P99 != 99 || l.Max != 99 {
		t.Errorf("%+v", l)
	}
	var sum int64
	for _, ty := range s.Types {
		sum += ty.Count
	}
	if s.Frames != 298 || sum != s.Frames || s.Types[0].Type != "list_models" || s.Types[0].Count != 100 {
		t.Errorf("frames %d, types %+v", s.Frames, s.Types)
	}
}

func TestExcerpt(t *testing.T) {
	var got []string
	x := NewExcerpt(trace.SinkFunc(func(r *trace.Record) error {
		got = append(got, string(r.Kind)+" "+r.Conn)
		return nil
	}))
	recs := []*trace.Record{
		{Kind: trace.KindOpen, Conn: "c1"}, {Kind: trace.KindOpen, Conn: "c2"},
		frame(1, "c1", trace.Client, "{}"), frame(2, "c2", trace.Client, "{}"),
		{Kind: trace.KindClose, Conn: "c1"}, {Kind: trace.KindClose, Conn: "c2"},
	}
	for _, r := range recs {
		x.Offer(r, r.Kind == trace.KindFrame && r.Conn == "c2")
	}
	if strings.Join(got, ",") != "open c2,frame c2,close c2" {
		t.Errorf("%v", got)
	}
}
