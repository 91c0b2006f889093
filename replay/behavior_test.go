package replay_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/replay"
	"github.com/lettadev/wsproxy/trace"
)

func dial(t *testing.T, u string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func send(t *testing.T, ws *websocket.Conn, p string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(p)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, p, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// bye closes a socket with a handshake and waits for the reply.
func bye(ws *websocket.Conn) {
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

func twoCommands() *tb {
	b := newTB()
	b.open("s1", "/ws")
	b.client("s1", `{"type":"read_file","path":"/a","request_id":"rf-1"}`)
	b.server("s1", `{"type":"read_file_response","request_id":"rf-1","content":"a","success":true}`)
	b.client("s1", `{"type":"list_models","request_id":"lm-1"}`)
	b.server("s1", `{"type":"list_models_response","request_id":"lm-1","entries":[],"success":true}`)
	b.close("s1", trace.Client, 1000, "")
	return b
}

func TestOutOfOrder(t *testing.T) {
	b := twoCommands()
	srv := replay.NewTestServer(t, b.write(t), testOpts())
	ws := dial(t, srv.URL+"/ws")
	send(t, ws, `{"type":"list_models","request_id":"mine-lm"}`)
	if got := read(t, ws); !strings.Contains(got, `"rf-1"`) {
		t.Errorf("first frame %s", got)
	}
	if got := read(t, ws); !strings.Contains(got, `"mine-lm"`) {
		t.Errorf("second frame %s", got)
	}
	send(t, ws, `{"type":"read_file","path":"/a","request_id":"mine-rf"}`)
	bye(ws)
	r := srv.Report()
	if r.Totals.OutOfOrder != 1 || r.Divergences() != 1 || r.Sessions[0].OutOfOrder[0].Line != lineOf(b.recs, trace.Client, "read_file") {
		t.Fatalf("want read_file out of order:\n%s\n%v", r, r.All())
	}
}

// A client that sends nothing: each awaited frame times out, is reported
// missing, and the replay goes on.
func TestTimeoutGoesOn(t *testing.T) {
	b := twoCommands()
	o := testOpts()
	o.Timeout = 150 * time.Millisecond
	srv := replay.NewTestServer(t, b.write(t), o)
	ws := dial(t, srv.URL+"/ws")
	start := time.Now()
	read(t, ws)
	read(t, ws)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("replies came after %v, want two timeouts", d)
	}
	bye(ws)
	r := srv.Report()
	if r.Totals.Missing != 2 || !strings.Contains(r.Sessions[0].Missing[0].Reason, "within 150ms") {
		t.Fatalf("want two missing frames:\n%s\n%v", r, r.All())
	}
}

func TestWrongSocket(t *testing.T) {
	b := newTB()
	b.open("c1", statusURL("conn-1", "control")).open("c2", statusURL("conn-1", "stream"))
	b.client("c1", `{"type":"list_models","request_id":"lm-1"}`)
	b.server("c1", `{"type":"list_models_response","request_id":"lm-1","entries":[]}`)
	srv := replay.NewTestServer(t, b.write(t), testOpts())
	ctl := dial(t, srv.SessionURL(1, "control"))
	str := dial(t, srv.SessionURL(1, "stream"))
	send(t, str, `{"type":"list_models","request_id":"mine"}`)
	if got := read(t, ctl); got != `{"type":"list_models_response","request_id":"mine","entries":[]}` {
		t.Errorf("reply %s", got)
	}
	bye(ctl)
	bye(str)
	r := srv.Report()
	if r.Totals.Mismatch != 1 || r.Divergences() != 1 || !strings.Contains(r.Sessions[0].Mismatch[0].Reason, "sent on the stream socket") {
		t.Fatalf("want one mismatch:\n%s\n%v", r, r.All())
	}
}

func seqTrace() *tb {
	b := newTB()
	b.open("s1", "/ws")
	b.client("s1", `{"type":"sync","request_id":"s"}`)
	b.server("s1", `{"type":"update_loop_status","seq":1,"event_seq":1}`)
	b.server("s1", `{"type":"sync_response","request_id":"s","seq":2}`)
	b.close("s1", trace.Client, 1000, "")
	return b
}

func TestAcks(t *testing.T) {
	path := seqTrace().write(t)
	// An ack for a seq never sent is a divergence.
	srv := replay.NewTestServer(t, path, testOpts())
	ws := dial(t, srv.URL+"/ws")
	send(t, ws, `{"type":"sync","request_id":"x"}`)
	read(t, ws)
	read(t, ws)
	send(t, ws, `{"type":"ack","seq":2}`)
	send(t, ws, `{"type":"ack","seq":1}`)
	send(t, ws, `{"type":"ack","seq":5}`)
	bye(ws)
	r := srv.Report()
	c := r.Sessions[0].Conns[0]
	if r.Totals.Acks != 1 || r.Divergences() != 1 || c.SeqSent != 2 || c.Acked != 2 || c.Unacked != 0 ||
		!strings.Contains(r.Sessions[0].Acks[0].Reason, "seq 5") {
		t.Fatalf("want one bad ack:\n%s\n%+v %v", r, c, r.All())
	}

	// With RequireAcks, frames never acked are a divergence.
	o := testOpts()
	o.RequireAcks = true
	srv2 := replay.NewTestServer(t, path, o)
	ws2 := dial(t, srv2.URL+"/ws")
	send(t, ws2, `{"type":"sync","request_id":"x"}`)
	read(t, ws2)
	read(t, ws2)
	send(t, ws2, `{"type":"ack","seq":1}`)
	bye(ws2)
	r = srv2.Report()
	if r.Totals.Acks != 1 || r.Sessions[0].Conns[0].Unacked != 1 {
		t.Fatalf("want the unacked seq reported:\n%s\n%v", r, r.All())
	}
}

// A recorded server close is replayed with its code.
func TestRecordedCloseCodes(t *testing.T) {
	for _, c := range []struct {
		code, want int
		reason     string
	}{
		{4001, 4001, "custom"},
		{1000, 1000, "done"},
		{1005, websocket.CloseNoStatusReceived, ""},
		{1006, websocket.CloseAbnormalClosure, ""},
	} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			b := newTB()
			b.open("s1", "/ws").server("s1", `{"type":"hello"}`).close("s1", trace.Server, c.code, c.reason)
			srv := replay.NewTestServer(t, b.write(t), testOpts())
			ws := dial(t, srv.URL+"/ws")
			read(t, ws)
			_, _, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != c.want || (c.code != 1006 && ce.Text != c.reason) {
				t.Fatalf("got %v, want close %d %q", err, c.want, c.reason)
			}
			srv.RequireNoDivergence()
		})
	}
}

// Large, binary and boundary-sized frames arrive byte-exact.
func TestFrameSizes(t *testing.T) {
	b := newTB()
	b.open("s1", "/ws")
	var want [][]byte
	for _, n := range []int{0, 125, 126, 65535, 65536, 200_000} {
		p := fmt.Sprintf(`{"type":"blob","data":"%s"}`, strings.Repeat("x", n))
		b.server("s1", p)
		want = append(want, []byte(p))
	}
	bin := []byte{0, 1, 2, 0xfe, 0xff}
	b.recs = append(b.recs, &trace.Record{Kind: trace.KindFrame, T: b.next(), Conn: "s1", From: trace.Server, Op: trace.OpBinary, Payload: bin, Size: len(bin)})
	want = append(want, bin)
	srv := replay.NewTestServer(t, b.write(t), testOpts())
	ws := dial(t, srv.URL+"/ws")
	for i, w := range want {
		mt, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, w) || (i == len(want)-1) != (mt == websocket.BinaryMessage) {
			t.Errorf("frame %d: %d bytes (type %d), want %d", i, len(p), mt, len(w))
		}
	}
	bye(ws)
	srv.RequireNoDivergence()
}

// Closing the server closes live sockets with 1001 and stops every
// goroutine (goleak checks the latter).
func TestServerCloseWhileServing(t *testing.T) {
	srv, err := replay.NewServer(twoSocketTrace().write(t), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ws := dial(t, "ws"+strings.TrimPrefix(hs.URL, "http")+statusURL("conn-1", "control"))
	send(t, ws, `{"type":"sync","request_id":"x"}`)
	done := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				done <- err
				return
			}
		}
	}()
	srv.Close()
	err = <-done
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("got %v, want 1001", err)
	}
	r := srv.Report()
	if len(r.Sessions) != 1 || !r.Sessions[0].Done {
		t.Errorf("report after Close: %s", r)
	}
}
