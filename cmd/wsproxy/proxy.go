package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/pipeline"
	"github.com/lettadev/wsproxy/proxy"
)

func init() {
	register("proxy", command{summary: "run the recording proxy (the default: `wsproxy -listen … -upstream …`)", run: runProxy})
}

// version is the tool version written into trace headers.
const version = "0.1.0"

const proxyUsage = `usage: wsproxy [proxy] [flags]

Sits between any client and the Letta Code status WebSocket, relays every
frame untouched, records both directions to a compressed JSONL trace, and
prints connections and protocol findings as they happen.

Point the client's base URL at the proxy instead of the upstream:
  wsproxy -listen 127.0.0.1:8765 -upstream wss://api.letta.com -out traces/
  client → ws://127.0.0.1:8765/v1/environments/{connectionId}/status/ws?agentId=…&conversationId=…&channel=control

Flags:
`

type proxyFlags struct {
	listen, upstream, out, rotate, maxFrame          string
	keepSecrets, allowRemote, noCheck, lossy         bool
	stallTimeout, shutdownGrace                      time.Duration
	tlsCert, tlsKey, upstreamCA                      string
	selfSigned, insecureUpstream                     bool
	ackTimeout, responseTimeout, heartbeat, syncWait time.Duration
	faults                                           faultFlags
}

func (f *proxyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8765", "address to listen on (loopback unless -allow-remote), e.g. 127.0.0.1:8765")
	fs.StringVar(&f.upstream, "upstream", "wss://api.letta.com", "the real server, e.g. wss://api.letta.com or ws://127.0.0.1:8766 (wsproxy sim)")
	fs.StringVar(&f.out, "out", "wsproxy-traces", "trace FILE (ending in .jsonl, .jsonl.zst) or DIR for a new file named by the UTC start time, e.g. -out traces/ or -out run.jsonl.zst")
	fs.StringVar(&f.rotate, "rotate", "", "start a new trace part past this compressed size, e.g. -rotate 100MB (default: never)")
	fs.StringVar(&f.maxFrame, "max-frame", "16MiB", "close a connection with 1009 when a frame or message is bigger, e.g. -max-frame 1MiB")
	fs.BoolVar(&f.keepSecrets, "keep-secrets", false, "record tokens, Authorization headers and secret values instead of redacting them")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a -listen address that is not loopback (prints a warning)")
	fs.BoolVar(&f.noCheck, "no-check", false, "do not run the protocol checker live")
	fs.BoolVar(&f.lossy, "lossy", false, "never slow the relay for recording: records the recorder cannot keep up with are dropped and written as loss records (default: lossless, the relay waits)")
	fs.DurationVar(&f.stallTimeout, "stall-timeout", 30*time.Second, "close a connection whose client or upstream accepts no bytes for this long (0: never)")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 5*time.Second, "on Ctrl-C/SIGTERM, how long connections get to close before they are cut")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve wss:// with this PEM certificate (with -tls-key), e.g. -tls-cert cert.pem -tls-key key.pem")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key for -tls-cert")
	fs.BoolVar(&f.selfSigned, "tls-self-signed", false, "serve wss:// with a fresh self-signed certificate for localhost (prints its fingerprint)")
	fs.StringVar(&f.upstreamCA, "upstream-ca", "", "also trust this PEM CA for a wss:// upstream, e.g. -upstream-ca corp-ca.pem")
	fs.BoolVar(&f.insecureUpstream, "insecure-upstream", false, "do not verify the upstream's TLS certificate (explicit opt-in)")
	fs.DurationVar(&f.ackTimeout, "ack-timeout", 10*time.Second, "checker: how long a client may take to ack a seq")
	fs.DurationVar(&f.responseTimeout, "response-timeout", 30*time.Second, "checker: how long a reply may take")
	fs.DurationVar(&f.heartbeat, "heartbeat", 30*time.Second, "checker: the client's expected ping interval")
	fs.DurationVar(&f.syncWait, "sync-timeout", 10*time.Second, "checker: how long a client may take to sync after an event_seq gap")
	f.faults.register(fs)
}

func runProxy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f proxyFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), proxyUsage)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output())
		usage(fs.Output())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wsproxy: unexpected argument %q (commands go first: wsproxy %s -h)\n", fs.Arg(0), fs.Arg(0))
		fs.Usage()
		return 2
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
	maxFrame, err := parseSize(f.maxFrame)
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy: -max-frame:", err)
		return 2
	}
	rotate := int64(0)
	if f.rotate != "" {
		if rotate, err = parseSize(f.rotate); err != nil {
			fmt.Fprintln(stderr, "wsproxy: -rotate:", err)
			return 2
		}
	}
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
	path, err := tracePath(f.out, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	cfg := pipeline.Config{
		Upstream: f.upstream, Listen: f.listen, TLS: serverTLS, Path: path, Rotate: rotate,
		Tool: "wsproxy", ToolVersion: version, Lossy: f.lossy, Console: stdout,
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
		ccfg := analysis.DefaultConfig()
		ccfg.AckTimeout, ccfg.ResponseTimeout, ccfg.Heartbeat, ccfg.SyncTimeout = f.ackTimeout, f.responseTimeout, f.heartbeat, f.syncWait
		ccfg.OnFinding = func(fd analysis.Finding) {
			fmt.Fprintf(stdout, "%s %-4s %s\n", fd.T.Local().Format("15:04:05.000"), fd.Conn, fd)
		}
		cfg.Check = &ccfg
	}
	pl, err := pipeline.Start(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy:", err)
		return 2
	}
	sig.setAbort(func() { pl.Abort(2 * time.Second) })
	scheme := "ws"
	if serverTLS != nil {
		scheme = "wss"
	}
	fmt.Fprintf(stdout, "wsproxy %s: listening on %s://%s → %s\n", version, scheme, pl.Addr(), f.upstream)
	if fingerprint != "" {
		fmt.Fprintf(stdout, "  self-signed certificate SHA-256 fingerprint: %s\n", fingerprint)
	}
	mode := "lossless: the relay waits for the recorder"
	if f.lossy {
		mode = "lossy: records dropped under load are written as loss records"
	}
	fmt.Fprintf(stdout, "  recording to %s (secrets %s, %s)\n", pl.TracePath(), map[bool]string{true: "KEPT", false: "redacted"}[f.keepSecrets], mode)
	fmt.Fprintf(stdout, "  point your client at %s://%s/v1/environments/{connectionId}/status/ws?…  (Ctrl-C to stop)\n", scheme, pl.Addr())

	select {
	case <-sig.ctx.Done():
	case err := <-pl.Served():
		fmt.Fprintln(stderr, "wsproxy: serve:", err)
	}
	fmt.Fprintf(stdout, "wsproxy: shutting down: closing connections with 1001 (cut after %s), flushing the trace (Ctrl-C again to exit at once)\n", f.shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownGrace)
	defer cancel()
	code := 0
	if err := pl.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(stderr, "wsproxy: trace:", err)
		code = 1
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

// parseSize reads sizes such as 1048576, 512KB, 16MiB, 1GB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 16MiB or 100MB", s)
	}
	return int64(n * float64(mult)), nil
}

// tracePath turns -out into a file name: a name ending in .jsonl,
// .jsonl.zst or .jsonl.gz is the file itself, anything else a directory
// that gets a new file named by the UTC start time.
func tracePath(out string, now time.Time) (string, error) {
	base := filepath.Base(out)
	if strings.HasSuffix(base, ".jsonl") || strings.HasSuffix(base, ".jsonl.zst") {
		if dir := filepath.Dir(out); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return "", err
			}
		}
		return out, nil
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return "", fmt.Errorf("trace directory: %w", err)
	}
	name := "wsproxy-" + now.UTC().Format("20060102T150405Z") + ".jsonl.zst"
	return filepath.Join(out, name), nil
}
