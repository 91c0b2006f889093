package analysis

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// heapSampler records the peak HeapInuse while it runs.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func sampleHeap(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) done() float64 {
	close(h.stop)
	h.wg.Wait()
	return float64(h.peak.Load()) / (1 << 20)
}

// BenchmarkCheck1M checks a 1,000,000-frame synth trace file (zstd)
// end to end: reading, decoding and checking, on two goroutines.
func BenchmarkCheck1M(b *testing.B) {
	path, frames := bigTrace(b)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	h := sampleHeap(20 * time.Millisecond)
	for i := 0; i < b.N; i++ {
		rep := CheckFiles([]string{path}, Config{})
		if rep.Errors != 0 || rep.Frames != int64(frames) {
			b.Fatalf("errors %d, frames %d of %d", rep.Errors, rep.Frames, frames)
		}
	}
	b.StopTimer()
	peak := h.done()
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(peak, "peak-heap-MB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEngine1M feeds a 1,000,000-frame synth session to the engine
// alone; the records are generated in chunks with the timer stopped. It
// reports the live heap after each chunk (engine state plus generator)
// at the first chunk and at its peak, to show it stays flat.
func BenchmarkEngine1M(b *testing.B) {
	const frames, chunk = 1_000_000, 50_000
	b.ReportAllocs()
	var first, peak float64
	var elapsed time.Duration
	total := 0
	for i := 0; i < b.N; i++ {
		e := New(Config{})
		recs := make([]*trace.Record, 0, chunk*11/10)
		var ms runtime.MemStats
		flush := func() {
			start := time.Now()
			for _, r := range recs {
				e.Write(r)
			}
			elapsed += time.Since(start)
			clear(recs)
			recs = recs[:0]
			runtime.GC()
			runtime.ReadMemStats(&ms)
			live := float64(ms.HeapAlloc) / (1 << 20)
			if first == 0 {
				first = live
			}
			peak = max(peak, live)
		}
		n := 0
		synthStream(1, frames, func(r *trace.Record) {
			r.Form = trace.FormOf(r.Op, r.Payload) // as a file or the proxy gives it
			recs = append(recs, r)
			if r.Kind == trace.KindFrame {
				n++
				if n%chunk == 0 {
					flush()
				}
			}
		})
		flush()
		start := time.Now()
		e.Finish(time.Time{})
		elapsed += time.Since(start)
		if e.Errors() != 0 {
			b.Fatalf("%d errors", e.Errors())
		}
		total += n
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(first, "live-heap-first-MB")
	b.ReportMetric(peak, "live-heap-peak-MB")
	b.ReportMetric(0, "ns/op")
}
