package model

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/filter"
	"github.com/lettadev/wsproxy/internal/synth"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

var (
	bigOnce   sync.Once
	bigDir    string
	bigPath   string
	bigFrames int
)

// bigTrace writes a healthy 1,000,000-frame synth session (zstd) once per
// test binary run, cut after a turn's last ack.
func bigTrace(tb testing.TB) string {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "inspector-bench-")
		if err != nil {
			tb.Fatal(err)
		}
		bigDir, bigPath = dir, filepath.Join(dir, "synth-1m.jsonl.zst")
		w, err := recorder.Create(bigPath, recorder.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(trace.NewHeader("inspector-bench", "0", trace.SourceSimulator, time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)))
		g := synth.New(1)
		finished := false
		for {
			r := g.Next()
			if err := w.Write(r); err != nil {
				tb.Fatal(err)
			}
			if r.Kind != trace.KindFrame {
				continue
			}
			bigFrames++
			if bigFrames >= 1_000_000 && finished && r.From == trace.Client && bytes.HasPrefix(r.Payload, []byte(`{"type":"ack"`)) {
				break
			}
			finished = r.From == trace.Server && bytes.HasPrefix(r.Payload, []byte(`{"type":"turn_finished"`))
		}
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
	})
	if bigPath == "" {
		tb.Fatal("benchmark trace was not written")
	}
	return bigPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// cpuSeconds returns the CPU time (user + system) the process used so
// far: on a shared machine it says what loading costs when wall time
// says how busy the neighbours are.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// vmHWM returns the process's peak resident set size in MB (Linux).
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkLoad1M loads the 1,000,000-frame trace as the inspector does
// (a reading goroutine, the checker and the rows on another) and reports
// when the first screenful of rows was there, when everything was
// indexed, the peak heap, the heap the loaded model keeps, and the
// process's peak RSS.
func BenchmarkLoad1M(b *testing.B) {
	path := bigTrace(b)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var first, full time.Duration
	var cpu float64
	var peak atomic.Uint64
	var kept uint64
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cpu0 := cpuSeconds()
		fs, err := Open([]string{path})
		if err != nil {
			b.Fatal(err)
		}
		m := New(analysis.Config{})
		done := make(chan struct{})
		go func() {
			m.Load(fs, nil)
			close(done)
		}()
		tick := time.NewTicker(20 * time.Millisecond)
		var ms runtime.MemStats
		gotFirst := false
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-tick.C:
				if !gotFirst && m.Len() >= 100 {
					first += time.Since(start)
					gotFirst = true
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
		tick.Stop()
		full += time.Since(start)
		cpu += cpuSeconds() - cpu0
		if !gotFirst {
			first += time.Since(start)
		}
		if m.Len() < 1_000_000 || !m.Progress().Done || len(m.Findings()) != 0 {
			b.Fatalf("%d rows, progress %+v, %d findings", m.Len(), m.Progress(), len(m.Findings()))
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		kept = ms.HeapAlloc
		runtime.KeepAlive(m)
	}
	b.StopTimer()
	b.ReportMetric(first.Seconds()/float64(b.N), "s-first-screen")
	b.ReportMetric(full.Seconds()/float64(b.N), "s-indexed")
	b.ReportMetric(cpu/float64(b.N), "cpu-s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(kept)/(1<<20), "kept-heap-MB")
	b.ReportMetric(vmHWM(), "peak-RSS-MB")
	b.ReportMetric(0, "ns/op")
}

var loadedOnce sync.Once
var loadedBig *Model

func bigModel(b *testing.B) *Model {
	loadedOnce.Do(func() {
		m, err := LoadAll([]string{bigTrace(b)}, analysis.Config{})
		if err != nil {
			b.Fatal(err)
		}
		loadedBig = m
	})
	return loadedBig
}

// BenchmarkFilter1M runs filters over the loaded 1,000,000-frame trace:
// terms only (compact rows), and free text (payload blocks decoded on
// every core).
func BenchmarkFilter1M(b *testing.B) {
	m := bigModel(b)
	for _, c := range []struct{ name, filter string }{
		{"terms", "type:stream_delta from:server"},
		{"negated", "-type:ack conn:c2"},
		{"text", `"explain file7"`},
		{"text-rare", "func main"},
		{"text-and-terms", "type:read_file_response package"},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := filter.MustParse(c.filter)
			var n int
			for i := 0; i < b.N; i++ {
				n = len(m.Match(Query{Filter: f}, 0))
			}
			if n == 0 {
				b.Fatalf("%q matched nothing", c.filter)
			}
			b.ReportMetric(float64(n), "matches")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*1000, "ms/filter")
		})
	}
}
