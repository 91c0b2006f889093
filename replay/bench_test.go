package replay_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/klauspost/compress/zstd"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/replay"
	"github.com/lettadev/wsproxy/trace"
)

var (
	benchMu     sync.Mutex
	benchTraces = map[int]string{}
	benchDir    string
)

// streamTrace writes (once per size) a trace of one stream socket
// carrying n device events of about 400 bytes, with relay seqs.
func streamTrace(b *testing.B, n int) (path string, bytes int64) {
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchDir == "" {
		dir, err := os.MkdirTemp("", "replay-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir // removed by TestMain
	}
	path = filepath.Join(benchDir, fmt.Sprintf("stream-%d.jsonl.zst", n))
	t0 := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	frame := func(i int) []byte {
		return fmt.Appendf(nil, `{"type":"stream_delta","delta":{"id":"ui-msg-%d","message_type":"assistant_message","content":[{"type":"text","text":"The file defines a main function that does nothing yet, word %d."}],"run_id":"local-run-1","seq_id":%d,"type":"message"},"runtime":{"agent_id":"agent-00000000-0000-4000-8000-000000000001","conversation_id":"default"},"event_seq":%d,"emitted_at":"2026-11-28T17:04:18.522Z","idempotency_key":"stream_delta:%d:b6517117-0fdd-48ec-8162-39033498b5a9","seq":%d}`, i/10, i, i, i, i, i)
	}
	for i := 1; i <= n; i++ {
		bytes += int64(len(frame(i)))
	}
	if _, ok := benchTraces[n]; ok {
		return path, bytes
	}
	w, err := recorder.Create(path, recorder.Options{Level: zstd.SpeedFastest})
	if err != nil {
		b.Fatal(err)
	}
	w.Write(trace.NewHeader("bench", "1", trace.SourceProxy, t0))
	u := statusURL("conn-1", "stream")
	w.Write(&trace.Record{Kind: trace.KindOpen, T: t0, Conn: "c2", Open: &trace.Open{URL: u}})
	for i := 1; i <= n; i++ {
		p := frame(i)
		w.Write(&trace.Record{Kind: trace.KindFrame, T: t0.Add(time.Duration(i) * time.Microsecond), Conn: "c2",
			From: trace.Server, Op: trace.OpText, Payload: p, Size: len(p), Form: trace.FormMsg})
	}
	w.Write(&trace.Record{Kind: trace.KindClose, T: t0.Add(time.Duration(n+1) * time.Microsecond), Conn: "c2", By: trace.Server, Code: 1000})
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	benchTraces[n] = path
	return path, bytes
}

// heapSampler records the peaks of the heap (objects, live or not yet
// swept) and of the live heap (as of the last GC) while it runs.
type heapSampler struct {
	stop       chan struct{}
	done       chan struct{}
	peak, live uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			h.live = max(h.live, s[1].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) end() (peak, live uint64) {
	close(h.stop)
	<-h.done
	return h.peak, h.live
}

// BenchmarkFastServe serves a long recorded stream in Fast mode to a
// local gorilla client. It reports frames/s, the payload MB/s, and the
// peak live heap, which stays flat as the trace grows.
func BenchmarkFastServe(b *testing.B) {
	for _, n := range []int{20_000, 200_000, 1_000_000} {
		b.Run(fmt.Sprintf("frames=%d", n), func(b *testing.B) {
			path, size := streamTrace(b, n)
			srv, err := replay.NewServer(path, replay.Options{Mode: replay.Fast, Repeat: true, Linger: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			hs := httptest.NewServer(srv)
			defer hs.Close()
			u := "ws" + hs.URL[len("http"):] + statusURL("conn-1", "stream")
			runtime.GC()
			h := sampleHeap()
			b.ReportAllocs()
			b.SetBytes(size)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				ws, _, err := websocket.DefaultDialer.Dial(u, nil)
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					_, r, err := ws.NextReader()
					if err != nil {
						break
					}
					io.Copy(io.Discard, r)
					got++
				}
				ws.Close()
				if got != n {
					b.Fatalf("got %d frames, want %d", got, n)
				}
				srv.Wait(context.Background())
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(n)*float64(b.N)/el.Seconds(), "frames/s")
			peak, live := h.end()
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(live)/(1<<20), "peak-live-MB")
		})
	}
}
