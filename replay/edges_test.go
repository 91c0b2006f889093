package replay_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/replay"
	"github.com/lettadev/wsproxy/trace"
)

// seqOf returns a frame's transport seq, failing when it has none.
func seqOf(t *testing.T, p string) int64 {
	t.Helper()
	e, err := protocol.Parse([]byte(p))
	if err != nil || !e.HasSeq {
		t.Fatalf("no seq in %s", p)
	}
	return e.Seq
}

// pongTrace has a recorded pong with a seq between two events.
func pongTrace() *tb {
	b := newTB()
	b.open("s1", "/ws")
	b.client("s1", `{"type":"sync","request_id":"s"}`)
	b.server("s1", `{"type":"update_queue","seq":1,"event_seq":1}`)
	b.client("s1", `{"type":"ack","seq":1}`)
	b.client("s1", `{"type":"ping"}`)
	b.server("s1", `{"type":"pong","seq":2,"timestamp":1}`)
	b.client("s1", `{"type":"ack","seq":2}`)
	b.client("s1", `{"type":"list_models","request_id":"lm"}`)
	b.server("s1", `{"type":"list_models_response","request_id":"lm","seq":3,"entries":[]}`)
	b.client("s1", `{"type":"ack","seq":3}`)
	b.close("s1", trace.Client, 1000, "")
	return b
}

// Every server frame the replay sends on a socket, recorded or its own
// pong, continues the socket's seq numbering, and acks are checked
// against what was sent.
func TestSeqStaysContiguous(t *testing.T) {
	path := pongTrace().write(t)
	t.Run("the client pings as recorded", func(t *testing.T) {
		srv := replay.NewTestServer(t, path, testOpts())
		ws := dial(t, srv.URL+"/ws")
		send(t, ws, `{"type":"sync","request_id":"x"}`)
		if n := seqOf(t, read(t, ws)); n != 1 {
			t.Fatalf("first seq %d", n)
		}
		send(t, ws, `{"type":"ack","seq":1}`)
		send(t, ws, `{"type":"ping"}`)
		pong := read(t, ws)
		if !strings.Contains(pong, `"type":"pong"`) || seqOf(t, pong) != 2 {
			t.Fatalf("pong %s, want seq 2", pong)
		}
		send(t, ws, `{"type":"ack","seq":2}`)
		send(t, ws, `{"type":"list_models","request_id":"mine"}`)
		if n := seqOf(t, read(t, ws)); n != 3 {
			t.Fatalf("reply seq %d, want 3", n)
		}
		send(t, ws, `{"type":"ack","seq":3}`)
		bye(ws)
		r := srv.RequireNoDivergence()
		if c := r.Sessions[0].Conns[0]; c.SeqSent != 3 || c.Acked != 3 {
			t.Fatalf("conn report %+v", c)
		}
	})
	t.Run("the client does not ping", func(t *testing.T) {
		srv := replay.NewTestServer(t, path, testOpts())
		ws := dial(t, srv.URL+"/ws")
		send(t, ws, `{"type":"sync","request_id":"x"}`)
		read(t, ws)
		send(t, ws, `{"type":"ack","seq":1}`)
		send(t, ws, `{"type":"list_models","request_id":"mine"}`)
		if n := seqOf(t, read(t, ws)); n != 2 {
			t.Fatalf("reply seq %d, want 2: the recorded pong's seq is not skipped", n)
		}
		send(t, ws, `{"type":"ack","seq":2}`)
		send(t, ws, `{"type":"ack","seq":3}`) // the recording's seq, never sent here
		bye(ws)
		r := srv.Report()
		if r.Totals.Acks != 1 || !strings.Contains(r.Sessions[0].Acks[0].Reason, "seq 3") || r.Divergences() != 1 {
			t.Fatalf("want one bad ack for seq 3:\n%s\n%v", r, r.All())
		}
	})
}

// When the recording has the client closing, the replay waits for the
// client's close and echoes it, even with no linger at all: it does not
// close first.
func TestClientCloseIsEchoed(t *testing.T) {
	b := newTB()
	b.open("s1", "/ws")
	b.client("s1", `{"type":"list_models","request_id":"lm"}`)
	b.server("s1", `{"type":"list_models_response","request_id":"lm","entries":[]}`)
	b.close("s1", trace.Client, 1000, "bye")
	o := testOpts()
	o.Linger, o.Timeout = time.Nanosecond, time.Minute
	srv := replay.NewTestServer(t, b.write(t), o)
	ws := dial(t, srv.URL+"/ws")
	send(t, ws, `{"type":"list_models","request_id":"mine"}`)
	read(t, ws)
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "live"), time.Now().Add(5*time.Second))
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 {
		t.Fatalf("got %v, want the replay to echo close 4000", err)
	}
	srv.RequireNoDivergence()
}

// When the client under test closes, what it never sent is reported at
// once, not after the timeouts.
func TestClientCloseFinishesAtOnce(t *testing.T) {
	path := twoSocketTrace().write(t)
	o := testOpts()
	o.Timeout, o.Linger = time.Hour, time.Hour
	srv := replay.NewTestServer(t, path, o)
	ws := dial(t, srv.SessionURL(1, "control"))
	bye(ws) // the stream socket never connects; nothing is sent
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Wait(ctx); err != nil {
		t.Fatal("the session is still waiting after its client closed")
	}
	r := srv.Server.Report()
	if r.Totals.Missing == 0 || r.Totals.Matched != 0 {
		t.Fatalf("report:\n%s", r)
	}
}

// writeParts writes recs as the rotated parts of one run, split before
// the records at the given indices, and returns the directory.
func writeParts(t *testing.T, recs []*trace.Record, splits ...int) string {
	t.Helper()
	dir := t.TempDir()
	bounds := append(append([]int{0}, splits...), len(recs))
	for part := 1; part < len(bounds); part++ {
		path := filepath.Join(dir, recorder.PartPath("run.jsonl.zst", part))
		w, err := recorder.Create(path, recorder.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h := trace.NewHeader("replay-test", "1", trace.SourceProxy, time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC))
		h.Header.Part = part
		w.Write(h)
		for i, r := range recs[bounds[part-1]:bounds[part]] {
			c := *r
			c.Line = int64(i + 2)
			w.Write(&c)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A session recorded across rotated parts is served whole from the
// directory, and divergences name the part and its own line.
func TestRotatedPartsServedWhole(t *testing.T) {
	b := twoSocketTrace()
	recs := b.recs
	dir := writeParts(t, recs, 5, 12) // the session spans three parts
	srv, err := replay.NewServerFiles([]string{dir}, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Sessions()); n != 1 {
		t.Fatalf("%d sessions, want the one spanning the parts", n)
	}
	srv.Close()
	ts := replay.NewTestServer(t, dir, testOpts())
	play(t, ts.URL, recs, playOpts{timeout: 5 * time.Second})
	ts.RequireNoDivergence()

	// A command not sent is reported at its part's line.
	ts = replay.NewTestServer(t, dir, testOpts())
	play(t, ts.URL, recs, playOpts{timeout: 5 * time.Second, skip: "list_models", noCheck: true})
	r := ts.Report()
	if len(r.Sessions) != 1 || len(r.Sessions[0].Missing) != 1 {
		t.Fatalf("report:\n%s\n%v", r, r.All())
	}
	m := r.Sessions[0].Missing[0]
	part3 := filepath.Join(dir, recorder.PartPath("run.jsonl.zst", 3))
	// list_models is record 20 of the trace: part 3 starts at record 13.
	if m.Type != "list_models" || m.File != part3 || m.Line != int64(20-12+1) || !strings.Contains(m.String(), part3+" line 9") {
		t.Fatalf("missing entry %+v: %s", m, m)
	}
}
