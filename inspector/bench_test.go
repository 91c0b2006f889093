package inspector

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"go.uber.org/goleak"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/inspector/model"
	"github.com/lettadev/wsproxy/internal/synth"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

var (
	bigOnce sync.Once
	bigDir  string
	bigPath string
)

// bigTrace writes a 1,000,000-frame synth session once per test binary.
func bigTrace(b *testing.B) string {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "inspector-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bigDir, bigPath = dir, filepath.Join(dir, "synth-1m.jsonl.zst")
		w, err := recorder.Create(bigPath, recorder.Options{})
		if err != nil {
			b.Fatal(err)
		}
		w.Write(trace.NewHeader("inspector-bench", "0", trace.SourceSimulator, time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)))
		g := synth.New(1)
		frames, finished := 0, false
		for {
			r := g.Next()
			if err := w.Write(r); err != nil {
				b.Fatal(err)
			}
			if r.Kind != trace.KindFrame {
				continue
			}
			frames++
			// Cut after a turn's last ack, so nothing is left outstanding.
			if frames >= 1_000_000 && finished && r.From == trace.Client && bytes.HasPrefix(r.Payload, []byte(`{"type":"ack"`)) {
				break
			}
			finished = r.From == trace.Server && bytes.HasPrefix(r.Payload, []byte(`{"type":"turn_finished"`))
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	})
	if bigPath == "" {
		b.Fatal("benchmark trace was not written")
	}
	return bigPath
}

// TestMain checks that no test leaves a goroutine behind (the App's
// ticker and query goroutines, the live sink's subscription, the loader).
func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// BenchmarkFirstScreen1M opens the 1,000,000-frame trace as `wsproxy
// inspect` does and reports when the first screen showed frames (the rest
// still loading), when loading was done, and how long a key that scrolls
// (PgDn, G, g, n) takes to be drawn once everything is loaded.
func BenchmarkFirstScreen1M(b *testing.B) {
	path := bigTrace(b)
	var first, indexed, scroll time.Duration
	keys := 0
	for i := 0; i < b.N; i++ {
		start := time.Now()
		fs, err := model.Open([]string{path})
		if err != nil {
			b.Fatal(err)
		}
		m := model.New(analysis.Config{})
		s := tcell.NewSimulationScreen("UTF-8")
		h := &harness{t: nil, s: s, snaps: make(chan string, 1), ticks: make(chan time.Time), done: make(chan error, 1)}
		a := New(m, Options{Title: path, Screen: s, Ticks: h.ticks, AfterDraw: h.snapshot})
		s.SetSize(160, 45)
		stop := make(chan struct{})
		loaded := make(chan struct{})
		go func() { m.Load(fs, stop); close(loaded) }()
		go func() { h.done <- a.Run() }()
		// Tick until a draw shows frame rows.
		for {
			h.ticks <- time.Now()
			if scr := <-h.snaps; len(frameLines(scr)) > 10 {
				break
			}
		}
		first += time.Since(start)
		<-loaded
		indexed += time.Since(start)
		h.ticks <- time.Now()
		<-h.snaps
		for _, k := range []tcell.Key{tcell.KeyPgDn, tcell.KeyPgDn, tcell.KeyEnd, tcell.KeyHome, tcell.KeyPgDn} {
			t0 := time.Now()
			s.InjectKey(k, 0, tcell.ModNone)
			<-h.snaps
			scroll += time.Since(t0)
			keys++
		}
		for _, r := range "Gg" {
			t0 := time.Now()
			s.InjectKey(tcell.KeyRune, r, tcell.ModNone)
			scr := <-h.snaps
			scroll += time.Since(t0)
			keys++
			if r == 'G' && !strings.Contains(scr, "1000") {
				b.Fatalf("G did not show the last rows:\n%s", scr)
			}
		}
		a.Stop()
		<-h.done
		close(stop)
	}
	b.ReportMetric(first.Seconds()/float64(b.N), "s-first-screen")
	b.ReportMetric(indexed.Seconds()/float64(b.N), "s-indexed")
	b.ReportMetric(float64(scroll.Microseconds())/float64(keys)/1000, "ms/scroll-key")
	b.ReportMetric(0, "ns/op")
}
