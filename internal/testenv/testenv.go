// Package testenv wires the toolkit together for tests: it runs a
// reference client script against the simulator through a recording proxy
// (with the checker live, if asked) and hands back the trace, the client's
// report and the simulator's ground truth. Tests of several packages share
// it instead of each wiring the same session.
package testenv

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/pipeline"
	"github.com/lettadev/wsproxy/proxy"
	"github.com/lettadev/wsproxy/sim"
)

// Options configure Record.
type Options struct {
	// Check, when set, runs the checker live in the proxy with this
	// configuration; its findings are in Recording.Live.
	Check *analysis.Config
	// Proxy configures the proxy (Upstream and Hub are set by Record).
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
	name := "run.jsonl.zst"
	if opts.Plain {
		name = "run.jsonl"
	}
	path := filepath.Join(t.TempDir(), name)
	cfg := pipeline.Config{Upstream: simURL, Path: path, Tool: "testenv", ToolVersion: "0", Proxy: opts.Proxy}
	if opts.Check != nil {
		c := *opts.Check
		c.Collect = true
		cfg.Check = &c
	}
	pl, err := pipeline.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.URL = pl.URL()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rep, runErr := cl.Run(ctx, script)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := pl.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		t.Fatalf("client run: %v", runErr)
	}
	rec := Recording{Path: path, Report: rep, SimFaults: env.Faults()}
	if live := pl.Checker(); live != nil {
		rec.Live = live.Findings()
	}
	return rec
}
