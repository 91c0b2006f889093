package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

func TestUpstreamRefusesUpgrade(t *testing.T) {
	for _, status := range []int{401, 403, 404, 500, 503} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Reason", "test")
			w.WriteHeader(status)
			w.Write([]byte(`{"error":"nope","token":"leaked?"}`))
		}))
		_, px, col := startProxy(t, up.URL, Options{})
		_, resp, err := websocket.DefaultDialer.Dial(wsURL(px, "/v1/environments/x/status/ws?token=abc"), nil)
		if err == nil || resp == nil || resp.StatusCode != status {
			t.Fatalf("status %d: err %v resp %v", status, err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != `{"error":"nope","token":"leaked?"}` || resp.Header.Get("X-Reason") != "test" {
			t.Errorf("status %d: body %q headers %v not passed back", status, body, resp.Header)
		}
		recs := col.waitFor(t, "http record", hasKind(trace.KindHTTP, "c1"))
		h := recs[0].HTTP
		if !h.Upgrade || h.Status != status || strings.Contains(h.URL, "abc") || h.ResponseBody == nil ||
			!strings.Contains(string(h.ResponseBody.Data), `"token":"[REDACTED]"`) {
			t.Errorf("status %d: record %+v body %+v", status, h, h.ResponseBody)
		}
		up.Close()
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, px, col := startProxy(t, "ws://"+addr, Options{})
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("err %v resp %v", err, resp)
	}
	col.waitFor(t, "error record", hasKind(trace.KindError, "c1"))
}

// TestUpstreamDiesMidSession: the client gets a 1011 close frame with a
// reason (1014 would fit too, but gorilla/websocket clients refuse it), and the trace ends the connection with the error.
func TestUpstreamDiesMidSession(t *testing.T) {
	kill := make(chan struct{})
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"update_device_status","event_seq":1,"seq":1}`))
		<-kill
		c.UnderlyingConn().Close() // vanish without a close frame
	}))
	defer srv.Close()
	_, px, col := startProxy(t, srv.URL, Options{})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	close(kill)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.ReadMessage()
	ce, ok := err.(*websocket.CloseError)
	if !ok || ce.Code != 1011 || ce.Text == "" {
		t.Fatalf("client got %v, want a 1011 close", err)
	}
	recs := col.waitFor(t, "close", hasKind(trace.KindClose, "c1"))
	var errRec, closeRec *trace.Record
	for _, r := range recs {
		if r.Kind == trace.KindError {
			errRec = r
		}
		if r.Kind == trace.KindClose {
			closeRec = r
		}
	}
	if errRec == nil || !strings.HasPrefix(errRec.Message, "upstream:") || closeRec.By != trace.Proxy || closeRec.Code != 1011 {
		t.Errorf("error %+v close %+v", errRec, closeRec)
	}
}

// TestClientVanishes: the upstream gets a 1001 close frame.
func TestClientVanishes(t *testing.T) {
	got := make(chan error, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				got <- err
				return
			}
		}
	}))
	defer srv.Close()
	_, px, col := startProxy(t, srv.URL, Options{})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	c.UnderlyingConn().Close()
	err = <-got
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
		t.Fatalf("upstream got %v, want a 1001 close", err)
	}
	col.waitFor(t, "close by proxy", func(recs []*trace.Record) bool {
		for _, r := range recs {
			if r.Kind == trace.KindClose && r.By == trace.Proxy && r.Code == 1001 {
				return true
			}
		}
		return false
	})
}

// TestOversizedFrame: a frame over MaxFrame closes the connection with
// 1009 on both sides, is not forwarded, and is recorded as an error.
func TestOversizedFrame(t *testing.T) {
	var clientScript []byte
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, MaskKey: key}, `{"type":"ping"}`)...)
	big := strings.Repeat("x", 2000)
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, MaskKey: key}, big)...)
	up := newRawServer(t, "", nil)
	_, px, col := startProxy(t, up.url(), Options{MaxFrame: 1024})
	_, got := rawClient(t, px.Listener.Addr().String(), "/ws", clientScript, "")
	want := frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, string(wsframe.ClosePayload(1009, "message too big")))
	if string(got) != string(want) {
		t.Errorf("client got %x, want a 1009 close %x", got, want)
	}
	recv := <-up.received
	first := frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, MaskKey: key}, `{"type":"ping"}`)
	if !strings.HasPrefix(string(recv), string(first)) || len(recv) > len(first)+2+4+2+len("message too big") {
		t.Errorf("upstream got %d bytes: the big frame leaked", len(recv))
	}
	h, n, _ := wsframe.ParseHeader(recv[len(first):])
	if n == 0 || h.Opcode != wsframe.OpClose || !h.Masked {
		t.Errorf("upstream did not get a masked close: %+v", h)
	}
	recs := col.waitFor(t, "close", hasKind(trace.KindClose, "c1"))
	found := false
	for _, r := range recs {
		if r.Kind == trace.KindError && strings.Contains(r.Message, "1009") {
			found = true
		}
		if r.Kind == trace.KindClose && (r.Code != 1009 || r.By != trace.Proxy) {
			t.Errorf("close %+v", r)
		}
	}
	if !found {
		t.Error("no error record for the oversized frame")
	}
}

func TestPlainHTTPIsProxiedAndRecorded(t *testing.T) {
	up := echoServer(t, false)
	_, px, col := startProxy(t, up.URL, Options{})
	req, _ := http.NewRequest("GET", px.URL+"/v1/environments?onlineOnly=true", nil)
	req.Header.Set("Authorization", "Bearer sk-abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"connections":[],"hasNextPage":false}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	recs := col.waitFor(t, "http record", hasKind(trace.KindHTTP, "h1"))
	h := recs[0].HTTP
	if h.Method != "GET" || h.URL != "/v1/environments?onlineOnly=true" || h.Status != 200 || h.RequestHeaders["Authorization"][0] != "[REDACTED]" ||
		h.ResponseBody == nil || string(h.ResponseBody.Data) != string(body) || h.ResponseBody.Form != trace.FormMsg {
		t.Errorf("record %+v", h)
	}
}

// TestShutdownClosesWith1001 closes a live connection on both sides.
func TestShutdownClosesWith1001(t *testing.T) {
	up := echoServer(t, false)
	col := newCollector()
	p, err := New(Options{Upstream: up.URL, Sink: col, CloseGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial(wsURL(srv, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	c.ReadMessage()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- p.Shutdown(ctx)
	}()
	_, _, err = c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 1001 {
		t.Fatalf("client got %v", err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := col.snapshot()
	last := recs[len(recs)-1]
	if last.Kind != trace.KindClose || last.Code != 1001 || last.By != trace.Proxy {
		t.Errorf("last record %+v", last)
	}
}

// TestConcurrentSessions runs 100 sessions at once and checks every frame
// of each is recorded, in order per connection.
func TestConcurrentSessions(t *testing.T) {
	up := echoServer(t, false)
	_, px, col := startProxy(t, up.URL, Options{})
	const sessions, msgs = 100, 20
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			c, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; i < msgs; i++ {
				m := `{"type":"ping","n":` + string(rune('0'+i%10)) + `}`
				if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := c.ReadMessage(); err != nil {
					t.Error(err)
					return
				}
			}
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			c.ReadMessage()
		}(s)
	}
	wg.Wait()
	col.waitFor(t, "all closes", func(recs []*trace.Record) bool {
		n := 0
		for _, r := range recs {
			if r.Kind == trace.KindClose {
				n++
			}
		}
		return n == sessions
	})
	perConn := map[string]int{}
	for _, r := range col.snapshot() {
		if r.Kind == trace.KindFrame && r.Op == trace.OpText {
			perConn[r.Conn]++
		}
	}
	if len(perConn) != sessions {
		t.Fatalf("%d connections recorded", len(perConn))
	}
	for c, n := range perConn {
		if n != 2*msgs {
			t.Errorf("%s: %d text frames", c, n)
		}
	}
}
