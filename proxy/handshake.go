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

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
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
	start := p.opts.Now()
	id := p.nextConnID()
	urlForTrace, urlRedacted := r.RequestURI, false
	if !p.opts.KeepSecrets {
		urlForTrace, urlRedacted = redact.URL(r.RequestURI)
	}

	ctx, cancel := context.WithTimeout(r.Context(), p.opts.DialTimeout)
	defer cancel()
	up, err := p.dialUpstream(ctx)
	if err != nil {
		msg := fmt.Sprintf("upstream %s: %v", p.upstream.Host, err)
		http.Error(w, "wsproxy: cannot reach "+msg, http.StatusBadGateway)
		p.emit(p.refusalRecord(id, r, urlForTrace, urlRedacted, start, http.StatusBadGateway, nil, nil, 0),
			&trace.Record{Kind: trace.KindError, T: p.opts.Now(), Conn: id, Message: msg})
		p.opts.Logf("wsproxy: %s %s: %s", id, urlForTrace, msg)
		return
	}

	reqBytes := p.upgradeRequest(r)
	up.SetDeadline(time.Now().Add(p.opts.DialTimeout))
	if _, err := up.Write(reqBytes); err != nil {
		up.Close()
		p.upstreamFailed(w, id, r, urlForTrace, urlRedacted, start, fmt.Errorf("write handshake: %w", err))
		return
	}
	br := bufio.NewReaderSize(up, 4096)
	resp, err := http.ReadResponse(br, r)
	if err != nil {
		up.Close()
		p.upstreamFailed(w, id, r, urlForTrace, urlRedacted, start, fmt.Errorf("read handshake response: %w", err))
		return
	}
	up.SetDeadline(time.Time{})

	if resp.StatusCode != http.StatusSwitchingProtocols {
		p.passRefusal(w, id, r, resp, urlForTrace, urlRedacted, start)
		up.Close()
		return
	}

	// Bytes the upstream sent right after its response are server frames.
	serverEarly := takeBuffered(br)

	client, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		p.opts.Logf("wsproxy: %s: cannot take over the client connection: %v", id, err)
		return
	}
	var clientEarly []byte
	if rw != nil {
		clientEarly = takeBuffered(rw.Reader)
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 %s\r\n", resp.Status)
	resp.Header.Write(&head)
	head.WriteString("\r\n")
	if _, err := client.Write(head.Bytes()); err != nil {
		client.Close()
		up.Close()
		p.emit(&trace.Record{Kind: trace.KindError, T: p.opts.Now(), Conn: id, Message: "client: write handshake response: " + err.Error()})
		return
	}

	extensions := strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
	deflate, _, extErr := wsframe.ParseExtensions(extensions)
	open := &trace.Record{Kind: trace.KindOpen, T: start, Conn: id, Redacted: urlRedacted, Open: &trace.Open{
		URL:         urlForTrace,
		Upstream:    p.upstream.Scheme + "://" + p.upstream.Host,
		Client:      r.RemoteAddr,
		Subprotocol: resp.Header.Get("Sec-WebSocket-Protocol"),
		Extensions:  extensions,
		Session:     protocol.SessionFromURL(r.RequestURI),
	}}
	var hdrRedacted, respRedacted bool
	open.Open.Headers, hdrRedacted = p.headersForTrace(r.Header)
	open.Open.ResponseHeaders, respRedacted = p.headersForTrace(resp.Header)
	open.Redacted = open.Redacted || hdrRedacted || respRedacted
	recs := []*trace.Record{open}
	if extErr != nil {
		recs = append(recs, &trace.Record{Kind: trace.KindError, T: p.opts.Now(), Conn: id,
			Message: "negotiated extensions: " + extErr.Error()})
	}
	p.emit(recs...)

	c := newConn(p, id, client, up, deflate)
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
func (p *Proxy) upgradeRequest(r *http.Request) []byte {
	var b bytes.Buffer
	target := r.RequestURI
	if base := strings.TrimSuffix(p.upstream.Path, "/"); base != "" {
		target = base + target
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, target, p.upstream.Host)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		if !dropRequestHeaders[k] && k != "Host" {
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
func (p *Proxy) passRefusal(w http.ResponseWriter, id string, r *http.Request, resp *http.Response, u string, uRedacted bool, start time.Time) {
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
	rec := p.refusalRecord(id, r, u, uRedacted, start, resp.StatusCode, resp.Header, captured.Bytes(), n)
	p.emit(rec)
	p.opts.Logf("wsproxy: %s %s: upstream refused the upgrade: %s", id, u, resp.Status)
}

// upstreamFailed answers 502 when the upstream broke off the handshake.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, id string, r *http.Request, u string, uRedacted bool, start time.Time, err error) {
	msg := fmt.Sprintf("upstream %s: %v", p.upstream.Host, err)
	http.Error(w, "wsproxy: "+msg, http.StatusBadGateway)
	p.emit(p.refusalRecord(id, r, u, uRedacted, start, http.StatusBadGateway, nil, nil, 0),
		&trace.Record{Kind: trace.KindError, T: p.opts.Now(), Conn: id, Message: msg})
	p.opts.Logf("wsproxy: %s %s: %s", id, u, msg)
}

func (p *Proxy) refusalRecord(id string, r *http.Request, u string, uRedacted bool, start time.Time, status int, respHeader http.Header, body []byte, size int64) *trace.Record {
	h := &trace.HTTP{Method: r.Method, URL: u, Upstream: p.upstream.Scheme + "://" + p.upstream.Host, Status: status, Upgrade: true,
		Duration: p.opts.Now().Sub(start)}
	reqRed, respRed := false, false
	h.RequestHeaders, reqRed = p.headersForTrace(r.Header)
	h.ResponseHeaders, respRed = p.headersForTrace(respHeader)
	if respHeader != nil {
		h.ResponseBody = p.bodyForTrace(body, size)
	}
	return &trace.Record{Kind: trace.KindHTTP, T: start, Conn: id, HTTP: h, Redacted: uRedacted || reqRed || respRed}
}

func (p *Proxy) headersForTrace(h http.Header) (map[string][]string, bool) {
	if len(h) == 0 {
		return nil, false
	}
	if p.opts.KeepSecrets {
		out := make(map[string][]string, len(h))
		for k, v := range h {
			out[k] = append([]string(nil), v...)
		}
		return out, false
	}
	return redact.Headers(h)
}

// bodyForTrace stores a captured body; size is the full size.
func (p *Proxy) bodyForTrace(captured []byte, size int64) *trace.Body {
	data := append([]byte(nil), captured...)
	if !p.opts.KeepSecrets {
		data, _ = redact.JSON(data)
	}
	return &trace.Body{Data: data, Form: trace.FormOf(trace.OpText, data), Size: size, Truncated: size > int64(len(captured))}
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
