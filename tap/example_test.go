package tap_test

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// Bytes in, records out: a server frame fed in two chunks becomes one
// frame record.
func Example() {
	req := &http.Request{Method: "GET", URL: &url.URL{Path: "/v1/environments/conn-1/status/ws", RawQuery: "channel=control"}, Header: http.Header{}}
	conn, recs := tap.Open(tap.Handshake{Conn: "c1", Start: time.Now(), Request: req}, tap.Options{})
	fmt.Println(recs[0].Kind, recs[0].Open.URL, recs[0].Open.Session.Channel)

	wire := wsframe.AppendFrame(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpText}, []byte(`{"type":"pong"}`))
	fmt.Println(len(conn.Feed(trace.Server, time.Now(), wire[:5])))
	for _, r := range conn.Feed(trace.Server, time.Now(), wire[5:]) {
		fmt.Println(r.Kind, r.From, r.Op, string(r.Payload))
	}
	// Output:
	// open /v1/environments/conn-1/status/ws?channel=control control
	// 0
	// frame server text {"type":"pong"}
}
