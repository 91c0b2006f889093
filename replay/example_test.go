package replay_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/replay"
)

// A Go test serves a recorded session to the client under test, then
// fails if the client diverged from the recording. Here the "client"
// connects and leaves at once, so the test reports every command of the
// recording it never sent, as soon as it has closed.
func ExampleNewTestServer() {
	t := &exampleT{} // in a Go test: the test's *testing.T
	defer t.cleanup()

	srv := replay.NewTestServer(t, "../traces/real-device-appserver.jsonl.zst", replay.Options{})
	ws, _, err := websocket.DefaultDialer.Dial(srv.SessionURL(1, "single"), nil) // ws://127.0.0.1:port/ws
	if err != nil {
		t.Fatalf("%v", err)
	}
	// ... the client under test talks to ws as to the real device; this
	// one says goodbye at once ...
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	ws.ReadMessage() // the close reply
	ws.Close()

	r := srv.RequireNoDivergence() // or inspect srv.Report()
	fmt.Println(r.Totals.Matched, "matched,", r.Totals.Missing, "missing; test failed:", t.failed)
	// Output:
	// error: replay divergence: session 1 s1(single): missing app_server_info (trace line 3): the socket closed (code 1000) first
	// error: replay divergence: session 1 s1(single): missing list_in_directory (trace line 5): the socket closed (code 1000) first
	// error: replay divergence: session 1 s1(single): missing read_file (trace line 7): the socket closed (code 1000) first
	// error: replay divergence: session 1 s1(single): missing runtime_start (trace line 9): the socket closed (code 1000) first
	// error: replay divergence: session 1 s1(single): missing input (trace line 15): the socket closed (code 1000) first
	// error: replay divergence: session 1 s1(single): missing sync (trace line 27): the socket closed (code 1000) first
	// error: replay of ../traces/real-device-appserver.jsonl.zst (reactive): 0 matched, 6 divergences
	//   session 1 /ws: 0 matched, 0 unexpected, 6 missing, 0 out of order, 0 mismatched, 0 ack errors, 0 sent
	// 0 matched, 6 missing; test failed: true
}

// exampleT stands in for a *testing.T in ExampleNewTestServer: it prints
// test errors.
type exampleT struct {
	testing.TB
	failed   bool
	cleanups []func()
}

func (t *exampleT) Helper()             {}
func (t *exampleT) Logf(string, ...any) {}
func (t *exampleT) Errorf(format string, args ...any) {
	t.failed = true
	fmt.Printf("error: "+format+"\n", args...)
}
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// A Server is an http.Handler: mount it anywhere. Replies carry the
// request_id the live client chose.
func ExampleNewServer() {
	srv, err := replay.NewServer("../traces/real-device-appserver.jsonl.zst", replay.Options{Session: "1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"app_server_info","request_id":"my-own-id"}`))
	_, reply, _ := ws.ReadMessage()
	e, _ := protocol.Parse(reply)
	fmt.Println(e.TypeString(), string(e.RequestID))
	ws.Close()

	srv.Wait(context.Background())
	r := srv.Report()
	fmt.Println("matched:", r.Totals.Matched, "missing:", r.Totals.Missing)
	// Output:
	// app_server_info_response my-own-id
	// matched: 1 missing: 5
}

// Drive plays a recorded client against a live server; here, a replay of
// the same recording.
func ExampleDrive() {
	const path = "../traces/real-device-paired-local.jsonl.zst"
	srv, err := replay.NewServer(path, replay.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	r, err := replay.Drive(context.Background(), hs.URL, path, replay.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sessions:", len(r.Sessions), "divergences:", r.Divergences())
	// Output:
	// sessions: 2 divergences: 0
}
