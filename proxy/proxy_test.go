package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/trace"
)

// collector is a sink that keeps records and lets tests wait for them.
type collector struct {
	mu   sync.Mutex
	recs []*trace.Record
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) Write(r *trace.Record) error {
	c.mu.Lock()
	cp := *r
	c.recs = append(c.recs, &cp)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) snapshot() []*trace.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*trace.Record(nil), c.recs...)
}

// waitFor waits until pred holds on the records (bounded).
func (c *collector) waitFor(t *testing.T, what string, pred func([]*trace.Record) bool) []*trace.Record {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		recs := c.snapshot()
		if pred(recs) {
			return recs
		}
		select {
		case <-c.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; have %d records", what, len(recs))
		}
	}
}

func hasKind(k trace.Kind, conn string) func([]*trace.Record) bool {
	return func(recs []*trace.Record) bool {
		for _, r := range recs {
			if r.Kind == k && (conn == "" || r.Conn == conn) {
				return true
			}
		}
		return false
	}
}

// echoServer is a gorilla WebSocket server that echoes text messages.
func echoServer(t *testing.T, compress bool) *httptest.Server {
	up := websocket.Upgrader{EnableCompression: compress, CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/environments" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"connections":[],"hasNextPage":false}`))
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func startProxy(t *testing.T, upstream string, opts Options) (*Proxy, *httptest.Server, *collector) {
	t.Helper()
	col := newCollector()
	opts.Upstream = upstream
	if opts.Sink == nil {
		opts.Sink = col
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	return p, srv, col
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

func TestRelayRecordsBothDirections(t *testing.T) {
	up := echoServer(t, false)
	_, px, col := startProxy(t, up.URL, Options{})
	hdr := http.Header{"Authorization": {"Bearer sk-secret-123"}}
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(px, "/v1/environments/conn-1/status/ws?agentId=a1&conversationId=default&channel=control&token=tok-xyz"), hdr)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	msgs := []string{`{"type":"ping"}`, `{"type":"read_file","request_id":"r1","path":"/a"}`, "not json", `{"type":"connect_provider","request_id":"r2","api_key":"sk-live-999"}`}
	for _, m := range msgs {
		if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != m {
			t.Fatalf("echo %q: %q %v", m, got, err)
		}
	}
	c.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2})
	c.ReadMessage()
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "bye"))
	c.ReadMessage()
	c.Close()
	recs := col.waitFor(t, "close record", hasKind(trace.KindClose, "c1"))
	var open *trace.Record
	var frames []*trace.Record
	for _, r := range recs {
		switch r.Kind {
		case trace.KindOpen:
			open = r
		case trace.KindFrame:
			frames = append(frames, r)
		}
	}
	if open == nil || open.Open.Session.ConnectionID != "conn-1" || open.Open.Session.Channel != "control" || open.Open.Session.AgentID != "a1" {
		t.Fatalf("open: %+v", open)
	}
	if strings.Contains(open.Open.URL, "tok-xyz") || !open.Redacted || open.Open.Headers["Authorization"][0] != "[REDACTED]" {
		t.Errorf("secrets in open record: %s %v", open.Open.URL, open.Open.Headers)
	}
	// Client and server frames alternate: each message, then its echo.
	if len(frames) != 2*len(msgs)+2+2 {
		t.Fatalf("%d frames", len(frames))
	}
	for i, m := range msgs {
		for j, side := range []trace.Side{trace.Client, trace.Server} {
			f := frames[2*i+j]
			want := m
			if strings.Contains(m, "sk-live") {
				want = strings.Replace(m, "sk-live-999", "[REDACTED]", 1)
				if !f.Redacted || f.Size != len(m) {
					t.Errorf("frame %d not marked redacted (size %d)", 2*i+j, f.Size)
				}
			}
			if f.From != side || string(f.Payload) != want || f.Op != trace.OpText {
				t.Errorf("frame %d: %s %s %q", 2*i+j, f.From, f.Op, f.Payload)
			}
		}
	}
	if b := frames[2*len(msgs)]; b.Op != trace.OpBinary || !bytes.Equal(b.Payload, []byte{0, 1, 2}) {
		t.Errorf("binary frame %+v", b)
	}
	cl := frames[len(frames)-2]
	if cl.Op != trace.OpClose || cl.Code != 1000 || cl.Reason != "bye" || cl.From != trace.Client {
		t.Errorf("close frame %+v", cl)
	}
	last := recs[len(recs)-1]
	if last.Kind != trace.KindClose || last.By != trace.Client || last.Code != 1000 {
		t.Errorf("close record %+v", last)
	}
}

// A connection's open record precedes every frame sent after the client
// got its 101, on any socket: here a message on the first socket sent as
// soon as the second one is up.
func TestOpenRecordedBeforeTheHandshakeAnswer(t *testing.T) {
	up := echoServer(t, false)
	p, px, col := startProxy(t, up.URL, Options{})
	for i := 0; i < 20; i++ {
		a, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/b"), nil)
		if err != nil {
			t.Fatal(err)
		}
		a.WriteMessage(websocket.TextMessage, []byte(`{"type":"sync"}`))
		a.ReadMessage()
		a.Close()
		b.Close()
	}
	p.Close()
	opened := map[string]bool{}
	var lastOpen string
	for _, r := range col.snapshot() {
		switch {
		case r.Kind == trace.KindOpen:
			opened[r.Conn], lastOpen = true, r.Conn
		case r.Kind == trace.KindFrame && r.From == trace.Client && string(r.Payload) == `{"type":"sync"}`:
			if !opened[lastOpen] || lastOpen == r.Conn {
				t.Fatalf("record %d: the sync on %s came before the open of the socket dialled after it", r.N, r.Conn)
			}
		}
	}
}
