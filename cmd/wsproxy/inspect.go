package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/inspector"
	"github.com/lettadev/wsproxy/pipeline"
)

func init() {
	register("inspect", command{summary: "browse traces in a terminal UI (frames, findings, turns, stats)", run: runInspect})
}

// runInspect is "wsproxy inspect": exit 0 after q, 2 on a usage or read
// error.
func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := analysis.DefaultConfig()
	flt := fs.String("filter", "", "start with this filter (the language of the / prompt)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wsproxy inspect [flags] TRACE_OR_DIR...")
		fmt.Fprintln(stderr, "Browses recorded traces in the terminal (a directory means its trace files;")
		fmt.Fprintln(stderr, "rotated parts and several files open together). Press ? inside for the keys.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if err := inspector.Inspect(fs.Args(), inspector.FilesOptions{Check: cfg, Filter: *flt}); err != nil {
		fmt.Fprintf(stderr, "wsproxy inspect: %v\n", err)
		return 2
	}
	return 0
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

// newLiveUI adapts cfg for the UI: no console, no printed findings.
func newLiveUI(cfg *pipeline.Config, stdout, stderr io.Writer) *liveUI {
	u := &liveUI{stdout: stdout, stderr: stderr, check: analysis.DefaultConfig(), ended: make(chan struct{})}
	if cfg.Check != nil {
		u.check = *cfg.Check
		u.check.OnFinding = nil
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
