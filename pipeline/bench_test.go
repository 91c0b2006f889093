package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/proxy"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// The figures, side by side in one run: the same client and
// upstream directly, through a plain TCP relay (two io.Copy: the floor of
// any proxy hop), and through the recording proxy with the live checker,
// as `wsproxy` runs by default. Every event relayed must be a record.

// event200 is a ~200-byte server event; %d is its transport seq.
const event200 = `{"type":"stream_delta","delta":{"message_type":"assistant_message","content":"%s"},"runtime":{"agent_id":"agent-1","conversation_id":"default"},"event_seq":%d,"seq":%d}`

var filler = strings.Repeat("x", 40)

// ackUpstream streams n events per connection (?n=), at most window
// unacked, and answers {"type":"ping"} with a pong (for round trips).
func ackUpstream(tb testing.TB) *httptest.Server {
	up := websocket.Upgrader{ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n == 0 { // round trips
			for {
				_, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if bytes.Contains(p, []byte(`"ping"`)) {
					c.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
				}
			}
		}
		const window = 256
		var mu sync.Mutex
		cond := sync.NewCond(&mu)
		acked, broken := 0, false
		go func() {
			for {
				_, p, err := c.ReadMessage()
				mu.Lock()
				if err != nil {
					broken = true
					cond.Broadcast()
					mu.Unlock()
					return
				}
				if s := seqOf(p); s > acked {
					acked = s
					cond.Broadcast()
				}
				mu.Unlock()
			}
		}()
		for seq := 1; seq <= n; seq++ {
			mu.Lock()
			for seq-acked > window && !broken {
				cond.Wait()
			}
			mu.Unlock()
			if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, event200, filler, seq, seq)); err != nil {
				return
			}
		}
		mu.Lock()
		for acked < n && !broken {
			cond.Wait()
		}
		mu.Unlock()
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// seqOf finds the top-level "seq" of an event or ack (the last member).
func seqOf(p []byte) int {
	i := bytes.LastIndex(p, []byte(`"seq":`))
	if i < 0 {
		return 0
	}
	j := i + 6
	k := j
	for k < len(p) && p[k] >= '0' && p[k] <= '9' {
		k++
	}
	n, _ := strconv.Atoi(string(p[j:k]))
	return n
}

// tcpRelay is the floor: a plain TCP relay, two io.Copy per connection.
func tcpRelay(tb testing.TB, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				u, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, u)
				c.Close()
				u.Close()
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// drive runs conns clients that each receive n events and ack each one;
// it returns the acked events per second.
func drive(tb testing.TB, base string, conns, n int) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{ReadBufferSize: 16 << 10, WriteBufferSize: 4 << 10}
			c, _, err := d.Dial(fmt.Sprintf("ws%s/v1/environments/e%d/status/ws?channel=control&n=%d", strings.TrimPrefix(base, "http"), i, n), nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			ack := make([]byte, 0, 32)
			for got := 0; got < n; got++ {
				_, p, err := c.ReadMessage()
				if err != nil {
					errs <- err
					return
				}
				ack = fmt.Appendf(ack[:0], `{"type":"ack","seq":%d}`, seqOf(p))
				if err := c.WriteMessage(websocket.TextMessage, ack); err != nil {
					errs <- err
					return
				}
			}
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			c.ReadMessage()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return float64(conns*n) / el.Seconds()
}

// recordingPipeline starts the proxy as wsproxy runs it by default:
// lossless recording to zstd, the live checker.
func recordingPipeline(tb testing.TB, upstream string) (*Pipeline, string) {
	path := filepath.Join(tb.TempDir(), "bench.jsonl.zst")
	cfg := analysis.DefaultConfig()
	pl, err := Start(Config{Upstream: upstream, Path: path, Check: &cfg, Proxy: proxy.Options{}})
	if err != nil {
		tb.Fatal(err)
	}
	return pl, path
}

// countEvents counts the server stream_delta frames in a trace.
func countEvents(tb testing.TB, path string) int {
	r, err := recorder.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			tb.Fatal(err)
		}
		if rec.Kind == trace.KindFrame && rec.From == trace.Server && bytes.Contains(rec.Payload, []byte(`"stream_delta"`)) {
			n++
		}
	}
}

// BenchmarkAckedThroughput: 200-byte events acked by the client, direct,
// through a TCP relay and through the recording proxy, in one run; the
// proxy/relay ratio is the figure (targets: 0.85 with 1 connection, 0.60
// with 8). records_missing must be 0.
func BenchmarkAckedThroughput(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			const perConn = 20000
			up := ackUpstream(b)
			relay := tcpRelay(b, strings.TrimPrefix(up.URL, "http://"))
			var direct, relayed, proxied []float64
			missing := 0
			for i := 0; i < b.N; i++ {
				direct = append(direct, drive(b, up.URL, conns, perConn))
				relayed = append(relayed, drive(b, relay, conns, perConn))
				pl, path := recordingPipeline(b, up.URL)
				proxied = append(proxied, drive(b, pl.URL(), conns, perConn))
				shutdown(b, pl)
				missing += conns*perConn - countEvents(b, path)
				if e := pl.Checker().Errors(); e > 0 {
					b.Errorf("the checker found %d errors on a clean run", e)
				}
			}
			b.ReportMetric(median(direct), "direct_ev/s")
			b.ReportMetric(median(relayed), "relay_ev/s")
			b.ReportMetric(median(proxied), "proxy_ev/s")
			b.ReportMetric(median(proxied)/median(relayed), "proxy/relay")
			b.ReportMetric(float64(missing), "records_missing")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkRoundTrip: ping → pong round trips, through the relay and
// through the recording proxy, in one run (target: proxy p50 ≤ 1.15 ×
// relay p50).
func BenchmarkRoundTrip(b *testing.B) {
	up := ackUpstream(b)
	relay := tcpRelay(b, strings.TrimPrefix(up.URL, "http://"))
	pl, _ := recordingPipeline(b, up.URL)
	defer shutdown(b, pl)
	dial := func(base string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/environments/e1/status/ws?channel=control", nil)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	rc, pc := dial(relay), dial(pl.URL())
	defer rc.Close()
	defer pc.Close()
	rtt := func(c *websocket.Conn) time.Duration {
		start := time.Now()
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var r, p []float64
	for i := 0; i < b.N; i++ { // interleaved, so that both see the same machine
		r = append(r, float64(rtt(rc).Microseconds()))
		p = append(p, float64(rtt(pc).Microseconds()))
	}
	b.ReportMetric(median(r), "relay_p50_µs")
	b.ReportMetric(median(p), "proxy_p50_µs")
	b.ReportMetric(median(p)/median(r), "proxy/relay_p50")
	b.ReportMetric(0, "ns/op")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func shutdown(tb testing.TB, pl *Pipeline) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pl.Shutdown(ctx); err != nil {
		tb.Fatal(err)
	}
}
