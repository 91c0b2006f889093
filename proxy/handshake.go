package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// maxRecordedBody bounds the bodies kept in http records.
const maxRecordedBody = 64 << 10

// maxRelayedRefusal bounds the body of a refused upgrade passed back.
const maxRelayedRefusal = 1 << 20

// dropRequestHeaders are hop-by-hop headers not forwarded upstream. The
// WebSocket handshake's own Connection and Upgrade headers are end to end
// for the upgrade and are kept, as are all Sec-WebSocket-* headers, so
// that the two real ends negotiate subprotocol and extensions.
var dropRequestHeaders = map[string]bool{
	"Keep-Alive":          true,
	"Proxy-Connection":    true,
	"Proxy-Authorization": true,
	"Proxy-Authenticate":  true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
}

// serveWebSocket dials the upstream with the client's handshake, passes
// the answer back, and on 101 relays the two streams.
func (p *Proxy) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	hs := tap.Handshake{Conn: p.nextConnID(), Start: p.opts.Now(), Request: r, Upstream: p.upstream.Scheme + "://" + p.upstream.Host}
	urlForLog, _ := p.tapOpts.Redact.URL(r.RequestURI)

	ctx, cancel := context.WithTimeout(r.Context(), p.opts.DialTimeout)
	defer cancel()
	up, err := p.dialUpstream(ctx)
	if err != nil {
		p.upstreamFailed(w, hs, urlForLog, err)
		return
	}

	decline := p.declineCompression(r)
	reqBytes := p.upgradeRequest(r, decline)
	up.SetDeadline(time.Now().Add(p.opts.DialTimeout))
	if _, err := up.Write(reqBytes); err != nil {
		up.Close()
		p.upstreamFailed(w, hs, urlForLog, fmt.Errorf("write handshake: %w", err))
		return
	}
	br := bufio.NewReaderSize(up, 4096)
	resp, err := http.ReadResponse(br, r)
	if err != nil {
		up.Close()
		p.upstreamFailed(w, hs, urlForLog, fmt.Errorf("read handshake response: %w", err))
		return
	}
	up.SetDeadline(time.Time{})
	hs.Response, hs.Answered = resp, p.opts.Now()

	if resp.StatusCode != http.StatusSwitchingProtocols {
		p.passRefusal(w, hs, urlForLog)
		up.Close()
		return
	}

	// Bytes the upstream sent right after its response are server frames.
	serverEarly := takeBuffered(br)

	client, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		p.opts.Logf("wsproxy: %s: cannot take over the client connection: %v", hs.Conn, err)
		return
	}
	var clientEarly []byte
	if rw != nil {
		clientEarly = takeBuffered(rw.Reader)
	}
	// The open record goes out before the 101 does, like every record
	// before its bytes: a client that sends on another socket as soon as
	// this one is up never has that frame recorded ahead of this open.
	t, recs := tap.Open(hs, p.tapOpts)
	if decline {
		recs = append(recs, p.declinedRecord(hs))
	}
	p.emit(recs...)

	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %s\r\n", resp.Status)
	resp.Header.Write(&head)
	head.WriteString("\r\n")
	if _, err := client.Write(head.Bytes()); err != nil {
		client.Close()
		up.Close()
		p.emit(&trace.Record{Kind: trace.KindError, T: p.opts.Now(), Conn: hs.Conn, Message: "client: write handshake response: " + err.Error()},
			t.Close(p.opts.Now(), trace.Proxy, 0, "the client went away during the handshake"))
		return
	}

	c := newConn(p, hs.Conn, client, up, t)
	if p.opts.Faults != nil {
		c.faults = p.opts.Faults.Open(r.RequestURI, hs.Start)
	}
	if !p.track(c) {
		c.cause(trace.Proxy, 1001, "proxy shutting down")
		c.cut()
		c.end()
		return
	}
	// The handler returns now, so that net/http's goroutine and buffers for
	// this connection go away; the relay goroutines own it from here.
	go c.run(clientEarly, serverEarly)
}

// dialUpstream opens a TCP (and, for wss/https, TLS) connection.
func (p *Proxy) dialUpstream(ctx context.Context) (net.Conn, error) {
	host := p.upstream.Host
	secure := p.upstream.Scheme == "wss" || p.upstream.Scheme == "https"
	if p.upstream.Port() == "" {
		if secure {
			host = net.JoinHostPort(p.upstream.Hostname(), "443")
		} else {
			host = net.JoinHostPort(p.upstream.Hostname(), "80")
		}
	}
	if !secure {
		return p.dialer().DialContext(ctx, "tcp", host)
	}
	cfg := p.opts.UpstreamTLS.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = p.upstream.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	d := &tls.Dialer{NetDialer: p.dialer(), Config: cfg}
	return d.DialContext(ctx, "tcp", host)
}

// upgradeRequest renders the client's handshake for the upstream: the
// same method, path and query (under the upstream's base path), the
// upstream's Host, and every end-to-end header as the client sent it.
func (p *Proxy) upgradeRequest(r *http.Request, declineExtensions bool) []byte {
	var b bytes.Buffer
	target := r.RequestURI
	if base := strings.TrimSuffix(p.upstream.Path, "/"); base != "" {
		target = base + target
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, target, p.upstream.Host)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		if !dropRequestHeaders[k] && k != "Host" && !(declineExtensions && k == "Sec-Websocket-Extensions") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// passRefusal relays a non-101 answer to the client and records it.
func (p *Proxy) passRefusal(w http.ResponseWriter, hs tap.Handshake, urlForLog string) {
	resp := hs.Response
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if k == "Connection" || k == "Keep-Alive" || k == "Transfer-Encoding" || k == "Upgrade" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	var captured bytes.Buffer
	n, _ := io.Copy(w, io.TeeReader(io.LimitReader(resp.Body, maxRelayedRefusal), &limitedBuffer{buf: &captured, max: maxRecordedBody}))
	p.emit(tap.Refused(hs, resp.StatusCode, captured.Bytes(), n, p.tapOpts))
	p.opts.Logf("wsproxy: %s %s: upstream refused the upgrade: %s", hs.Conn, urlForLog, resp.Status)
}

// upstreamFailed answers 502 when the upstream cannot be reached or broke
// off the handshake.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, hs tap.Handshake, urlForLog string, err error) {
	msg := fmt.Sprintf("upstream %s: %v", p.upstream.Host, err)
	http.Error(w, "wsproxy: cannot reach "+msg, http.StatusBadGateway)
	hs.Answered = p.opts.Now()
	p.emit(tap.Refused(hs, http.StatusBadGateway, nil, 0, p.tapOpts),
		&trace.Record{Kind: trace.KindError, T: p.opts.Now(), Conn: hs.Conn, Message: msg})
	p.opts.Logf("wsproxy: %s %s: %s", hs.Conn, urlForLog, msg)
}

// takeBuffered copies the bytes a bufio.Reader holds.
func takeBuffered(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) > room {
			l.buf.Write(p[:room])
		} else {
			l.buf.Write(p)
		}
	}
	return len(p), nil
}
