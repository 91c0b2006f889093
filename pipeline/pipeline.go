// Package pipeline wires a live recording once, for every command and
// test that runs one: a listener, the recording proxy in front of an
// upstream, and the record hub with its subscribers (the recorder and the
// live checker, lossless on one goroutine so that findings name the line
// each record was written to; the console, which may skip). Viewers such
// as the live inspector subscribe to Hub themselves.
package pipeline

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/hub"
	"github.com/lettadev/wsproxy/proxy"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/trace"
)

// Config configures a pipeline. Upstream is required.
type Config struct {
	// Upstream is the server to proxy (see proxy.Options.Upstream).
	Upstream string
	// Listen is the address to listen on (default 127.0.0.1:0).
	Listen string
	// TLS, if set, serves wss:// and https://.
	TLS *tls.Config
	// Path is the trace file to create (a name ending in .jsonl is plain
	// JSON Lines, anything else zstd); empty records nothing. It is created
	// only once the listener is up, so a failed start leaves no file.
	Path string
	// Rotate starts a new part past this compressed size (0: never).
	Rotate int64
	// Tool, ToolVersion and Source go into the trace header (defaults:
	// "wsproxy", "dev", trace.SourceProxy).
	Tool, ToolVersion, Source string
	// Lossy lets the recorder and checker drop records (written as loss
	// records) instead of slowing the relay when they fall behind.
	Lossy bool
	// QueueBytes bounds each subscriber's queue (default
	// hub.DefaultQueueBytes).
	QueueBytes int64
	// Check, if set, runs the protocol checker live with this
	// configuration.
	Check *analysis.Config
	// Console, if set, gets a line per connection opened and closed and per
	// error (proxy.Console), as a subscriber that may skip.
	Console io.Writer
	// ReturnMemory is for a process that is the pipeline's (wsproxy): it
	// keeps the heap nearer its live size (the GC runs at 50% growth, not
	// 100%) and gives memory back to the operating system soon after many
	// connections closed, instead of holding the peak for minutes.
	ReturnMemory bool
	// Proxy holds the proxy's other options (KeepSecrets, MaxFrame,
	// StallTimeout, UpstreamTLS, Logf, Now…); Upstream, Hub and Sink are
	// set by the pipeline.
	Proxy proxy.Options
}

// Pipeline is a running live recording. Create it with Start and end it
// with Shutdown (or Abort).
type Pipeline struct {
	cfg     Config
	ln      net.Listener
	srv     *http.Server
	proxy   *proxy.Proxy
	hub     *hub.Hub
	rot     *recorder.Rotator
	checker *analysis.Engine
	rec     *hub.Subscription
	console *hub.Subscription
	served  chan error
	logf    func(string, ...any)

	finishOnce sync.Once
	finishErr  error
	stopMemory chan struct{}
	memoryDone chan struct{}
}

// Start listens, creates the trace, subscribes the recorder, checker and
// console to a new hub, and starts serving the proxy.
func Start(cfg Config) (*Pipeline, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Tool == "" {
		cfg.Tool = "wsproxy"
	}
	if cfg.ToolVersion == "" {
		cfg.ToolVersion = "dev"
	}
	if cfg.Source == "" {
		cfg.Source = trace.SourceProxy
	}
	logf := cfg.Proxy.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	now := cfg.Proxy.Now
	if now == nil {
		now = time.Now
	}
	p := &Pipeline{cfg: cfg, logf: logf, served: make(chan error, 1)}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	p.ln = ln
	if cfg.Path != "" {
		hdr := trace.NewHeader(cfg.Tool, cfg.ToolVersion, cfg.Source, now()).Header
		hdr.Secrets = redact.Policy{Keep: cfg.Proxy.KeepSecrets}.Secrets()
		wopts := recorder.Options{OnError: func(err error) {
			logf("wsproxy: RECORDING FAILED, relaying goes on without it: %v", err)
		}}
		if strings.HasSuffix(cfg.Path, ".jsonl") {
			wopts.Compression = recorder.Plain
		}
		p.rot, err = recorder.NewRotator(recorder.RotatorOptions{Path: cfg.Path, MaxSize: cfg.Rotate, Header: *hdr, Writer: wopts})
		if err != nil {
			ln.Close()
			return nil, err
		}
	}
	if cfg.Check != nil {
		p.checker = analysis.New(*cfg.Check)
	}
	p.hub = hub.New(hub.Options{Stamp: true, Now: now})
	if p.rot != nil || p.checker != nil {
		policy := hub.Lossless
		if cfg.Lossy {
			policy = hub.Lossy
		}
		so := hub.SubOptions{Name: "recorder", Policy: policy, QueueBytes: cfg.QueueBytes,
			OnError: func(err error) { logf("wsproxy: RECORDING FAILED (relaying goes on): %v", err) }}
		if p.checker != nil {
			so.Tick = p.checker.Advance
		}
		p.rec = p.hub.Subscribe(&recordSink{rot: p.rot, checker: p.checker}, so)
	}
	if cfg.Console != nil {
		p.console = p.hub.Subscribe(proxy.NewConsole(cfg.Console), hub.SubOptions{Name: "console", Policy: hub.Skip, QueueBytes: cfg.QueueBytes})
	}
	popts := cfg.Proxy
	popts.Upstream, popts.Hub, popts.Sink, popts.Logf = cfg.Upstream, p.hub, nil, logf
	p.proxy, err = proxy.New(popts)
	if err != nil {
		p.hub.Close()
		if p.rot != nil {
			p.rot.Close()
		}
		ln.Close()
		return nil, err
	}
	p.srv = &http.Server{Handler: p.proxy, ReadHeaderTimeout: 10 * time.Second,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	go func() { p.served <- p.srv.Serve(ln) }()
	if cfg.ReturnMemory {
		debug.SetGCPercent(50)
		p.stopMemory, p.memoryDone = make(chan struct{}), make(chan struct{})
		go p.returnMemory()
	}
	return p, nil
}

// returnMemory gives freed memory back to the operating system when the
// number of connections has fallen to half its peak (or to none): a proxy
// that just served a thousand connections does not keep their memory.
func (p *Pipeline) returnMemory() {
	defer close(p.memoryDone)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	peak := 0
	for {
		select {
		case <-p.stopMemory:
			return
		case <-t.C:
		}
		n := p.proxy.ActiveConns()
		switch {
		case n > peak:
			peak = n
		case peak >= 16 && n <= peak/2:
			debug.FreeOSMemory()
			peak = n
		}
	}
}

// recordSink writes each record to the trace, then to the checker with
// the line it was written to.
type recordSink struct {
	rot     *recorder.Rotator
	checker *analysis.Engine
	file    string
}

func (s *recordSink) Write(r *trace.Record) error {
	var (
		file string
		line int64
		err  error
	)
	if s.rot != nil {
		file, line, err = s.rot.Append(r)
	}
	if s.checker != nil {
		if file != s.file && file != "" {
			s.file = file
			s.checker.SetFile(file)
		}
		s.checker.WriteAt(r, line)
	}
	return err
}

// Addr returns the address the proxy listens on.
func (p *Pipeline) Addr() net.Addr { return p.ln.Addr() }

// URL returns the proxy's base URL for clients: http://host:port (or
// https://); WebSocket clients use the ws:// and wss:// equivalents.
func (p *Pipeline) URL() string {
	if p.cfg.TLS != nil {
		return "https://" + p.ln.Addr().String()
	}
	return "http://" + p.ln.Addr().String()
}

// Hub returns the record hub, for viewers to subscribe to.
func (p *Pipeline) Hub() *hub.Hub { return p.hub }

// Proxy returns the proxy.
func (p *Pipeline) Proxy() *proxy.Proxy { return p.proxy }

// Checker returns the live checker, or nil.
func (p *Pipeline) Checker() *analysis.Engine { return p.checker }

// TracePath returns the trace file being written ("" when not recording).
func (p *Pipeline) TracePath() string {
	if p.rot == nil {
		return ""
	}
	return p.rot.Current()
}

// Files returns every part of the trace written so far.
func (p *Pipeline) Files() []string {
	if p.rot == nil {
		return nil
	}
	return p.rot.Files()
}

// Dropped returns how many records the recorder lost (only with Lossy).
func (p *Pipeline) Dropped() int64 {
	if p.rec == nil {
		return 0
	}
	return p.rec.Stats().Skipped
}

// Served reports the error that ended serving early (a listener failure).
func (p *Pipeline) Served() <-chan error { return p.served }

// Shutdown ends the pipeline in order: no new connections, every live
// connection closed with 1001 on both sides (cut when ctx ends), every
// record delivered to the recorder and checker, the trace closed, and the
// checker's end-of-trace rules run. It returns the trace's close error,
// or ctx's error if connections had to be cut.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.srv.Shutdown(ctx)
	perr := p.proxy.Shutdown(ctx)
	return errors.Join(perr, p.finish())
}

// Abort ends the pipeline at once: every connection is cut, and the
// trace is flushed as far as the recorder gets within grace.
func (p *Pipeline) Abort(grace time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.srv.Close()
	p.proxy.Shutdown(ctx)
	done := make(chan error, 1)
	go func() { done <- p.finish() }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("trace not fully flushed within %s", grace)
	}
}

// finish delivers every record, closes the trace and finishes the checker,
// once; a second caller waits for the first.
func (p *Pipeline) finish() error {
	p.finishOnce.Do(func() {
		if p.stopMemory != nil {
			close(p.stopMemory)
			<-p.memoryDone
		}
		p.hub.Close()
		if p.rot != nil {
			p.finishErr = p.rot.Close()
		}
		if p.checker != nil {
			p.checker.Finish(p.now())
		}
	})
	return p.finishErr
}

func (p *Pipeline) now() time.Time {
	if p.cfg.Proxy.Now != nil {
		return p.cfg.Proxy.Now()
	}
	return time.Now()
}

// Summary prints where the trace is, what was lost (if anything), and the
// checker's counts.
func (p *Pipeline) Summary(w io.Writer) {
	if files := p.Files(); len(files) > 0 {
		fmt.Fprintf(w, "\ntrace: %s\n", strings.Join(files, ", "))
	}
	if d := p.Dropped(); d > 0 {
		fmt.Fprintf(w, "  WARNING: -lossy: %d records were not recorded (the trace has loss records in their place)\n", d)
	}
	p.faultSummary(w)
	if p.checker == nil {
		return
	}
	counts := p.checker.Counts()
	if len(counts) == 0 {
		fmt.Fprintln(w, "checker: no findings")
		return
	}
	rules := make([]string, 0, len(counts))
	for k := range counts {
		rules = append(rules, k)
	}
	sort.Strings(rules)
	fmt.Fprintf(w, "checker: %d errors, %d warnings\n", p.checker.Errors(), p.checker.Warnings())
	for _, k := range rules {
		fmt.Fprintf(w, "  %-28s %d\n", k, counts[k])
	}
}
