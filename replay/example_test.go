package replay_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/replay"
)

// A Go test serves a recorded session to the client under test, then
// fails if the client diverged from the recording.
func ExampleNewTestServer() {
	testClient := func(t *testing.T) {
		srv := replay.NewTestServer(t, "../traces/real-device-appserver.jsonl.zst", replay.Options{})

		ws, _, err := websocket.DefaultDialer.Dial(srv.SessionURL(1, "single"), nil) // ws://127.0.0.1:port/ws
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		// ... the client under test talks to ws as to the real device ...

		srv.RequireNoDivergence() // or inspect srv.Report()
	}
	_ = testClient
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
