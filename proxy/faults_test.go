package proxy

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/inject"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

func faultEngine(t *testing.T, dir string, rules ...string) *inject.Engine {
	t.Helper()
	var rs []*inject.Rule
	for _, s := range rules {
		r, err := inject.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	e, err := inject.New(rs, inject.Options{Seed: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestFaultActionsOnTheWire runs each action on a scripted server stream
// with a fragmented message and an interleaved ping, and checks the exact
// bytes the client gets, what the server gets, and the fault records.
func TestFaultActionsOnTheWire(t *testing.T) {
	srv := func(h wsframe.Header, p string) []byte { return frame(h, p) }
	f1 := srv(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, `{"type":"a","event_seq":1}`)
	f2a := srv(wsframe.Header{Opcode: wsframe.OpText}, `{"type":"b",`)
	ping := srv(wsframe.Header{Fin: true, Opcode: wsframe.OpPing}, "hb")
	f2b := srv(wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation}, `"event_seq":2}`)
	f3 := srv(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, `{"type":"c","event_seq":3}`)
	f4 := srv(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, `{"type":"d"}`)
	cl := srv(wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, string(wsframe.ClosePayload(1000, "")))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	serverScript := cat(f1, f2a, ping, f2b, f3, f4, cl)
	clientScript := frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Masked: true, MaskKey: key}, string(wsframe.ClosePayload(1000, "")))

	dir := t.TempDir()
	injected := `{"type":"sync","recover_approvals":true}`
	if err := os.WriteFile(filepath.Join(dir, "sync.json"), []byte(injected+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := func(p string) []byte { return srv(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, p) }
	cases := []faultCase{
		{"", serverScript, "", "", true},
		{"drop has=event_seq nth=2", cat(f1, ping, f3, f4, cl), "drop", `{"type":"b","event_seq":2}`, true},
		{"duplicate type=c", cat(f1, f2a, ping, f2b, f3, f3, f4, cl), "duplicate", `{"type":"c","event_seq":3}`, true},
		{"corrupt type=a", cat(text(string(inject.Corrupted([]byte(`{"type":"a","event_seq":1}`)))), f2a, ping, f2b, f3, f4, cl), "corrupt", `{"type":"a","event_seq":1}`, true},
		{"reorder=1 has=event_seq count=1", cat(f2a, ping, f2b, f1, f3, f4, cl), "reorder", `{"type":"a","event_seq":1}`, true},
		{"reorder=5 type=a", cat(f2a, ping, f2b, f3, f4, f1, cl), "reorder", `{"type":"a","event_seq":1}`, true},
		{"inject=sync.json type=d", cat(f1, f2a, ping, f2b, f3, f4, text(injected), cl), "inject", `{"type":"d"}`, true},
		{"stall=1ms from=server type=c", serverScript, "stall", `{"type":"c","event_seq":3}`, true},
		{"drop from=client", serverScript, "", "", true}, // control frames always pass
		{"close=4000 type=c", cat(f1, f2a, ping, f2b, srv(wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, string(wsframe.ClosePayload(4000, "injected fault: close=4000 type=c")))), "close", `{"type":"c","event_seq":3}`, false},
		{"truncate type=c", cat(f1, f2a, ping, f2b), "truncate", `{"type":"c","event_seq":3}`, false},
	}
	for _, chunk := range []int{0, 1, 7} {
		for _, tc := range cases {
			name := fmt.Sprintf("%s/chunk=%d", tc.rule, chunk)
			t.Run(name, func(t *testing.T) { testFaultAction(t, tc, chunk, dir, serverScript, clientScript) })
		}
	}
}

type faultCase struct {
	rule       string
	want       []byte // what the client gets
	action     string
	frame      string // the affected frame's payload ("" for none)
	serverGets bool   // the client's close reaches the server
}

// testFaultAction runs one case with the server's stream written in
// chunks of chunk bytes (0: at once).
func testFaultAction(t *testing.T, tc faultCase, chunk int, dir string, serverScript, clientScript []byte) {
	up := newRawServer(t, "", serverScript, chunk)
	opts := Options{CloseGrace: 100 * time.Millisecond}
	if tc.rule != "" {
		opts.Faults = faultEngine(t, dir, tc.rule)
	}
	_, px, col := startProxy(t, up.url(), opts)
	script := clientScript
	if !tc.serverGets {
		script = nil // the server must see the proxy's close, not the client's
	}
	_, got := rawClient(t, px.Listener.Addr().String(), "/v1/environments/e1/status/ws?channel=control", script, "")
	if !bytes.Equal(got, tc.want) {
		t.Errorf("client got  %q\nwant %q", got, tc.want)
	}
	recv := <-up.received
	if tc.serverGets && !bytes.Equal(recv, clientScript) {
		t.Errorf("server got %x, want %x", recv, clientScript)
	}
	if tc.action == "close" {
		if msgs := decode(t, recv, wsframe.Client); len(msgs) != 1 || !strings.Contains(msgs[0], "4000") {
			t.Errorf("server got %q, want a close 4000", msgs)
		}
	}
	recs := col.waitFor(t, "close record", hasKind(trace.KindClose, "c1"))
	var faults []*trace.Record
	var released []*trace.Record
	for i, r := range recs {
		if r.Kind != trace.KindFault {
			continue
		}
		if r.Action == "release" {
			released = append(released, r)
			continue
		}
		faults = append(faults, r)
		prev := recs[i+1]
		if r.Frame != prev.N || prev.Kind != trace.KindFrame {
			t.Errorf("fault record n=%d names frame %d, but the record after it is %s n=%d", r.N, r.Frame, prev.Kind, prev.N)
		}
		if string(prev.Payload) != tc.frame || r.Action != tc.action || r.Rule != tc.rule || r.From != trace.Server {
			t.Errorf("fault %s %q from %s on %q, want %s %q on %q", r.Action, r.Rule, r.From, prev.Payload, tc.action, tc.rule, tc.frame)
		}
	}
	if wantRelease := tc.action == "reorder" && strings.HasPrefix(tc.rule, "reorder=5"); wantRelease != (len(released) == 1) ||
		len(released) > 1 || wantRelease && !strings.Contains(released[0].Message, "close frame") {
		t.Errorf("release records %v (want one only when the close frame overtakes a hold)", released)
	}
	if (tc.action == "") != (len(faults) == 0) || len(faults) > 1 {
		t.Errorf("%d fault records, want %d", len(faults), map[bool]int{true: 0, false: 1}[tc.action == ""])
	}
	if tc.action == "close" || tc.action == "truncate" {
		last := recs[len(recs)-1]
		if last.Kind != trace.KindClose || last.By != trace.Proxy || !strings.Contains(last.Reason, "injected fault") {
			t.Errorf("close record %+v, want by proxy for the injected fault", last)
		}
	}
}

// TestFaultHoldsAtStreamEnd: messages a reorder or delay rule still
// holds when the sender's stream ends without a close frame are delivered
// before the proxy's close, and a fault record says so.
func TestFaultHoldsAtStreamEnd(t *testing.T) {
	srv := func(p string) []byte { return frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, p) }
	f1, f3 := srv(`{"type":"a","event_seq":1}`), srv(`{"type":"c","event_seq":2}`)
	for _, rule := range []string{"reorder=5 type=a", "delay=1h type=a"} {
		t.Run(rule, func(t *testing.T) {
			up := newRawServer(t, "", append(append([]byte(nil), f1...), f3...))
			up.hangUp = true
			_, px, col := startProxy(t, up.url(), Options{CloseGrace: 100 * time.Millisecond, Faults: faultEngine(t, "", rule)})
			_, got := rawClient(t, px.Listener.Addr().String(), "/v1/environments/e1/status/ws?channel=control", nil, "")
			want := append(append([]byte(nil), f3...), f1...)
			if !bytes.HasPrefix(got, want) {
				t.Fatalf("client got %q, want %q first", got, want)
			}
			if msgs := decode(t, got[len(want):], wsframe.Server); len(msgs) != 1 || !strings.Contains(msgs[0], "\x03\xf3upstream connection lost") {
				t.Errorf("after the held message the client got %q, want the proxy's 1011", msgs)
			}
			recs := col.waitFor(t, "close record", hasKind(trace.KindClose, "c1"))
			var rel []string
			for _, r := range recs {
				if r.Kind == trace.KindFault && r.Action == "release" {
					rel = append(rel, r.Rule+": "+r.Message)
				}
			}
			if len(rel) != 1 || !strings.Contains(rel[0], rule+": 1 message(s)") || !strings.Contains(rel[0], "stream ended") {
				t.Errorf("release records %q", rel)
			}
		})
	}
}

// TestFaultHoldsUndelivered: a message still delayed when the receiver
// goes away is never delivered, and a fault record says so before the
// connection's close record.
func TestFaultHoldsUndelivered(t *testing.T) {
	f1 := frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, `{"type":"a","event_seq":1}`)
	up := newRawServer(t, "", f1)
	_, px, col := startProxy(t, up.url(), Options{CloseGrace: 100 * time.Millisecond, Faults: faultEngine(t, "", "delay=1h type=a")})
	c, err := net.Dial("tcp", px.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /v1/environments/e1/status/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	col.waitFor(t, "the delay", func(recs []*trace.Record) bool {
		for _, r := range recs {
			if r.Kind == trace.KindFault && r.Action == "delay" {
				return true
			}
		}
		return false
	})
	c.Close() // the client vanishes
	recs := col.waitFor(t, "close record", hasKind(trace.KindClose, "c1"))
	var undelivered int
	for i, r := range recs {
		if r.Kind == trace.KindFault && r.Action == "undelivered" {
			undelivered++
			if !strings.Contains(r.Message, "never delivered") || r.Rule != "delay=1h type=a" || recs[len(recs)-1].Kind != trace.KindClose || i == len(recs)-1 {
				t.Errorf("undelivered record %+v", r)
			}
		}
	}
	if undelivered != 1 {
		t.Errorf("%d undelivered records, want 1", undelivered)
	}
}

// TestFaultDelayLetsLaterMessagesPass: a delayed message arrives after
// the ones sent behind it, and is delivered.
func TestFaultDelayLetsLaterMessagesPass(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		first string // what the echo client reads first
	}{{"delay=1h from=client type=a", "b"}, {"delay=1ms from=client type=a", ""}} {
		t.Run(tc.rule, func(t *testing.T) {
			up := echoServer(t, false)
			_, px, _ := startProxy(t, up.URL, Options{Faults: faultEngine(t, "", tc.rule)})
			c, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/v1/environments/e1/status/ws?channel=control"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"a"}`))
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"b"}`))
			var got []string
			for range 2 {
				if tc.first != "" && len(got) == 1 {
					break
				}
				_, p, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(p))
			}
			switch {
			case tc.first != "" && got[0] != `{"type":"b"}`:
				t.Errorf("first message %s, want the one sent second", got[0])
			case tc.first == "" && (len(got) != 2 || !strings.Contains(strings.Join(got, " "), `"a"`)):
				t.Errorf("got %q, want both messages", got)
			}
		})
	}
}

// TestFaultsDeclineCompression: with a message-altering rule, the
// client's permessage-deflate offer does not reach the upstream, and a
// fault record says so; a rule that alters nothing leaves it.
func TestFaultsDeclineCompression(t *testing.T) {
	for _, tc := range []struct {
		rule    string
		decline bool
	}{{"drop type=x", true}, {"stall=1s type=x", false}} {
		t.Run(tc.rule, func(t *testing.T) {
			up := newRawServer(t, "", frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, string(wsframe.ClosePayload(1000, ""))))
			_, px, col := startProxy(t, up.url(), Options{CloseGrace: 100 * time.Millisecond, Faults: faultEngine(t, "", tc.rule)})
			clientScript := frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Masked: true, MaskKey: key}, string(wsframe.ClosePayload(1000, "")))
			rawClient(t, px.Listener.Addr().String(), "/v1/environments/e1/status/ws?channel=control", clientScript,
				"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
			req := <-up.request
			<-up.received
			if got := req.Header.Get("Sec-WebSocket-Extensions"); (got == "") != tc.decline {
				t.Errorf("upstream got extensions %q, decline %v", got, tc.decline)
			}
			recs := col.waitFor(t, "close record", hasKind(trace.KindClose, "c1"))
			var declined []string
			for _, r := range recs {
				if r.Kind == trace.KindFault && r.Action == "decline-compression" {
					declined = append(declined, fmt.Sprintf("%s %s", r.Rule, r.Message))
				}
			}
			if (len(declined) == 1) != tc.decline || len(declined) > 1 {
				t.Errorf("decline records %q, want %v", declined, tc.decline)
			}
		})
	}
}

var _ = http.StatusOK

// TestConsoleShowsInjectedFaults: the live console has a line per
// injected fault.
func TestConsoleShowsInjectedFaults(t *testing.T) {
	var b bytes.Buffer
	c := NewConsole(&b)
	c.Write(&trace.Record{Kind: trace.KindFault, T: time.Unix(10, 0), Conn: "c1", From: trace.Server, Rule: "drop nth=2", Action: "drop", Frame: 7, Message: "message not delivered"})
	if got := b.String(); !strings.Contains(got, "c1   fault  drop from server on n=7 (drop nth=2): message not delivered\n") {
		t.Fatalf("console: %q", got)
	}
}
