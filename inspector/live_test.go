package inspector

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/inspector/model"
	"github.com/lettadev/wsproxy/pipeline"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/sim"
	"github.com/lettadev/wsproxy/trace"
)

func numbered(n int64) *trace.Record {
	p := []byte(fmt.Sprintf(`{"type":"ack","seq":%d}`, n))
	return &trace.Record{Kind: trace.KindFrame, T: time.Unix(1800000000, n).UTC(), Conn: "c1", N: n, From: trace.Client,
		Op: trace.OpText, Payload: p, Form: trace.FormMsg, Size: len(p)}
}

// numberedWriter writes a trace with a header, for records from numbered.
func numberedWriter(t *testing.T, path string) *recorder.Writer {
	t.Helper()
	w, err := recorder.Create(path, recorder.Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Write(trace.NewHeader("test", "0", trace.SourceProxy, time.Unix(1800000000, 0))); err != nil {
		t.Fatal(err)
	}
	return w
}

// writeNumbered writes records from..to and flushes them to the file.
func writeNumbered(t *testing.T, w *recorder.Writer, from, to int64) {
	t.Helper()
	for n := from; n <= to; n++ {
		if err := w.Write(numbered(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Records the hub skipped are read back from the trace by number and
// take their place in N order; later ones wait for them.
func TestLiveReadsSkippedRecordsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl.zst")
	live := NewLive(func() string { return path })
	defer live.Close()
	m := model.New(analysis.Config{})
	for n := int64(1); n <= 3; n++ {
		live.Write(numbered(n))
	}
	live.Skipped(4, 6)
	for n := int64(7); n <= 10; n++ {
		live.Write(numbered(n))
	}
	// The trace does not hold 4-6 yet (not flushed): 1-3 go in, the rest waits.
	w := numberedWriter(t, path)
	writeNumbered(t, w, 1, 3)
	live.drain(m)
	if m.Len() != 3 {
		t.Fatalf("after the first drain: %d rows, want 3", m.Len())
	}
	writeNumbered(t, w, 4, 12)
	live.drain(m)
	if m.Len() != 10 {
		t.Fatalf("after the second drain: %d rows, want 10", m.Len())
	}
	// A later range is read from where the last read-back stopped.
	live.Skipped(11, 12)
	live.drain(m)
	if m.Len() != 12 {
		t.Fatalf("after the third drain: %d rows, want 12", m.Len())
	}
	for i := 0; i < 12; i++ {
		if r := m.Row(i); r.N != int64(i+1) {
			t.Fatalf("row %d has N %d", i, r.N)
		}
	}
	if live.SkippedTotal() != 5 || len(m.Warnings()) != 0 {
		t.Fatalf("skipped %d, warnings %v", live.SkippedTotal(), m.Warnings())
	}
}

// A skipped range that spans a rotation is read from the end of the old
// part and the start of the new one.
func TestLiveReadBackAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	part1, part2 := filepath.Join(dir, "t.jsonl.zst"), filepath.Join(dir, "t.2.jsonl.zst")
	current := part1
	live := NewLive(func() string { return current })
	defer live.Close()
	m := model.New(analysis.Config{})
	live.Write(numbered(1))
	live.Skipped(2, 2)
	w1 := numberedWriter(t, part1)
	writeNumbered(t, w1, 1, 4)
	live.drain(m) // opens part 1, reads up to 2
	live.Skipped(3, 6)
	writeNumbered(t, numberedWriter(t, part2), 5, 8)
	current = part2
	live.Write(numbered(7))
	live.drain(m)
	if m.Len() != 7 || len(m.Warnings()) != 0 {
		t.Fatalf("%d rows (want 7), warnings %v", m.Len(), m.Warnings())
	}
	for i := 0; i < 7; i++ {
		if r := m.Row(i); r.N != int64(i+1) {
			t.Fatalf("row %d has N %d", i, r.N)
		}
	}
}

// A skipped range never found in the trace is given up on with a warning
// naming it, and the records after it go in.
func TestLiveGivesUpOnMissingRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl.zst")
	writeNumbered(t, numberedWriter(t, path), 1, 2)
	live := NewLive(func() string { return path })
	defer live.Close()
	live.GiveUp = 3
	m := model.New(analysis.Config{})
	live.Write(numbered(1))
	live.Skipped(2, 5)
	live.Write(numbered(6))
	for k := 0; k < 3; k++ {
		live.drain(m)
	}
	if m.Len() != 3 {
		t.Fatalf("%d rows, want 1, 2 (read back) and 6", m.Len())
	}
	w := m.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "records 2-5") || !strings.Contains(w[0], "3 of them could not be read back") {
		t.Fatalf("warnings %q", w)
	}
}

// Live mode shows the frames of a reference client session with the
// simulator as they pass through the recording proxy, and ends up with
// every record of the trace.
func TestLiveShowsProxiedSimulatorSession(t *testing.T) {
	env := &sim.Server{Seed: 3}
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	path := filepath.Join(t.TempDir(), "live.jsonl.zst")
	pl, err := pipeline.Start(pipeline.Config{Upstream: simURL, Path: path, Tool: "inspector-test", ToolVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	plDone := false
	defer func() {
		if !plDone {
			pl.Abort(time.Second)
		}
	}()

	s := tcell.NewSimulationScreen("UTF-8")
	h := &harness{t: t, s: s, snaps: make(chan string, 1), ticks: make(chan time.Time), done: make(chan error, 1)}
	ready := make(chan *App, 1)
	go func() {
		h.done <- Watch(pl.Hub(), pl.TracePath, WatchOptions{Title: "live test", Screen: s, Ticks: h.ticks, AfterDraw: h.snapshot,
			Ready: func(a *App) { s.SetSize(160, 45); ready <- a }})
	}()
	a := <-ready
	h.a = a
	defer func() {
		a.Stop()
		<-h.done
	}()
	h.status("all 0 rows")

	script, err := client.LoadScript(filepath.Join("..", "traces", "scripts", "turn-approval.json"))
	if err != nil {
		t.Fatal(err)
	}
	cl := &client.Client{URL: pl.URL(), RequestTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := cl.Run(ctx, script)
	if err != nil || !rep.OK() {
		t.Fatalf("client run: %v\n%s", err, rep)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := pl.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	plDone = true

	// Every record of the trace reaches the view (the hub delivers after
	// Shutdown; each tick drains what arrived).
	want := 0
	r, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.Next(); err != nil {
			break
		}
		want++
	}
	r.Close()
	var scr string
	for k := 0; k < 1000 && a.m.Len() < want; k++ {
		h.tick()
	}
	h.tick()
	scr = h.contains(fmt.Sprintf("live %d records", want))
	if a.m.Len() != want {
		t.Fatalf("live view has %d records, the trace %d", a.m.Len(), want)
	}
	// Follow mode keeps the tail in view: the last frames are the closes.
	if !strings.Contains(scr, "closed by") || !strings.Contains(scr, "live") {
		t.Fatalf("tail not shown:\n%s", scr)
	}
	h.typeText("/type:stream_delta from:server")
	h.key(tcell.KeyEnter)
	scr = h.status(fmt.Sprintf("%d of %d match", len(a.m.Match(model.Query{Filter: mustFilter(t, "type:stream_delta from:server")}, 0)), want))
	for _, l := range frameLines(scr) {
		if !strings.Contains(l, markServer+" ") || !strings.Contains(l, "stream_delta") {
			t.Fatalf("row %q", l)
		}
	}
	if len(frameLines(scr)) == 0 {
		t.Fatalf("no stream_delta rows:\n%s", scr)
	}
}

// BenchmarkLiveReadBack: a live view that keeps falling behind on a
// 100,000-record trace, one skipped range every 1,000 records, read back
// as the ranges come (the cost grows with what was written since the last
// read-back, not with the file).
func BenchmarkLiveReadBack(b *testing.B) {
	path := filepath.Join(b.TempDir(), "t.jsonl.zst")
	w, err := recorder.Create(path, recorder.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w.Write(trace.NewHeader("test", "0", trace.SourceProxy, time.Unix(1800000000, 0)))
	const n, every = 100000, 1000
	for i := int64(1); i <= n; i++ {
		w.Write(numbered(i))
	}
	w.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		live := NewLive(func() string { return path })
		m := model.New(analysis.Config{})
		for first := int64(1); first <= n; first += every {
			live.Skipped(first, first+9)
			for k := first + 10; k < first+every; k++ {
				live.Write(numbered(k))
			}
			live.drain(m)
		}
		live.Close()
		if m.Len() != n/every*10+n/every*(every-10) {
			b.Fatalf("%d rows", m.Len())
		}
	}
}
