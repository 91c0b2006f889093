// Package testenv wires the toolkit together for tests: it runs a
// reference client script against the simulator through a recording proxy
// (with the checker live, if asked) and hands back the trace, the client's
// report and the simulator's ground truth. Tests of several packages share
// it instead of each wiring the same session.
package testenv

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/proxy"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/sim"
	"github.com/lettadev/wsproxy/trace"
)

// Options configure Record.
type Options struct {
	// Check, when set, runs the checker live in the proxy with this
	// configuration; its findings are in Recording.Live.
	Check *analysis.Config
	// Proxy configures the proxy (Upstream and Sink are set by Record).
	Proxy proxy.Options
	// Plain records uncompressed JSON Lines.
	Plain bool
	// Timeout bounds the client's run (default 2 minutes).
	Timeout time.Duration
}

// Recording is what Record produced.
type Recording struct {
	// Path is the trace file, in the test's temporary directory.
	Path string
	// Report is the client's report; SimFaults the simulator's ground
	// truth; Live the live checker's findings (when Options.Check is set).
	Report    *client.Report
	SimFaults []faults.Fault
	Live      []analysis.Finding
}

// Record starts env, puts a recording proxy in front of it, points cl at
// the proxy and runs script (nil: the default script). Everything is shut
// down and the trace closed before it returns; a failure to run fails the
// test.
func Record(t testing.TB, env *sim.Server, cl *client.Client, script *client.Script, opts Options) Recording {
	t.Helper()
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	name, wopts := "run.jsonl.zst", recorder.Options{}
	if opts.Plain {
		name, wopts = "run.jsonl", recorder.Options{Compression: recorder.Plain}
	}
	path := filepath.Join(t.TempDir(), name)
	w, err := recorder.Create(path, wopts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(trace.NewHeader("testenv", "0", trace.SourceProxy, time.Now())); err != nil {
		t.Fatal(err)
	}
	var live *analysis.Engine
	sink := trace.Sink(w)
	popts := opts.Proxy
	if opts.Check != nil {
		cfg := *opts.Check
		cfg.Collect = true
		live = analysis.New(cfg)
		live.SetFile(path)
		sink = trace.Tee{w, live}
		popts.Tick = live.Advance
	}
	popts.Upstream, popts.Sink = simURL, sink
	p, err := proxy.New(popts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	cl.URL = "http://" + ln.Addr().String()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep, runErr := cl.Run(ctx, script)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	p.Shutdown(sctx)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		t.Fatalf("client run: %v", runErr)
	}
	rec := Recording{Path: path, Report: rep, SimFaults: env.Faults()}
	if live != nil {
		live.Finish(time.Now())
		rec.Live = live.Findings()
	}
	return rec
}
