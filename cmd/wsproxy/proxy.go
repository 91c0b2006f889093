package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/hub"
	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/pipeline"
	"github.com/lettadev/wsproxy/proxy"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/view"
)

const proxyUsage = `usage: wsproxy [proxy] [flags]

Sits between any client and the Letta Code status WebSocket, relays every
frame untouched, records both directions to a compressed JSONL trace, and
prints connections and protocol findings as they happen.

Point the client's base URL at the proxy instead of the upstream:
  wsproxy -listen 127.0.0.1:8765 -upstream wss://api.letta.com -out recordings/
  client → ws://127.0.0.1:8765/v1/environments/{connectionId}/status/ws?agentId=…&conversationId=…&channel=control

-out: a name ending in .jsonl or .jsonl.zst is the trace file; an existing
directory, or any other name, is a directory that gets a new file named by
the UTC start time. A missing parent directory is an error unless -mkdir.
Nothing is created when startup fails (bad flags, port in use).

The checker flags are the same as wsproxy check's. Findings go to stdout
with the connections (-q: findings and the summary only; -v: every frame
too); errors go to stderr. Exit status: 0 after a clean shutdown, 2 when it
could not start or the trace could not be written.

TLS: -tls-self-signed serves wss:// with a fresh certificate written to
-tls-cert-out (PEM), for clients' -ca; -upstream-ca / -insecure-upstream
for a wss:// upstream.`

type proxyFlags struct {
	listen, upstream, out                               string
	rotate, maxFrame                                    int64
	keepSecrets, allowRemote, noCheck, lossy, mkdir, ui bool
	stallTimeout, shutdownGrace                         time.Duration
	tlsCert, tlsKey, upstreamCA, certOut                string
	selfSigned, insecureUpstream                        bool
	checker                                             analysis.Config
	level                                               *cli.Level
	plan                                                cli.OutPlan
	faults                                              faultFlags
}

func (f *proxyFlags) register(fs *cli.Flags) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8765", "address to listen on (loopback unless -allow-remote), e.g. 127.0.0.1:8765")
	fs.StringVar(&f.upstream, "upstream", "wss://api.letta.com", "the real server, scheme and host only, e.g. wss://api.letta.com or ws://127.0.0.1:8766 (wsproxy sim)")
	fs.StringVar(&f.out, "out", "wsproxy-traces", "trace FILE (ending in .jsonl or .jsonl.zst) or DIR for a new file named by the UTC start time, e.g. -out recordings/ or -out run.jsonl.zst")
	fs.BoolVar(&f.mkdir, "mkdir", false, "create -out's missing parent directories")
	fs.Size(&f.rotate, "rotate", 0, "start a new trace part past this compressed size, e.g. -rotate 100MB (default 0: never)")
	fs.Size(&f.maxFrame, "max-frame", 16<<20, "close a connection with 1009 when a frame or message is bigger, e.g. -max-frame 1MiB")
	fs.BoolVar(&f.keepSecrets, "keep-secrets", false, "record tokens, Authorization headers and secret values instead of redacting them")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a -listen address that is not loopback (prints a warning)")
	fs.BoolVar(&f.noCheck, "no-check", false, "do not run the protocol checker live")
	fs.BoolVar(&f.ui, "ui", false, "show every connection live in the terminal inspector instead of console lines (q stops the proxy); see wsproxy inspect")
	fs.BoolVar(&f.lossy, "lossy", false, "never slow the relay for recording: records the recorder cannot keep up with are dropped and written as loss records (default: lossless, the relay waits)")
	fs.DurationVar(&f.stallTimeout, "stall-timeout", 30*time.Second, "close a connection whose client or upstream accepts no bytes for this long (0: never)")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 5*time.Second, "on Ctrl-C/SIGTERM, how long connections get to close before they are cut")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve wss:// with this PEM certificate (with -tls-key), e.g. -tls-cert cert.pem -tls-key key.pem")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for -tls-cert")
	fs.BoolVar(&f.selfSigned, "tls-self-signed", false, "serve wss:// with a fresh self-signed certificate for localhost, written to -tls-cert-out")
	fs.StringVar(&f.certOut, "tls-cert-out", "wsproxy-cert.pem", "where -tls-self-signed writes its certificate (PEM), for clients' -ca FILE")
	fs.StringVar(&f.upstreamCA, "upstream-ca", "", "also trust this PEM CA for a wss:// upstream, e.g. -upstream-ca corp-ca.pem")
	fs.BoolVar(&f.insecureUpstream, "insecure-upstream", false, "do not verify the upstream's TLS certificate (explicit opt-in)")
	f.checker = analysis.DefaultConfig()
	fs.CheckerFlags(&f.checker)
	f.level = fs.Verbosity("print findings and the summary only, not connections", "also print every frame, one line each")
	fs.After(func() error {
		u, err := cli.ParseURL("-upstream", f.upstream, "ws", "wss", "http", "https")
		if err != nil {
			return err
		}
		if err := cli.NoPath("-upstream", u); err != nil {
			return err
		}
		if f.plan, err = cli.PlanOut(f.out, f.mkdir, time.Now()); err != nil {
			return err
		}
		if f.selfSigned && (f.tlsCert != "" || f.tlsKey != "") {
			return fmt.Errorf("-tls-self-signed and -tls-cert exclude each other")
		}
		return nil
	})
	f.faults.register(fs.FlagSet)
}

func runProxy(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("wsproxy", proxyUsage, stdout, stderr)
	var f proxyFlags
	f.register(fs)
	pos, code, ok := fs.Parse(args)
	if !ok {
		if code == 0 {
			fmt.Fprintln(stdout)
			usage(stdout)
		}
		return code
	}
	if len(pos) > 0 {
		return fs.Usagef("unexpected argument %q (commands go first: wsproxy %s -h)", pos[0], pos[0])
	}
	sig := signalContext(stderr)
	defer sig.stop()
	return serveProxy(sig, f, stdout, stderr)
}

// signals turns SIGINT and SIGTERM into a clean stop: the first cancels
// ctx; a second, however late, calls the abort function (cut every
// connection, flush the trace as far as it gets within a moment) and
// exits at once with status 1.
type signals struct {
	ctx     context.Context
	cancel  context.CancelFunc
	ch      chan os.Signal
	abortc  chan func()
	aborted atomic.Bool
	stopped chan struct{}
	once    sync.Once
}

func signalContext(stderr io.Writer) *signals {
	s := &signals{ch: make(chan os.Signal, 2), abortc: make(chan func(), 1), stopped: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.abortc <- func() {}
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-s.ch:
			s.cancel()
		case <-s.stopped:
			return
		}
		select {
		case <-s.ch:
			s.aborted.Store(true)
			fmt.Fprintln(stderr, "wsproxy: second signal: cutting every connection, flushing the trace, exiting")
			abort := <-s.abortc
			abort()
			os.Exit(1)
		case <-s.stopped:
		}
	}()
	return s
}

// setAbort sets what a second signal does before exiting.
func (s *signals) setAbort(f func()) {
	<-s.abortc
	s.abortc <- f
}

// stop stops listening for signals.
func (s *signals) stop() {
	s.once.Do(func() { signal.Stop(s.ch); close(s.stopped); s.cancel() })
}

// serveProxy runs the proxy until ctx is done, then shuts it down cleanly.
func serveProxy(sig *signals, f proxyFlags, stdout, stderr io.Writer) int {
	if err := checkListen(f.listen, f.allowRemote, stderr); err != nil {
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	maxFrame, rotate := f.maxFrame, f.rotate
	upTLS, err := proxy.UpstreamTLSConfig(f.upstreamCA, f.insecureUpstream)
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	serverTLS, fingerprint, err := serverTLSConfig(f)
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	faults, err := f.faults.engine()
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	// The trace's directories exist only while startup succeeds.
	if err := f.plan.Prepare(); err != nil {
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	cfg := pipeline.Config{
		Upstream: f.upstream, Listen: f.listen, TLS: serverTLS, Path: f.plan.Path, Rotate: rotate,
		Tool: "wsproxy", ToolVersion: version, Lossy: f.lossy, Console: consoleOut(f.level, stdout), ReturnMemory: true,
		Proxy: proxy.Options{
			KeepSecrets:  f.keepSecrets,
			MaxFrame:     maxFrame,
			UpstreamTLS:  upTLS,
			StallTimeout: f.stallTimeout,
			Faults:       faults,
			Logf:         func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) },
		},
	}
	if !f.noCheck {
		ccfg := f.checker
		ccfg.OnFinding = func(fd analysis.Finding) {
			fmt.Fprintf(stdout, "%s %-4s %s\n", fd.T.Local().Format("15:04:05.000"), fd.Conn, fd)
		}
		cfg.Check = &ccfg
	}
	var ui *liveUI
	if f.ui {
		ui = newLiveUI(&cfg, f.checker, stdout, stderr)
	}
	pl, err := pipeline.Start(cfg)
	if err != nil {
		f.plan.Undo()
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	sig.setAbort(func() { pl.Abort(2 * time.Second) })
	if f.selfSigned {
		if err := proxy.WriteCertPEM(f.certOut, serverTLS.Certificates[0]); err != nil {
			fmt.Fprintln(stderr, "wsproxy:", err)
			pl.Abort(time.Second)
			return 2
		}
	}
	if ui == nil {
		stopFrames := printFrames(f.level, pl, stdout)
		defer stopFrames()
	}
	scheme := "ws"
	if serverTLS != nil {
		scheme = "wss"
	}
	fmt.Fprintf(stdout, "wsproxy %s: listening on %s://%s → %s\n", version, scheme, pl.Addr(), f.upstream)
	if fingerprint != "" {
		fmt.Fprintf(stdout, "  self-signed certificate written to %s (SHA-256 %s): clients take -ca %s\n", f.certOut, fingerprint, f.certOut)
	}
	mode := "lossless: the relay waits for the recorder"
	if f.lossy {
		mode = "lossy: records dropped under load are written as loss records"
	}
	fmt.Fprintf(stdout, "  recording to %s (secrets %s, %s)\n", pl.TracePath(), map[bool]string{true: "KEPT", false: "redacted"}[f.keepSecrets], mode)
	fmt.Fprintf(stdout, "  point your client at %s://%s/v1/environments/{connectionId}/status/ws?…  (Ctrl-C to stop)\n", scheme, pl.Addr())

	if ui != nil {
		ui.run(sig.ctx, pl, fmt.Sprintf("%s://%s → %s", scheme, pl.Addr(), f.upstream))
	}
	select {
	case <-sig.ctx.Done():
	case <-ui.done():
	case err := <-pl.Served():
		fmt.Fprintln(stderr, "wsproxy: serve:", err)
	}
	fmt.Fprintf(stdout, "wsproxy: shutting down: closing connections with 1001 (cut after %s), flushing the trace (Ctrl-C again to exit at once)\n", f.shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownGrace)
	defer cancel()
	code := 0
	if err := pl.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(stderr, "wsproxy: trace:", err)
		code = 2
	}
	if sig.aborted.Load() {
		select {} // the signal goroutine exits with status 1
	}
	pl.Summary(stdout)
	printNext(stdout, pl.Files())
	return code
}

// checkListen refuses a non-loopback address unless allowed, and warns.
func checkListen(addr string, allowRemote bool, stderr io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if !allowRemote {
		return fmt.Errorf("-listen %s is not a loopback address: traffic and tokens would be reachable from the network; add -allow-remote if you mean it", addr)
	}
	fmt.Fprintf(stderr, "wsproxy: WARNING: listening on %s, reachable from the network; anyone who can reach it can use your upstream credentials' session\n", addr)
	return nil
}

func serverTLSConfig(f proxyFlags) (*tls.Config, string, error) {
	switch {
	case f.selfSigned:
		cert, fp, err := proxy.SelfSignedCert()
		if err != nil {
			return nil, "", err
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, fp, nil
	case f.tlsCert != "" || f.tlsKey != "":
		if f.tlsCert == "" || f.tlsKey == "" {
			return nil, "", fmt.Errorf("-tls-cert and -tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, "", fmt.Errorf("TLS certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, "", nil
	}
	return nil, "", nil
}

// consoleOut is where the pipeline's console lines go: nowhere with -q.
func consoleOut(level *cli.Level, stdout io.Writer) io.Writer {
	if level.Quiet() {
		return nil
	}
	return stdout
}

// printFrames prints every frame as a cat line with -v, from a hub
// subscriber that may skip (a slow terminal never slows the relay); the
// returned func detaches it.
func printFrames(level *cli.Level, pl *pipeline.Pipeline, stdout io.Writer) func() {
	if !level.Verbose() {
		return func() {}
	}
	lines := view.NewCat(stdout, view.Options{})
	sub := pl.Hub().Subscribe(trace.SinkFunc(func(r *trace.Record) error {
		if r.Kind != trace.KindFrame {
			return nil
		}
		return lines.Write(r)
	}), hub.SubOptions{Name: "frames", Policy: hub.Skip})
	return sub.Close
}
