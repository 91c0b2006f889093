package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/inject"
	"github.com/lettadev/wsproxy/trace"
)

// floodServer streams server events until the connection breaks, and
// reports the close code it got from the proxy (or -1 for none).
func floodServer(t *testing.T) (*httptest.Server, chan int) {
	got := make(chan int, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		code := make(chan int, 1)
		go func() { // read to see the proxy's close frame
			_, _, err := c.ReadMessage()
			if ce, ok := err.(*websocket.CloseError); ok {
				code <- ce.Code
				return
			}
			code <- -1
		}()
		msg := []byte(`{"type":"stream_delta","delta":{"content":"` + strings.Repeat("x", 160) + `"}}`)
		for {
			if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
				break
			}
		}
		got <- <-code
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// stalledClient opens a WebSocket through the proxy and never reads.
func stalledClient(t *testing.T, proxyURL string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(proxyURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /v1/environments/e1/status/ws?channel=control HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", err, resp)
	}
	return c
}

// A client that stops reading is closed after the stall timeout; the
// trace says why, and the upstream gets a close frame.
func TestStalledClientIsClosed(t *testing.T) {
	up, upCode := floodServer(t)
	_, px, col := startProxy(t, up.URL, Options{StallTimeout: 200e6})
	stalledClient(t, px.URL)
	recs := waitForClose(t, col)
	var stalled, closed *trace.Record
	for _, r := range recs {
		if r.Kind == trace.KindError && strings.Contains(r.Message, "client stalled") {
			stalled = r
		}
		if r.Kind == trace.KindClose {
			closed = r
		}
	}
	if stalled == nil || closed.By != trace.Proxy || closed.Code != 1001 || !strings.Contains(closed.Reason, "client stalled") {
		t.Fatalf("stall error %v, close %+v", stalled, closed)
	}
	if code := <-upCode; code != 1001 {
		t.Errorf("upstream got close code %d, want 1001", code)
	}
}

// stallListener hands out connections whose writes block, once armed,
// until they are closed: a peer that stopped reading, deterministically.
type stallListener struct {
	net.Listener
	armed   atomic.Bool
	blocked chan struct{} // a write is blocked
}

type stallConn struct {
	net.Conn
	l        *stallListener
	once     sync.Once
	closed   chan struct{}
	mu       sync.Mutex
	deadline time.Time
}

func (c *stallConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, l: l, closed: make(chan struct{})}, nil
}

func (c *stallConn) Write(b []byte) (int, error) {
	if c.l.armed.Load() {
		select {
		case c.l.blocked <- struct{}{}:
		default:
		}
		c.mu.Lock()
		d := c.deadline
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-c.closed:
			return 0, net.ErrClosed
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
	return c.Conn.Write(b)
}

func (c *stallConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// stallingProxy starts a proxy (no stall timeout) in front of upstream
// whose client connections stall once sl is armed.
func stallingProxy(t *testing.T, upstream string, faults ...*inject.Engine) (*Proxy, *stallListener, string, *collector) {
	t.Helper()
	col := newCollector()
	opts := Options{Upstream: upstream, Sink: col}
	if len(faults) > 0 {
		opts.Faults = faults[0]
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sl := &stallListener{Listener: ln, blocked: make(chan struct{}, 1)}
	srv := httptest.NewUnstartedServer(p)
	srv.Listener = sl
	srv.Start()
	t.Cleanup(srv.Close)
	return p, sl, srv.URL, col
}

// Shutdown is bounded even with a client that stopped reading and no
// stall timeout: the connection is cut and its close recorded.
func TestShutdownWithStalledClient(t *testing.T) {
	up, _ := floodServer(t)
	p, sl, srvURL, col := stallingProxy(t, up.URL)
	c := stalledClient(t, srvURL)
	defer c.Close()
	sl.armed.Store(true)
	<-sl.blocked // the relay is blocked writing to the client
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace at all: cut at once
	p.Shutdown(ctx)
	var closes int
	for _, r := range col.snapshot() {
		if r.Kind == trace.KindClose {
			closes++
		}
	}
	if closes != 1 {
		t.Fatalf("%d close records, want 1", closes)
	}
}

// The upstream closing while the client is stalled is noticed at once
// (not after the stall timeout): the trace shows the upstream's close
// and why it was not delivered. With fault rules (a rule that matches
// nothing: the relay still forwards whole messages) too.
func TestUpstreamCloseWhileClientStalled(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testUpstreamCloseWhileClientStalled(t, nil) })
	t.Run("faults", func(t *testing.T) { testUpstreamCloseWhileClientStalled(t, faultEngine(t, "", "drop type=nothing")) })
}

func testUpstreamCloseWhileClientStalled(t *testing.T, faults *inject.Engine) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		<-release
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"stream_delta"}`))
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "server restarting"))
		c.ReadMessage()
	}))
	defer up.Close()
	var fs []*inject.Engine
	if faults != nil {
		fs = append(fs, faults)
	}
	p, sl, srvURL, col := stallingProxy(t, up.URL, fs...) // no stall timeout at all
	defer p.Close()
	stalledClient(t, srvURL)
	sl.armed.Store(true)
	close(release)
	recs := waitForClose(t, col)
	var why, closed *trace.Record
	for _, r := range recs {
		if r.Kind == trace.KindError && strings.Contains(r.Message, "while the upstream sent its close frame") {
			why = r
		}
		if r.Kind == trace.KindClose {
			closed = r
		}
	}
	if why == nil || closed.By != trace.Server || closed.Code != 4000 {
		t.Fatalf("error %v, close %+v; records %v", why, closed, recs)
	}
}

// waitForClose waits for a close record and returns the records so far.
func waitForClose(t *testing.T, col *collector) []*trace.Record {
	t.Helper()
	return col.waitFor(t, "close record", func(rs []*trace.Record) bool {
		for _, r := range rs {
			if r.Kind == trace.KindClose {
				return true
			}
		}
		return false
	})
}
