package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lettadev/wsproxy/hub"
	"github.com/lettadev/wsproxy/inject"
	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// DefaultMaxFrame is the default bound on one frame or message.
const DefaultMaxFrame = 16 << 20

// Options configure a Proxy. Only Upstream is required.
type Options struct {
	// Upstream is the server to forward to, as a base URL: wss://host,
	// ws://host:port, or the http(s) equivalents. Its path, if any, is
	// prefixed to every request's path.
	Upstream string
	// Hub receives every record the proxy makes; its subscribers (the
	// recorder, the checker, viewers) consume them. The caller owns it and
	// closes it after Shutdown. Nil: the proxy makes a hub of its own for
	// Sink, and closes it in Shutdown.
	Hub *hub.Hub
	// Sink, used when Hub is nil, receives every record in order on a
	// goroutine of its own, losslessly: when it falls behind the relay
	// waits (or, with Lossy, records are dropped and loss records take
	// their place). Nil discards records.
	Sink trace.Sink
	// Tick, with Sink, is called about once a second on the sink's
	// goroutine with the current time (a live checker fires its timeouts
	// there).
	Tick func(now time.Time)
	// Lossy, with Sink, drops records when the sink falls behind instead
	// of slowing the relay down (see hub.Lossy).
	Lossy bool
	// QueueBytes bounds Sink's queue (default hub.DefaultQueueBytes).
	QueueBytes int64
	// KeepSecrets turns off redaction of tokens, keys and passwords.
	KeepSecrets bool
	// StallTimeout closes a connection one of whose peers accepts no bytes
	// for this long (0: wait for ever), with a close frame to the other
	// peer where the stream allows and an error record saying why.
	StallTimeout time.Duration
	// MaxFrame bounds a frame or message (default 16 MiB): a bigger one
	// closes its connection with 1009 and is recorded as an error.
	MaxFrame int64
	// UpstreamTLS configures TLS to a wss:// or https:// upstream; nil
	// verifies against the system roots.
	UpstreamTLS *tls.Config
	// DialTimeout bounds connecting to the upstream (default 10 s).
	DialTimeout time.Duration
	// CloseGrace is how long a closing connection waits for the peers to
	// finish the close handshake before it is cut (default 3 s).
	CloseGrace time.Duration
	// Logf reports operational problems (recording trouble, accept
	// errors). Nil discards them.
	Logf func(format string, args ...any)
	// Now returns the current time (default time.Now); records carry it.
	Now func() time.Time
	// Faults, if set, injects faults into whole messages by its rules,
	// each one recorded as a fault record (see package inject). Nil: every
	// frame is relayed untouched, on a path that knows nothing of rules.
	Faults *inject.Engine
}

// Proxy is a recording WebSocket man-in-the-middle. It relays every frame
// byte-exact between a client and the upstream, decodes both directions
// beside the relay with the wire tap, and emits the resulting records to
// Options.Hub. Plain
// HTTP requests are reverse-proxied and recorded too. Create it with New;
// it is an http.Handler.
type Proxy struct {
	opts      Options
	upstream  *url.URL
	httpBase  *url.URL
	rp        http.Handler
	transport *http.Transport
	hub       *hub.Hub
	ownHub    bool
	sub       *hub.Subscription // Sink's, when the proxy owns the hub
	tapOpts   tap.Options

	connSeq atomic.Int64
	httpSeq atomic.Int64

	mu       sync.Mutex
	conns    map[*conn]struct{}
	closing  bool
	wg       sync.WaitGroup // relay goroutines
	shutdown chan struct{}
}

// New checks the options and starts the proxy's sink goroutine. Close it
// with Close (or Shutdown) to flush every record.
func New(opts Options) (*Proxy, error) {
	if opts.Upstream == "" {
		return nil, fmt.Errorf("proxy: no upstream")
	}
	u, err := url.Parse(opts.Upstream)
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream %q: %w", opts.Upstream, err)
	}
	httpBase := *u
	switch u.Scheme {
	case "ws", "http":
		httpBase.Scheme = "http"
	case "wss", "https":
		httpBase.Scheme = "https"
	default:
		return nil, fmt.Errorf("proxy: upstream %q: scheme must be ws, wss, http or https", opts.Upstream)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("proxy: upstream %q has no host", opts.Upstream)
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = DefaultMaxFrame
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	if opts.CloseGrace <= 0 {
		opts.CloseGrace = 3 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Proxy{
		opts:     opts,
		upstream: u,
		httpBase: &httpBase,
		conns:    map[*conn]struct{}{},
		shutdown: make(chan struct{}),
	}
	p.tapOpts = tap.Options{Redact: redact.Policy{Keep: opts.KeepSecrets}, MaxMessage: opts.MaxFrame,
		OversizeAction: "connection closed with 1009"}
	p.hub = opts.Hub
	if p.hub == nil {
		p.hub, p.ownHub = hub.New(hub.Options{Stamp: true, Now: opts.Now}), true
		if opts.Sink != nil {
			policy := hub.Lossless
			if opts.Lossy {
				policy = hub.Lossy
			}
			p.sub = p.hub.Subscribe(opts.Sink, hub.SubOptions{Name: "sink", Policy: policy, Tick: opts.Tick, QueueBytes: opts.QueueBytes,
				OnError: func(err error) { opts.Logf("wsproxy: RECORDING FAILED (relaying goes on): %v", err) }})
		}
	}
	p.rp = p.newReverseProxy()
	return p, nil
}

// ServeHTTP relays WebSocket upgrades and reverse-proxies other requests.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isUpgrade(r) {
		p.serveWebSocket(w, r)
		return
	}
	p.rp.ServeHTTP(w, r)
}

func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[http.CanonicalHeaderKey(name)] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// emit hands records to the hub; it waits while a lossless subscriber is
// behind.
func (p *Proxy) emit(recs ...*trace.Record) { p.hub.Emit(recs...) }

// track registers a live connection; it fails once the proxy is closing.
func (p *Proxy) track(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.conns[c] = struct{}{}
	p.wg.Add(1)
	return true
}

func (p *Proxy) untrack(c *conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	p.wg.Done()
}

// ActiveConns returns how many WebSocket connections are being relayed.
func (p *Proxy) ActiveConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Dropped returns how many records Sink lost in Lossy mode (0 with a hub
// of the caller's: ask its subscriptions).
func (p *Proxy) Dropped() int64 {
	if p.sub == nil {
		return 0
	}
	return p.sub.Stats().Skipped
}

// Shutdown closes every WebSocket connection with 1001 (going away) on
// both sides, waits for them to end (or ctx, then cuts them), then, if the
// proxy owns its hub, delivers every record to Sink and stops it. New connections are refused once
// it has started. The http.Server serving the proxy should be shut down
// first so that no new requests arrive.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.closing {
		p.closing = true
		close(p.shutdown)
	}
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		go c.goingAway()
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		p.mu.Lock()
		for c := range p.conns {
			c.cut()
		}
		p.mu.Unlock()
		<-done
	}
	p.transport.CloseIdleConnections()
	if p.ownHub {
		p.hub.Close()
	}
	return err
}

// Close is Shutdown with a grace of CloseGrace.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.CloseGrace+time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}

func (p *Proxy) nextConnID() string { return fmt.Sprintf("c%d", p.connSeq.Add(1)) }
func (p *Proxy) nextHTTPID() string { return fmt.Sprintf("h%d", p.httpSeq.Add(1)) }

func (p *Proxy) dialer() *net.Dialer {
	return &net.Dialer{Timeout: p.opts.DialTimeout, KeepAlive: 30 * time.Second}
}
