package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/replay"
	"github.com/lettadev/wsproxy/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a goroutine-safe stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeTrace writes a one-socket session: sync → sync_response, then
// list_models → list_models_response.
func writeTrace(t *testing.T) string { return writeTraceWith(t, "[]") }

// writeTraceWith is writeTrace with the list_models_response entries.
func writeTraceWith(t *testing.T, entries string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.jsonl.zst")
	w, err := recorder.Create(path, recorder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	u := protocol.StatusPathPrefix + "conn-1" + protocol.StatusPathSuffix + "?agentId=a&conversationId=default&channel=control"
	w.Write(trace.NewHeader("test", "1", trace.SourceProxy, t0))
	w.Write(&trace.Record{Kind: trace.KindOpen, T: t0, Conn: "c1", Open: &trace.Open{URL: u, Session: protocol.SessionFromURL(u)}})
	for i, p := range []struct {
		from trace.Side
		msg  string
	}{
		{trace.Client, `{"type":"sync","runtime":{"agent_id":"a","conversation_id":"default"},"request_id":"s-1"}`},
		{trace.Server, `{"type":"sync_response","request_id":"s-1","success":true}`},
		{trace.Client, `{"type":"list_models","request_id":"lm-1"}`},
		{trace.Server, `{"type":"list_models_response","request_id":"lm-1","success":true,"entries":` + entries + `}`},
	} {
		w.Write(&trace.Record{Kind: trace.KindFrame, T: t0.Add(time.Duration(i+1) * time.Millisecond), Conn: "c1",
			From: p.from, Op: trace.OpText, Payload: []byte(p.msg), Size: len(p.msg)})
	}
	w.Write(&trace.Record{Kind: trace.KindClose, T: t0.Add(10 * time.Millisecond), Conn: "c1", By: trace.Client, Code: 1000})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveAndPlay runs the command on 127.0.0.1:0 with args and a client
// sending the given frames, and returns the exit code and stderr.
func serveAndPlay(t *testing.T, args []string, frames ...string) (int, string) {
	t.Helper()
	var stderr syncBuffer
	addr := make(chan string, 1)
	code := make(chan int, 1)
	go func() {
		code <- run(t.Context(), append([]string{"-listen", "127.0.0.1:0", "-timeout", "2s", "-linger", "10ms"}, args...),
			&bytes.Buffer{}, &stderr, func(a string) { addr <- a })
	}()
	var a string
	select {
	case a = <-addr:
	case c := <-code:
		t.Fatalf("exited %d before serving: %s", c, stderr.String())
	}
	u := "ws://" + a + protocol.StatusPathPrefix + "conn-1" + protocol.StatusPathSuffix + "?agentId=a&conversationId=default&channel=control&token=sekrit"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ws.WriteMessage(websocket.TextMessage, []byte(f))
		if strings.Contains(f, `"request_id"`) {
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := ws.ReadMessage(); err != nil {
				t.Fatalf("reply to %s: %v", f, err)
			}
		}
	}
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
	ws.ReadMessage()
	ws.Close()
	select {
	case c := <-code:
		out := stderr.String()
		if strings.Contains(out, "sekrit") {
			t.Errorf("the token was logged:\n%s", out)
		}
		return c, out
	case <-time.After(10 * time.Second):
		t.Fatalf("replay did not exit:\n%s", stderr.String())
	}
	return 0, ""
}

func TestServeOnceStrictClean(t *testing.T) {
	path := writeTrace(t)
	rep := filepath.Join(t.TempDir(), "r.json")
	code, out := serveAndPlay(t, []string{"-once", "-strict", "-report", rep, path},
		`{"type":"sync","request_id":"mine-1"}`, `{"type":"list_models","request_id":"mine-2"}`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var r replay.Report
	b, _ := os.ReadFile(rep)
	if err := json.Unmarshal(b, &r); err != nil || r.Totals.Matched != 2 || !r.OK() {
		t.Fatalf("report %v: %s", err, b)
	}
}

func TestServeStrictDivergence(t *testing.T) {
	path := writeTrace(t)
	rep := filepath.Join(t.TempDir(), "r.json")
	code, out := serveAndPlay(t, []string{"-once", "-strict", "-report", rep, path},
		`{"type":"sync","request_id":"mine-1"}`, `{"type":"read_file","path":"/x"}`)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	var r replay.Report
	b, _ := os.ReadFile(rep)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	s := r.Sessions[0]
	if s.Counts.Unexpected != 1 || s.Counts.Missing != 1 || s.Missing[0].Line != 5 || s.Unexpected[0].Got != "read_file" {
		t.Fatalf("report: %s", b)
	}
	if !strings.Contains(out, "divergence") {
		t.Errorf("divergences not logged:\n%s", out)
	}
	// Without -strict the same run exits 0.
	code, out = serveAndPlay(t, []string{"-once", path}, `{"type":"read_file","path":"/x"}`)
	if code != 0 {
		t.Fatalf("exit %d without -strict:\n%s", code, out)
	}
}

func TestDrive(t *testing.T) {
	path := writeTrace(t)
	srv := replay.NewTestServer(t, path, replay.Options{Timeout: 2 * time.Second, Linger: 10 * time.Millisecond})
	var stderr syncBuffer
	rep := filepath.Join(t.TempDir(), "r.json")
	code := run(context.Background(), []string{"-drive", srv.URL, "-strict", "-report", rep, path}, &bytes.Buffer{}, &stderr, nil)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	b, _ := os.ReadFile(rep)
	if !strings.Contains(string(b), `"target": "ws://127.0.0.1:`) {
		t.Errorf("report: %s", b)
	}
	srv.RequireNoDivergence()
}

func TestUsageAndBadInput(t *testing.T) {
	dir := t.TempDir()
	notTrace := filepath.Join(dir, "x.txt")
	os.WriteFile(notTrace, []byte("not a trace\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"-mode", "slow", "x"}, "unknown mode"},
		{[]string{"-speed", "0", "x"}, "-speed"},
		{[]string{filepath.Join(dir, "missing.jsonl.zst")}, "no such file"},
		{[]string{notTrace}, "not a wsproxy trace"},
		{[]string{"-drive", "ftp://x", notTrace}, "want a ws://"},
		{[]string{"-drive", "ws://127.0.0.1:1", notTrace}, "not a wsproxy trace"},
		{[]string{"-listen", "256.0.0.1:1", writeTrace(t)}, "listen"},
	} {
		var stderr syncBuffer
		if code := run(context.Background(), c.args, &bytes.Buffer{}, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

func TestList(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-list", writeTrace(t)}, &out, &bytes.Buffer{}, nil); code != 0 {
		t.Fatal(code)
	}
	if !strings.Contains(out.String(), "conn-1/a/default") || !strings.Contains(out.String(), "c1(control)") {
		t.Errorf("list: %s", out.String())
	}
}

// -drive against a server that cannot be reached, or that refuses the
// handshake, is an error (exit 2) naming the status and body, not a pass
// and not a divergence.
func TestDriveConnectErrors(t *testing.T) {
	path := writeTrace(t)
	// A port nothing listens on: take one from the kernel and free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ws://" + ln.Addr().String()
	ln.Close()
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"-drive", dead, path}, &stdout, &stderr, nil)
	if code != 2 || !strings.Contains(stderr.String(), "replay: error: session 1 c1(control): cannot connect to "+dead) ||
		!strings.Contains(stdout.String(), "0 divergences") || !strings.Contains(stdout.String(), "1 socket(s) could not connect") {
		t.Fatalf("dead server: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	for _, c := range []struct {
		status int
		body   string
	}{{http.StatusUnauthorized, "bad token"}, {http.StatusNotFound, "no such environment"}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, c.body, c.status)
		}))
		var stderr syncBuffer
		rep := filepath.Join(t.TempDir(), "r.json")
		code := run(context.Background(), []string{"-drive", srv.URL, "-strict", "-report", rep, path}, &bytes.Buffer{}, &stderr, nil)
		srv.Close()
		want := fmt.Sprintf("(HTTP %d: %q)", c.status, c.body)
		if code != 2 || !strings.Contains(stderr.String(), want) {
			t.Fatalf("HTTP %d: exit %d, want 2 and %s in:\n%s", c.status, code, want, stderr.String())
		}
		var doc replay.Report
		b, _ := os.ReadFile(rep)
		if err := json.Unmarshal(b, &doc); err != nil || len(doc.ConnectErrors) != 1 || doc.ConnectErrors[0].Status != c.status || doc.Divergences() != 0 {
			t.Fatalf("report: %v\n%s", err, b)
		}
	}
}

// -ignore drops members (by name or JSON path) from Drive's comparison.
func TestDriveIgnore(t *testing.T) {
	path := writeTrace(t)
	live := writeTraceWith(t, `[{"id":"m-1","updated":"x"}]`) // the live server answers differently
	drive := func(args ...string) (int, string) {
		srv := replay.NewTestServer(t, live, replay.Options{Timeout: 2 * time.Second, Linger: 10 * time.Millisecond})
		var stderr syncBuffer
		code := run(context.Background(), append(append([]string{"-drive", srv.URL, "-strict"}, args...), path), &bytes.Buffer{}, &stderr, nil)
		srv.Report()
		return code, stderr.String()
	}
	if code, out := drive(); code != 1 || !strings.Contains(out, "entries has 1 elements, recorded 0") {
		t.Fatalf("without -ignore: exit %d\n%s", code, out)
	}
	for _, ig := range []string{"entries", "$.entries", "success,entries"} {
		if code, out := drive("-ignore", ig); code != 0 {
			t.Fatalf("-ignore %s: exit %d\n%s", ig, code, out)
		}
	}
	if code, out := drive("-ignore", "a..b"); code != 2 || !strings.Contains(out, "neither a member name nor a JSON path") {
		t.Fatalf("bad -ignore: exit %d\n%s", code, out)
	}
}
