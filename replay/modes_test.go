package replay_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/replay"
	"github.com/lettadev/wsproxy/trace"
)

// Timed mode keeps the recorded gaps between server frames, scaled.
func TestTimedRespectsScaledGaps(t *testing.T) {
	b := newTB()
	b.step = 100 * time.Millisecond
	b.open("s1", "/ws").client("s1", `{"type":"sync","request_id":"sy"}`)
	for i := 1; i <= 4; i++ {
		b.server("s1", fmt.Sprintf(`{"type":"stream_delta","event_seq":%d}`, i))
	}
	b.close("s1", trace.Server, 1000, "done")
	path := b.write(t)
	o := testOpts()
	o.Mode, o.Speed = replay.Timed, 2
	srv := replay.NewTestServer(t, path, o)
	ws, _, err := websocket.DefaultDialer.Dial(srv.URL+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"sync","request_id":"mine"}`))
	var at []time.Time
	for i := 1; i <= 4; i++ {
		_, p, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, time.Now())
		if want := fmt.Sprintf(`{"type":"stream_delta","event_seq":%d}`, i); string(p) != want {
			t.Fatalf("frame %d: got %s, want %s", i, p, want)
		}
	}
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 || ce.Text != "done" {
		t.Fatalf("want the recorded close 1000 done, got %v", err)
	}
	// Three recorded gaps of 100ms at speed 2: at least 150ms (loosely).
	if d := at[3].Sub(at[0]); d < 120*time.Millisecond {
		t.Errorf("frames came %v apart, want about 150ms", d)
	}
	srv.RequireNoDivergence()
}

// Fast mode does not wait for the client's frames: a client that sends
// nothing gets every frame, and the commands it never sent are missing.
func TestFastDoesNotWait(t *testing.T) {
	b := twoSocketTrace()
	path := b.write(t)
	o := testOpts()
	o.Mode = replay.Fast
	srv := replay.NewTestServer(t, path, o)
	ctl, _, err := websocket.DefaultDialer.Dial(srv.SessionURL(1, "control"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	str, _, err := websocket.DefaultDialer.Dial(srv.SessionURL(1, "stream"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer str.Close()
	for _, c := range []struct {
		ws *websocket.Conn
		n  int
	}{{ctl, 6}, {str, 6}} {
		for i := 0; i < c.n; i++ {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
	}
	ctl.Close()
	str.Close()
	r := srv.Report()
	if r.Totals.Missing != 4 || r.Totals.Sent != 12 {
		t.Errorf("want 12 frames sent and the 4 commands missing:\n%s", r)
	}
}

func sessionsTrace() *tb {
	b := newTB()
	for n := 1; n <= 3; n++ {
		c := fmt.Sprintf("s%d", n)
		b.open(c, "/ws")
		b.client(c, fmt.Sprintf(`{"type":"app_server_info","request_id":"asi-%d"}`, n))
		b.server(c, fmt.Sprintf(`{"type":"app_server_info_response","request_id":"asi-%d","n":%d}`, n, n))
		b.close(c, trace.Client, 1000, "")
	}
	return b
}

func askInfo(t *testing.T, u string) string {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"app_server_info","request_id":"q"}`))
	_, p, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	return string(p)
}

// Several sessions go to successive clients, in recorded order; then the
// server refuses more.
func TestSessionsGoToSuccessiveClients(t *testing.T) {
	path := sessionsTrace().write(t)
	srv := replay.NewTestServer(t, path, testOpts())
	for n := 1; n <= 3; n++ {
		want := fmt.Sprintf(`{"type":"app_server_info_response","request_id":"q","n":%d}`, n)
		if got := askInfo(t, srv.URL+"/ws"); got != want {
			t.Errorf("client %d: got %s, want %s", n, got, want)
		}
	}
	_, resp, err := websocket.DefaultDialer.Dial(srv.URL+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusGone {
		t.Errorf("fourth client: want 410 Gone, got %v %v", err, resp)
	}
	select {
	case <-srv.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after every session was served")
	}
	r := srv.RequireNoDivergence()
	if len(r.Sessions) != 3 || r.Totals.Matched != 3 {
		t.Errorf("report:\n%s", r)
	}
}

func TestSelectSession(t *testing.T) {
	path := sessionsTrace().write(t)
	for _, o := range []replay.Options{{Session: "2"}, {Conn: "s2"}} {
		o.Timeout, o.Linger = time.Second, 10*time.Millisecond
		srv := replay.NewTestServer(t, path, o)
		want := `{"type":"app_server_info_response","request_id":"q","n":2}`
		if got := askInfo(t, srv.URL+"/ws"); got != want {
			t.Errorf("%+v: got %s, want %s", o, got, want)
		}
		srv.RequireNoDivergence()
	}
	if _, err := replay.NewServer(path, replay.Options{Session: "9"}); err == nil || !strings.Contains(err.Error(), "no session") {
		t.Errorf("selecting a missing session: %v", err)
	}
}

// A two-socket session is served over two sockets, matched by channel
// whatever order they connect in; a client asking for a channel the
// recording lacks is refused.
func TestChannelMatching(t *testing.T) {
	b := twoSocketTrace()
	path := b.write(t)
	srv := replay.NewTestServer(t, path, testOpts())
	_, resp, err := websocket.DefaultDialer.Dial(srv.URL+statusURL("conn-1", ""), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("single socket against a control+stream recording: want 409, got %v", err)
	}
	// Open stream first: play opens control first, so reorder the records.
	recs := append([]*trace.Record{b.recs[1], b.recs[0]}, b.recs[2:]...)
	play(t, srv.URL, recs, playOpts{})
	srv.RequireNoDivergence()
}

func TestEnvironments(t *testing.T) {
	path := twoSocketTrace().write(t)
	srv := replay.NewTestServer(t, path, testOpts())
	resp, err := http.Get(srv.HTTP.URL + "/v1/environments?onlineOnly=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Connections []struct {
			ConnectionID string `json:"connectionId"`
		} `json:"connections"`
		HasNextPage *bool `json:"hasNextPage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Connections) != 1 ||
		body.Connections[0].ConnectionID != "conn-1" || body.HasNextPage == nil {
		t.Fatalf("environments: %v %+v", err, body)
	}

	// A recorded answer is served as recorded.
	b := twoSocketTrace()
	b.recs = append([]*trace.Record{{Kind: trace.KindHTTP, T: b.next(), Conn: "h1", HTTP: &trace.HTTP{
		Method: "GET", URL: "/v1/environments?onlineOnly=true", Status: 200,
		ResponseHeaders: map[string][]string{"Content-Type": {"application/json"}},
		ResponseBody:    &trace.Body{Data: []byte(`{"connections":[{"connectionId":"recorded"}],"hasNextPage":false}`), Form: trace.FormMsg, Size: 63},
	}}}, b.recs...)
	srv2 := replay.NewTestServer(t, b.write(t), testOpts())
	resp2, err := http.Get(srv2.HTTP.URL + "/v1/environments?onlineOnly=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var got [128]byte
	n, _ := resp2.Body.Read(got[:])
	if !strings.Contains(string(got[:n]), `"recorded"`) || resp2.Header.Get("Content-Type") != "application/json" {
		t.Errorf("recorded environments answer: %s %v", got[:n], resp2.Header)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notTrace := filepath.Join(dir, "notes.txt")
	os.WriteFile(notTrace, []byte("hello, world\n"), 0o644)
	empty := newTB().write(t)
	onlyHTTP := newTB()
	onlyHTTP.recs = append(onlyHTTP.recs, &trace.Record{Kind: trace.KindHTTP, T: onlyHTTP.next(), Conn: "h1",
		HTTP: &trace.HTTP{Method: "GET", URL: "/v1/environments", Status: 200}})
	for _, c := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "nope.jsonl.zst"), "no such file"},
		{dir, "no .jsonl, .jsonl.zst, .jsonl.gz files in the directory"},
		{notTrace, "not a wsproxy trace"},
		{empty, "no WebSocket connection"},
		{onlyHTTP.write(t), "no WebSocket connection"},
	} {
		_, err := replay.NewServer(c.path, replay.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error saying %q", c.path, err, c.want)
		}
		if _, err := replay.Drive(t.Context(), "ws://127.0.0.1:1", c.path, replay.Options{}); err == nil {
			t.Errorf("Drive %s: no error", c.path)
		}
	}
	if _, err := replay.Drive(t.Context(), "ftp://x", empty, replay.Options{}); err == nil || !strings.Contains(err.Error(), "ws://") {
		t.Errorf("bad target: %v", err)
	}
}
