package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/inspector"
	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/pipeline"
)

const inspectUsage = `usage: wsproxy inspect [flags] TRACE_OR_DIR...

Browses recorded traces in the terminal: connections grouped by session,
the frames (a virtual table: a million rows open at once), the selected
frame as coloured JSON, the checker's findings, a turn view and stats. A
directory means its trace files; rotated parts and several files open
together. Press ? inside for the keys, q to quit. wsproxy -ui shows the
same inspector live while proxying. Exit status: 0 after q, 2 on a usage
or read error (a missing file, a file that is not a trace, no terminal).

Examples:
  wsproxy inspect traces/sim-turn-approval.jsonl.zst
  wsproxy inspect wsproxy-traces/
  wsproxy inspect -filter 'rule:*' run.jsonl.zst`

// runInspect is "wsproxy inspect".
func runInspect(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy inspect", inspectUsage, stdout, stderr)
	cfg := analysis.DefaultConfig()
	f.CheckerFlags(&cfg)
	flt := f.String("filter", "", "start with this filter (the language of the / prompt and wsproxy grep)")
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return f.Usagef("no TRACE_OR_DIR given")
	}
	if err := inspector.Inspect(pos, inspector.FilesOptions{Check: cfg, Filter: *flt}); err != nil {
		return f.Failf("%v", err)
	}
	return cli.ExitOK
}

// liveUI is the proxy's -ui mode: the inspector in the terminal instead
// of the console lines (which would garble it); log lines and findings
// go to the inspector's warning line and findings pane.
type liveUI struct {
	stdout, stderr io.Writer
	check          analysis.Config
	app            atomic.Pointer[inspector.App]
	ended          chan struct{}
	err            error
}

// newLiveUI adapts cfg for the UI: no console, no printed findings; the
// inspector runs its own checker with check.
func newLiveUI(cfg *pipeline.Config, check analysis.Config, stdout, stderr io.Writer) *liveUI {
	u := &liveUI{stdout: stdout, stderr: stderr, check: check, ended: make(chan struct{})}
	u.check.OnFinding = nil
	if cfg.Check != nil {
		cfg.Check.OnFinding = nil
	}
	cfg.Console = nil
	logf := cfg.Proxy.Logf
	cfg.Proxy.Logf = func(format string, a ...any) {
		if app := u.app.Load(); app != nil {
			app.Warn(fmt.Sprintf(format, a...))
			return
		}
		if logf != nil {
			logf(format, a...)
		}
	}
	return u
}

// run starts the inspector on pl's hub; done is closed when the user
// quits (or ctx ends).
func (u *liveUI) run(ctx context.Context, pl *pipeline.Pipeline, title string) {
	ready := make(chan struct{})
	go func() {
		defer close(u.ended)
		u.err = inspector.Watch(pl.Hub(), pl.TracePath, inspector.WatchOptions{Title: title, Check: u.check,
			Ready: func(a *inspector.App) { u.app.Store(a); close(ready) }})
		if u.err != nil {
			fmt.Fprintln(u.stderr, "wsproxy -ui:", u.err)
		}
	}()
	select {
	case <-ready:
	case <-u.ended:
		return
	}
	go func() {
		select {
		case <-ctx.Done():
			u.app.Load().Stop()
		case <-u.ended:
		}
	}()
}

// done is closed when the UI has ended; nil (never) without -ui.
func (u *liveUI) done() <-chan struct{} {
	if u == nil {
		return nil
	}
	return u.ended
}
