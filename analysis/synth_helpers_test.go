package analysis

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/internal/synth"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// synthStream returns the records of a healthy synth session with at
// least frames frames, cut after a turn's last frame (the client's ack of
// turn_finished) so that nothing is left outstanding. each is called with
// every record.
func synthStream(seed int64, frames int, each func(*trace.Record)) {
	g := synth.New(seed)
	n := 0
	finished := false
	for {
		r := g.Next()
		each(r)
		if r.Kind != trace.KindFrame {
			continue
		}
		n++
		if n >= frames && finished && r.From == trace.Client && bytes.HasPrefix(r.Payload, []byte(`{"type":"ack"`)) {
			return
		}
		finished = r.From == trace.Server && bytes.HasPrefix(r.Payload, []byte(`{"type":"turn_finished"`))
	}
}

// writeSynthTrace writes a synth session of at least frames frames to
// path (zstd) and returns the number of frames written.
func writeSynthTrace(tb testing.TB, path string, frames int) int {
	tb.Helper()
	w, err := recorder.Create(path, recorder.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Write(trace.NewHeader("analysis-test", "0", trace.SourceSimulator, time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC))); err != nil {
		tb.Fatal(err)
	}
	n := 0
	synthStream(1, frames, func(r *trace.Record) {
		if r.Kind == trace.KindFrame {
			n++
		}
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
	})
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return n
}

var (
	benchOnce   sync.Once
	benchDir    string
	benchFile   string
	benchFrames int
)

// bigTrace writes the 1,000,000-frame benchmark trace once per test
// binary run.
func bigTrace(tb testing.TB) (string, int) {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "analysis-bench-")
		if err != nil {
			tb.Fatal(err)
		}
		benchDir = dir
		benchFile = dir + "/synth-1m.jsonl.zst"
		benchFrames = writeSynthTrace(tb, benchFile, 1_000_000)
	})
	if benchFile == "" {
		tb.Fatal("benchmark trace was not written")
	}
	return benchFile, benchFrames
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}
