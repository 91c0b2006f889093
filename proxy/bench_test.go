package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// event300 is a 300-byte server event.
var event300 = func() []byte {
	p := []byte(`{"type":"stream_delta","delta":{"message_type":"assistant_message","content":"` + strings.Repeat("x", 150) + `"},"runtime":{"agent_id":"agent-1","conversation_id":"default"},"event_seq":1,"idempotency_key":"stream_delta:1:b6517117-0fdd-48ec"}`)
	for len(p) < 300 {
		p = append(p[:len(p)-1], ' ', '}')
	}
	return p
}()

// benchUpstream streams n copies of event300 to each connection whose
// path is /stream?n=N, and echoes text messages otherwise.
func benchUpstream(b testing.TB) *httptest.Server {
	up := websocket.Upgrader{WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if n := r.URL.Query().Get("batched"); n != "" {
			// Frames written in 64 KiB batches, as a busy relay does.
			var count int
			fmt.Sscan(n, &count)
			frame := wsframe.AppendFrame(nil, wsframe.Header{Fin: true, Opcode: wsframe.OpText}, event300)
			var batch []byte
			for len(batch)+len(frame) <= 64<<10 {
				batch = append(batch, frame...)
			}
			per := len(batch) / len(frame)
			raw := c.UnderlyingConn()
			for sent := 0; sent < count; sent += per {
				k := min(per, count-sent)
				if _, err := raw.Write(batch[:k*len(frame)]); err != nil {
					return
				}
			}
			c.ReadMessage()
			return
		}
		if n := r.URL.Query().Get("n"); n != "" {
			var count int
			fmt.Sscan(n, &count)
			pm, _ := websocket.NewPreparedMessage(websocket.TextMessage, event300)
			for i := 0; i < count; i++ {
				if err := c.WritePreparedMessage(pm); err != nil {
					return
				}
			}
			c.ReadMessage() // wait for the client to close
			return
		}
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, p)
		}
	}))
	return srv
}

// recordingProxy starts a proxy in front of up that records to a zstd
// trace in dir.
func recordingProxy(b testing.TB, up string, dir string) (*httptest.Server, func()) {
	w, err := recorder.Create(filepath.Join(dir, "bench.jsonl.zst"), recorder.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w.Write(trace.NewHeader("bench", "0", trace.SourceProxy, time.Now()))
	w.Flush() // the compressor's window is allocated now, not while a benchmark measures
	p, err := New(Options{Upstream: up, Sink: w})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(p)
	return srv, func() {
		srv.Close()
		p.Close()
		w.Close()
		if d := p.Dropped(); d > 0 {
			b.Logf("%d records dropped", d)
		}
	}
}

func stream(b testing.TB, base, param string, n int) time.Duration {
	d := websocket.Dialer{ReadBufferSize: 64 << 10}
	c, _, err := d.Dial(fmt.Sprintf("ws%s/stream?%s=%d", strings.TrimPrefix(base, "http"), param, n), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
	return el
}

// BenchmarkThroughput streams 300-byte server events directly and
// through a recording proxy, in the same run, and reports both rates and
// their ratio (target: proxied ≥ 60% of direct). The upstream writes each
// event as it comes, as gorilla/websocket servers (the simulator) do.
func BenchmarkThroughput(b *testing.B) { compareThroughput(b, "n", 20000) }

// BenchmarkThroughputBatched is BenchmarkThroughput with an upstream that
// writes its frames in 64 KiB batches, so that the direct path is as cheap
// as loopback allows and the proxy's own cost shows.
func BenchmarkThroughputBatched(b *testing.B) { compareThroughput(b, "batched", 100000) }

// compareThroughput streams max(b.N, least) frames of the upstream's
// stream kind directly and through the proxy, alternating in rounds so
// that machine noise hits both alike.
func compareThroughput(b *testing.B, kind string, least int) {
	up := benchUpstream(b)
	defer up.Close()
	px, stop := recordingProxy(b, up.URL, b.TempDir())
	defer stop()
	n := max(b.N, least)
	var direct, proxied time.Duration
	const rounds = 10
	for r := 0; r < rounds; r++ {
		direct += stream(b, up.URL, kind, n/rounds)
		proxied += stream(b, px.URL, kind, n/rounds)
	}
	dr := float64(n) / direct.Seconds()
	pr := float64(n) / proxied.Seconds()
	b.ReportMetric(dr, "direct-frames/s")
	b.ReportMetric(pr, "proxied-frames/s")
	b.ReportMetric(pr/dr, "proxied/direct")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRoundTrip measures request→reply round trips directly and
// through the recording proxy, in the same run, and reports the median and
// p99 of each and the latency the proxy adds (targets: ≤ 100 µs median,
// ≤ 1 ms p99).
func BenchmarkRoundTrip(b *testing.B) {
	up := benchUpstream(b)
	defer up.Close()
	px, stop := recordingProxy(b, up.URL, b.TempDir())
	defer stop()
	dial := func(base string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/echo", nil)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	dc, pc := dial(up.URL), dial(px.URL)
	defer dc.Close()
	defer pc.Close()
	req := []byte(`{"type":"read_file","request_id":"rf-1","path":"/home/user/project/main.go"}`)
	rtt := func(c *websocket.Conn) time.Duration {
		start := time.Now()
		if err := c.WriteMessage(websocket.TextMessage, req); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	n := max(b.N, 2000)
	var ds, ps []time.Duration
	for i := 0; i < 200; i++ { // warm up
		rtt(dc)
		rtt(pc)
	}
	for i := 0; i < n; i++ {
		ds = append(ds, rtt(dc))
		ps = append(ps, rtt(pc))
	}
	q := func(xs []time.Duration, p float64) time.Duration {
		s := append([]time.Duration(nil), xs...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[int(p*float64(len(s)-1))]
	}
	b.ReportMetric(float64(q(ds, 0.5).Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(q(ps, 0.5).Microseconds()), "proxied-p50-µs")
	b.ReportMetric(float64(q(ds, 0.99).Microseconds()), "direct-p99-µs")
	b.ReportMetric(float64(q(ps, 0.99).Microseconds()), "proxied-p99-µs")
	b.ReportMetric(float64((q(ps, 0.5) - q(ds, 0.5)).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((q(ps, 0.99) - q(ds, 0.99)).Microseconds()), "added-p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleConnections opens 1,000 idle WebSocket connections directly
// and through the proxy and reports the proxy's memory per connection:
// (heap + stacks with the proxy) − (heap + stacks without), / 1,000.
// Target: ≤ 64 KiB.
func BenchmarkIdleConnections(b *testing.B) {
	const conns = 1000
	up := benchUpstream(b)
	defer up.Close()
	px, stop := recordingProxy(b, up.URL, b.TempDir())
	defer stop()
	baseline := runtime.NumGoroutine()
	measure := func(base string) (uint64, []*websocket.Conn) {
		// Wait for the goroutines of connections closed before to end, so
		// that they are not counted (bounded: 5 s).
		for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > baseline && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var cs []*websocket.Conn
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/idle", nil)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				cs = append(cs, c)
				mu.Unlock()
			}()
			if i%50 == 49 {
				wg.Wait()
			}
		}
		wg.Wait()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
		return used, cs
	}
	closeAll := func(cs []*websocket.Conn) {
		for _, c := range cs {
			c.Close()
		}
	}
	direct, dcs := measure(up.URL)
	closeAll(dcs)
	proxied, pcs := measure(px.URL)
	per := (float64(proxied) - float64(direct)) / conns
	b.ReportMetric(per/1024, "KiB/conn")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	closeAll(pcs)
	b.ReportMetric(0, "ns/op")
}
