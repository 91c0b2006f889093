package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/trace"
)

// logCollector keeps the proxy's operational messages.
type logCollector struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCollector) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(strings.ReplaceAll(format, "%v", "")))
}

func (l *logCollector) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// TestRecordingFailureDoesNotStopRelaying: a sink that fails (a full disk)
// is reported loudly, and frames keep flowing.
func TestRecordingFailureDoesNotStopRelaying(t *testing.T) {
	up := echoServer(t, false)
	logs := &logCollector{}
	failing := trace.SinkFunc(func(*trace.Record) error { return errors.New("write trace x.jsonl.zst: no space left on device") })
	p, px, _ := startProxy(t, up.URL, Options{Sink: failing, Logf: logs.logf})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 50; i++ {
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("relay stopped after recording failed: %v", err)
		}
	}
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	c.ReadMessage()
	p.Close() // every record delivered to the sink
	if !logs.has("RECORDING FAILED") {
		t.Errorf("failure not reported")
	}
}

// TestSlowSinkLossless: a sink that falls behind slows the relay down
// but loses nothing: every frame relayed is a record.
func TestSlowSinkLossless(t *testing.T) {
	up := echoServer(t, false)
	var mu sync.Mutex
	frames := 0
	slow := trace.SinkFunc(func(r *trace.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if r.Kind == trace.KindFrame && r.Op == trace.OpText {
			frames++
		}
		return nil
	})
	p, px, _ := startProxy(t, up.URL, Options{Sink: slow, QueueBytes: 4 << 10})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"type":"stream_delta","delta":{"content":"` + strings.Repeat("x", 1000) + `"}}`
	for i := 0; i < 300; i++ {
		c.WriteMessage(websocket.TextMessage, []byte(payload))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	p.Close()
	if frames != 600 || p.Dropped() != 0 {
		t.Fatalf("%d text frame records of 600, %d dropped", frames, p.Dropped())
	}
}

// TestSlowSinkLossy: with Lossy, a sink that never returns cannot stall
// the relay; what it missed comes to it as loss records that add up.
func TestSlowSinkLossy(t *testing.T) {
	up := echoServer(t, false)
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var frames, lost int64
	blocked := trace.SinkFunc(func(r *trace.Record) error {
		<-release
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Kind == trace.KindFrame && r.Op == trace.OpText:
			frames++
		case r.Kind == trace.KindLoss:
			lost += r.Count
		}
		return nil
	})
	p, px, _ := startProxy(t, up.URL, Options{Sink: blocked, Lossy: true, QueueBytes: 64 << 10})
	defer once.Do(func() { close(release) })
	c, _, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"type":"stream_delta","delta":{"content":"` + strings.Repeat("x", 1000) + `"}}`
	for i := 0; i < 500; i++ {
		c.WriteMessage(websocket.TextMessage, []byte(payload))
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatalf("relay stalled behind a blocked sink: %v", err)
		}
	}
	if p.Dropped() == 0 {
		t.Errorf("nothing dropped behind a blocked sink")
	}
	c.Close()
	once.Do(func() { close(release) })
	p.Close()
	if frames+lost < 1000 || lost == 0 {
		t.Errorf("%d frames recorded + %d lost, want 1000 text frames accounted for", frames, lost)
	}
}

// TestUpstreamTLS: a wss:// upstream is verified; an unknown CA is
// refused unless trusted explicitly.
func TestUpstreamTLS(t *testing.T) {
	inner := echoServer(t, false)
	up := httptest.NewTLSServer(inner.Config.Handler)
	defer up.Close()
	wssURL := "wss" + strings.TrimPrefix(up.URL, "https")

	// Not trusted: the handshake fails and the client gets 502.
	_, px, _ := startProxy(t, wssURL, Options{})
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(px, "/ws"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("untrusted upstream: %v %v", err, resp)
	}
	// Trusted through its CA.
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	_, px2, col := startProxy(t, wssURL, Options{UpstreamTLS: &tls.Config{RootCAs: pool}})
	c, _, err := websocket.DefaultDialer.Dial(wsURL(px2, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	if _, p, err := c.ReadMessage(); err != nil || string(p) != `{"type":"ping"}` {
		t.Fatalf("echo over wss: %q %v", p, err)
	}
	c.Close()
	col.waitFor(t, "close", hasKind(trace.KindClose, "c1"))
}

// TestServeTLSSelfSigned: the proxy itself serves wss:// with a
// self-signed certificate whose fingerprint it reports.
func TestServeTLSSelfSigned(t *testing.T) {
	cert, fp, err := SelfSignedCert()
	if err != nil || len(fp) != 95 {
		t.Fatalf("cert: %v %q", err, fp)
	}
	up := echoServer(t, false)
	p, err := New(Options{Upstream: up.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewUnstartedServer(p)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	c, _, err := d.Dial("wss"+strings.TrimPrefix(srv.URL, "https")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if Fingerprint(cert.Certificate[0]) != fp {
		t.Error("fingerprint mismatch")
	}
}
