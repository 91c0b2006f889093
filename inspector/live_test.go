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

func writeNumbered(t *testing.T, path string, upTo int64) {
	t.Helper()
	w, err := recorder.Create(path, recorder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(trace.NewHeader("test", "0", trace.SourceProxy, time.Unix(1800000000, 0))); err != nil {
		t.Fatal(err)
	}
	for n := int64(1); n <= upTo; n++ {
		if err := w.Write(numbered(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Records the hub skipped are read back from the trace by number and
// take their place in N order; later ones wait for them.
func TestLiveReadsSkippedRecordsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl.zst")
	live := NewLive(func() string { return path })
	m := model.New(analysis.Config{})
	for n := int64(1); n <= 3; n++ {
		live.Write(numbered(n))
	}
	live.Skipped(4, 6)
	for n := int64(7); n <= 10; n++ {
		live.Write(numbered(n))
	}
	// The trace does not hold 4-6 yet (not flushed): 1-3 go in, the rest waits.
	writeNumbered(t, path, 3)
	live.drain(m)
	if m.Len() != 3 {
		t.Fatalf("after the first drain: %d rows, want 3", m.Len())
	}
	writeNumbered(t, path, 12)
	live.drain(m)
	if m.Len() != 10 {
		t.Fatalf("after the second drain: %d rows, want 10", m.Len())
	}
	for i := 0; i < 10; i++ {
		if r := m.Row(i); r.N != int64(i+1) {
			t.Fatalf("row %d has N %d", i, r.N)
		}
	}
	if live.SkippedTotal() != 3 || len(m.Warnings()) != 0 {
		t.Fatalf("skipped %d, warnings %v", live.SkippedTotal(), m.Warnings())
	}
}

// A skipped range never found in the trace is given up on with a warning
// naming it, and the records after it go in.
func TestLiveGivesUpOnMissingRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl.zst")
	writeNumbered(t, path, 2)
	live := NewLive(func() string { return path })
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
