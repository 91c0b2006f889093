package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/pipeline"
	"github.com/lettadev/wsproxy/proxy"
	"github.com/lettadev/wsproxy/sim"
)

const demoUsage = `usage: wsproxy demo [flags]

Runs the main job end to end with no account and no network: starts the
simulated Letta Code environment, puts the recording proxy in front of it,
drives the reference client through a scripted session (every command of
the reference, turns with tool approvals, a reconnect), records the trace,
runs the protocol checker live, and prints where the trace is and how to
check and replay it.

  wsproxy demo                 a healthy session: no protocol errors
  wsproxy demo -faults         the simulator and client misbehave on purpose;
                               the checker reports each injected fault

Exit status: 0 for a healthy session, 1 when the client or the checker
found errors (without -faults), 2 on a usage error or when it cannot start.`

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("wsproxy demo", demoUsage, stdout, stderr)
	out := fs.String("out", "wsproxy-traces", "trace FILE or DIR (see wsproxy help proxy)")
	mkdir := fs.Bool("mkdir", false, "create -out's missing parent directories")
	faulty := fs.Bool("faults", false, "turn on the simulator's and the client's fault knobs")
	seed := fs.Int64("seed", 1, "seed of the simulator and the fault choices")
	dialect := fs.String("dialect", "v2", "reply names: v2 (the real device) or reference (the published reference)")
	single := fs.Bool("single", false, "one socket per session instead of control + stream")
	level := fs.Verbosity("do not print connections as they open and close", "also print every frame, one line each")
	scriptFile := fs.String("script", "", "run this client script (JSON, see traces/scripts/) instead of the default one")
	pos, code, ok := fs.Parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fs.Usagef("unexpected argument %q", pos[0])
	}
	d, err := sim.ParseDialect(*dialect)
	if err != nil {
		return fs.Usagef("%v", err)
	}
	plan, err := cli.PlanOut(*out, *mkdir, time.Now())
	if err != nil {
		return fs.Usagef("%v", err)
	}
	var script *client.Script
	if *scriptFile != "" {
		if script, err = client.LoadScript(*scriptFile); err != nil {
			return fs.Usagef("%v", err)
		}
	}
	sig := signalContext(stderr)
	defer sig.stop()
	ctx := sig.ctx
	return demo(ctx, demoConfig{out: plan, faults: *faulty, seed: *seed, dialect: d, single: *single, level: level, script: script}, stdout, stderr)
}

type demoConfig struct {
	out     cli.OutPlan
	faults  bool
	seed    int64
	dialect sim.Dialect
	single  bool
	level   *cli.Level
	script  *client.Script // nil: the default script
}

const demoToken = "demo-token-not-a-secret"

func demo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) int {
	// The simulated environment.
	env := &sim.Server{Token: demoToken, Seed: cfg.seed, Dialect: cfg.dialect}
	if cfg.faults {
		env.Inject = sim.Faults{GapEvery: 40, DuplicateEvery: 45, AlterEvery: 170, UnansweredEvery: 25, OrphanEvery: 30, Timeout: 2 * time.Second}
	}
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy demo: simulator:", err)
		return 2
	}
	defer env.Close()

	// The recording proxy, with the checker live.
	if err := cfg.out.Prepare(); err != nil {
		fmt.Fprintln(stderr, "wsproxy demo:", err)
		return 2
	}
	ccfg := analysis.DefaultConfig()
	ccfg.ResponseTimeout = 2 * time.Second // the demo's requests are answered in milliseconds
	var liveMu sync.Mutex
	var live []analysis.Finding // for -faults: compared with the ground truth
	ccfg.OnFinding = func(f analysis.Finding) {
		fmt.Fprintf(stdout, "  %-4s %s\n", f.Conn, f)
		liveMu.Lock()
		live = append(live, f)
		liveMu.Unlock()
	}
	pcfg := pipeline.Config{Upstream: simURL, Path: cfg.out.Path, Tool: "wsproxy", ToolVersion: version, Check: &ccfg,
		Proxy: proxy.Options{Logf: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }}}
	pcfg.Console = consoleOut(cfg.level, stdout)
	pl, err := pipeline.Start(pcfg)
	if err != nil {
		cfg.out.Undo()
		fmt.Fprintln(stderr, "wsproxy demo:", err)
		return 2
	}
	stopFrames := printFrames(cfg.level, pl, stdout)
	defer stopFrames()
	checker := pl.Checker()
	proxyURL := pl.URL()
	fmt.Fprintf(stdout, "simulator  %s (connection %s, token %q)\n", simURL, env.ConnectionID(), demoToken)
	fmt.Fprintf(stdout, "proxy      %s → simulator, recording to %s\n", proxyURL, pl.TracePath())
	fmt.Fprintf(stdout, "client     the reference client runs the default script through the proxy\n\n")

	// The reference client, through the proxy.
	cl := &client.Client{URL: proxyURL, Token: demoToken, RequestTimeout: 3 * time.Second}
	if cfg.single {
		cl.Channels = []string{""}
	}
	if cfg.faults {
		cl.Inject = client.Faults{SkipAckEvery: 37, ReuseRequestIDEvery: 11}
		cl.RequestTimeout = 3 * time.Second
	}
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	report, runErr := cl.Run(runCtx, cfg.script)
	cancel()

	// Shut down in order: no new connections, close the live ones, flush.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	closeErr := pl.Shutdown(sctx)

	fmt.Fprintln(stdout)
	if runErr != nil {
		fmt.Fprintln(stdout, "client: run failed:", runErr)
	}
	if report != nil {
		fmt.Fprintln(stdout, "client report:")
		for _, line := range strings.Split(strings.TrimSpace(report.String()), "\n") {
			fmt.Fprintln(stdout, "  "+line)
		}
	}
	faultsDiffer := false
	if cfg.faults && report != nil {
		expected := append(env.Faults(), report.Faults...)
		fmt.Fprintf(stdout, "injected faults (ground truth): %d, of which %d must be reported\n", len(expected), countExpected(expected))
		liveMu.Lock()
		cmp := faults.Compare(expected, live)
		liveMu.Unlock()
		cmp.Write(stdout)
		faultsDiffer = !cmp.OK()
	}
	pl.Summary(stdout)
	printNext(stdout, pl.Files())
	if closeErr != nil {
		fmt.Fprintln(stderr, "wsproxy demo: trace:", closeErr)
		return 2
	}
	if runErr != nil || report == nil || faultsDiffer || (!cfg.faults && (!report.OK() || checker.Errors() > 0)) {
		return 1
	}
	return 0
}

func countExpected(fs []sim.Fault) int {
	n := 0
	for _, f := range fs {
		if f.Rule != "" {
			n++
		}
	}
	return n
}
