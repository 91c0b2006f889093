package har

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

func readTrace(t *testing.T, path string) []*trace.Record {
	t.Helper()
	rd, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []*trace.Record
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

// dataFrames are the text and binary frames: what a HAR carries.
func dataFrames(recs []*trace.Record) []*trace.Record {
	var out []*trace.Record
	for _, r := range recs {
		if r.Kind == trace.KindFrame && (r.Op == trace.OpText || r.Op == trace.OpBinary) {
			out = append(out, r)
		}
	}
	return out
}

func TestRoundTripSamples(t *testing.T) {
	for _, path := range []string{"../traces/sim-turn-approval.jsonl.zst", "../traces/real-device-paired-full.jsonl.zst"} {
		recs := readTrace(t, path)
		var b bytes.Buffer
		if err := Write(&b, recs, "test"); err != nil {
			t.Fatal(err)
		}
		back, err := Read(&b, "x.har")
		if err != nil {
			t.Fatal(err)
		}
		want, got := byConn(dataFrames(recs)), byConn(dataFrames(back))
		if len(want) != len(got) || len(want) == 0 {
			t.Fatalf("%s: %d connections back, want %d", path, len(got), len(want))
		}
		// Connections are renumbered c1, c2, … in start order; frames keep
		// their order within a connection (across connections, frames at
		// the same time may change places: a HAR orders them only by time).
		for i := range want {
			if len(want[i]) != len(got[i]) {
				t.Fatalf("%s connection %d: %d frames, want %d", path, i, len(got[i]), len(want[i]))
			}
			for j, w := range want[i] {
				g := got[i][j]
				if w.From != g.From || w.Op != g.Op || !bytes.Equal(w.Payload, g.Payload) || w.T.Sub(g.T).Abs() > time.Microsecond {
					t.Fatalf("%s %s frame %d:\n got %s %s %s %q\nwant %s %s %s %q", path, w.Conn, j, g.T, g.From, g.Op, g.Payload, w.T, w.From, w.Op, w.Payload)
				}
			}
		}
		for i := 1; i < len(back); i++ {
			if back[i].T.Before(back[i-1].T) {
				t.Fatalf("%s: record %d goes back in time", path, i)
			}
		}
	}
}

// byConn groups frames by connection, connections in order of first
// frame.
func byConn(recs []*trace.Record) [][]*trace.Record {
	idx := map[string]int{}
	var out [][]*trace.Record
	for _, r := range recs {
		i, ok := idx[r.Conn]
		if !ok {
			i = len(out)
			idx[r.Conn] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], r)
	}
	return out
}

func TestReadChromeFixture(t *testing.T) {
	f, err := os.Open("testdata/chrome-format.har")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := Read(f, "chrome-format.har")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		s := string(r.Kind) + " " + r.Conn
		switch r.Kind {
		case trace.KindFrame:
			s += " " + string(r.From) + " " + string(r.Op) + " " + string(r.Payload)
		case trace.KindOpen:
			s += " " + r.Open.Upstream + " " + r.Open.Session.String()
		case trace.KindHTTP:
			s += " " + r.HTTP.Method + " " + r.HTTP.URL
		}
		got = append(got, s)
	}
	want := []string{
		"http h1 GET /v1/environments?onlineOnly=true",
		"open c1 ws://127.0.0.1:8765 conn-1/agent-1/default#control",
		`frame c1 client text {"type":"sync","request_id":"sync-1","recover_approvals":true,"runtime":{"agent_id":"agent-1","conversation_id":"default"}}`,
		`frame c1 client text {"type":"ping"}`,
		`frame c1 server text {"type":"sync_response","seq":1,"request_id":"sync-1","success":true}`,
		`frame c1 server text {"type":"pong","timestamp":1764581400134}`,
		`frame c1 client text {"type":"ack","seq":1}`,
		`frame c1 client text {"type":"list_models","request_id":"lm-2","runtime":{"agent_id":"agent-1","conversation_id":"default"}}`,
		`frame c1 server text {"type":"list_models_response","seq":2,"request_id":"lm-2","success":true,"models":[{"handle":"anthropic/claude"}]}`,
		`frame c1 client text {"type":"ack","seq":2}`,
		"frame c1 server binary \x00\x01\x02\x03",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ts := recs[2].T.Format(time.RFC3339Nano); ts != "2025-12-01T09:30:00.131543Z" {
		t.Errorf("first message time %s", ts)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"log": {"entries": [}`, "x.har: not a HAR file: byte offset 22"},
		{`[1,2]`, "not a HAR file"},
		{`{"foo": 1}`, `no "log" with "entries"`},
		{`{"log":{"entries":[{"startedDateTime":"yesterday","request":{"url":"ws://h/x"}}]}}`, `entry 0: startedDateTime "yesterday"`},
		{`{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"url":"/rel"}}]}}`, `entry 0: request url "/rel" is not an absolute URL`},
		{`{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"url":"ws://h/x"},"_webSocketMessages":[{"type":"send","opcode":2,"data":"!!"}]}]}}`,
			"entry 0, _webSocketMessages[0]: binary data is not base64"},
		{`{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"url":"ws://h/x"},"_webSocketMessages":[{"type":"sent","opcode":1,"data":"x"}]}]}}`,
			`type "sent": want send or receive`},
	} {
		_, err := Read(strings.NewReader(c.in), "x.har")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.in, err, c.want)
		}
	}
}

func TestSniff(t *testing.T) {
	for s, want := range map[string]bool{`{"log":{}}`: true, "\n  {\n \"log\": {": true, "\xef\xbb\xbf{\"log\":": true, `{"kind":"header"}`: false, `{"kind":"frame","msg":{"log":1}}`: false, "\xd4\xc3\xb2\xa1": false, "": false} {
		if Sniff([]byte(s)) != want {
			t.Errorf("Sniff(%q) = %v", s, !want)
		}
	}
}

// FuzzRead: no input panics Read.
func FuzzRead(f *testing.F) {
	b, _ := os.ReadFile("testdata/chrome-format.har")
	f.Add(b)
	f.Add([]byte(`{"log":{"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"url":"ws://h/x"},"_webSocketMessages":[{"type":"send","opcode":9,"data":""}]}]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		Read(bytes.NewReader(in), "fuzz.har")
	})
}
