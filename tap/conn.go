package tap

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// DefaultMaxMessage bounds a frame or message (inflated) by default.
const DefaultMaxMessage = 16 << 20

// Handshake is a WebSocket connection's opening exchange.
type Handshake struct {
	// Conn names the connection in its records, e.g. "c1".
	Conn string
	// Start is when the upgrade request was seen; Answered when the
	// server's answer was (for an http record's duration; may be zero).
	Start, Answered time.Time
	// Request is the client's upgrade request: its RequestURI (or URL),
	// Header and RemoteAddr are recorded. It may be nil for a connection
	// whose handshake was not seen (see Options.Recovered).
	Request *http.Request
	// Response is the server's answer: 101, or a refusal. It may be nil
	// when the upgrade failed before any answer.
	Response *http.Response
	// Upstream is the server, as a URL base: "ws://host:port".
	Upstream string
}

// Options configure how a connection's records are made.
type Options struct {
	// Redact is the redaction policy (the zero value redacts).
	Redact redact.Policy
	// MaxMessage bounds a frame or a message, reassembled and inflated
	// (default DefaultMaxMessage): a bigger one is an error record and
	// its direction is not decoded further (see Stream.Stop).
	MaxMessage int64
	// OversizeAction is appended to the error record of a frame or
	// message over MaxMessage, saying what the caller does about it (the
	// proxy: "connection closed with 1009").
	OversizeAction string
	// Recovered marks a connection whose handshake is not known (a capture
	// started mid-session): the open record says so, and Deflate, if set,
	// gives the parameters assumed.
	Recovered bool
	// Deflate overrides the permessage-deflate parameters negotiated in
	// the handshake (for recovered connections).
	Deflate *wsframe.DeflateParams
}

// Conn is one connection's tap: two Streams and what they share.
type Conn struct {
	id   string
	opts Options
	dirs [2]*Stream // client, server

	mu        sync.Mutex
	firstBy   trace.Side // who sent the first close frame
	firstCode int
	firstWhy  string
}

// Open starts a connection's tap from its handshake and returns the
// records it makes: the open record, and an error record when the
// negotiated extensions cannot be understood (frames are then decoded
// without permessage-deflate).
func Open(h Handshake, o Options) (*Conn, []*trace.Record) {
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	c := &Conn{id: h.Conn, opts: o}
	open := &trace.Record{Kind: trace.KindOpen, T: h.Start, Conn: h.Conn, Open: &trace.Open{Upstream: h.Upstream}}
	recs := []*trace.Record{open}
	uri := requestURI(h.Request)
	var redacted bool
	open.Open.URL, redacted = o.Redact.URL(uri)
	open.Open.Session = protocol.SessionFromURL(uri)
	open.Redacted = redacted
	if h.Request != nil {
		open.Open.Client = h.Request.RemoteAddr
		var hr bool
		open.Open.Headers, hr = o.Redact.Headers(h.Request.Header)
		open.Redacted = open.Redacted || hr
	}
	deflate := o.Deflate
	if h.Response != nil {
		open.Open.Subprotocol = h.Response.Header.Get("Sec-WebSocket-Protocol")
		open.Open.Extensions = strings.Join(h.Response.Header.Values("Sec-WebSocket-Extensions"), ", ")
		var rr bool
		open.Open.ResponseHeaders, rr = o.Redact.Headers(h.Response.Header)
		open.Redacted = open.Redacted || rr
		if deflate == nil {
			d, _, err := wsframe.ParseExtensions(open.Open.Extensions)
			if err != nil {
				recs = append(recs, &trace.Record{Kind: trace.KindError, T: h.Start, Conn: h.Conn,
					Message: "negotiated extensions: " + err.Error()})
			}
			deflate = d
		}
	}
	open.Open.Recovered = o.Recovered
	c.dirs[0] = newStream(c, trace.Client, deflate)
	c.dirs[1] = newStream(c, trace.Server, deflate)
	return c, recs
}

func requestURI(r *http.Request) string {
	switch {
	case r == nil:
		return ""
	case r.RequestURI != "":
		return r.RequestURI
	case r.URL != nil:
		return r.URL.RequestURI()
	}
	return ""
}

// ID returns the connection's name.
func (c *Conn) ID() string { return c.id }

// Stream returns the tap of one direction: frames sent by from.
func (c *Conn) Stream(from trace.Side) *Stream {
	if from == trace.Server {
		return c.dirs[1]
	}
	return c.dirs[0]
}

// Feed decodes the next bytes sent by from, seen at t, and returns the
// records they complete.
func (c *Conn) Feed(from trace.Side, t time.Time, b []byte) []*trace.Record {
	return c.Stream(from).Feed(nil, t, b)
}

// End marks the end of from's byte stream at t (err says why: io.EOF for
// an orderly end) and returns the records it makes: an error record when
// the stream ends without a close frame or inside a frame.
func (c *Conn) End(from trace.Side, t time.Time, err error) []*trace.Record {
	return c.Stream(from).End(nil, t, err)
}

// Close returns the connection's close record. by, code and reason say
// who ended it and how when that was not a peer's close frame (the proxy
// cutting it, a peer vanishing); with by empty, the first close frame seen
// tells the story, and without one the record says the proxy (or the
// capture) saw the connection end with no close frame.
func (c *Conn) Close(t time.Time, by trace.Side, code int, reason string) *trace.Record {
	if by == "" {
		c.mu.Lock()
		by, code, reason = c.firstBy, c.firstCode, c.firstWhy
		c.mu.Unlock()
		if by == "" {
			by = trace.Proxy
		}
	}
	return &trace.Record{Kind: trace.KindClose, T: t, Conn: c.id, By: by, Code: code, Reason: reason}
}

// FirstClose reports who sent the first close frame, if anyone did.
func (c *Conn) FirstClose() (by trace.Side, code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstBy, c.firstCode, c.firstWhy
}

// sawClose notes a close frame; it reports whether both sides have now
// sent one.
func (c *Conn) sawClose(from trace.Side, code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstBy == "" {
		c.firstBy, c.firstCode, c.firstWhy = from, code, reason
	}
}

// Refused returns the http record of an upgrade the server refused (or
// that failed before any answer: h.Response nil, status is then what the
// caller answered the client, e.g. 502). body is the start of the
// refusal's body as captured, size its full size.
func Refused(h Handshake, status int, body []byte, size int64, o Options) *trace.Record {
	uri := requestURI(h.Request)
	u, redacted := o.Redact.URL(uri)
	hr := &trace.HTTP{URL: u, Upstream: h.Upstream, Status: status, Upgrade: true}
	if !h.Answered.IsZero() {
		hr.Duration = h.Answered.Sub(h.Start)
	}
	if h.Request != nil {
		hr.Method = h.Request.Method
		var rr bool
		hr.RequestHeaders, rr = o.Redact.Headers(h.Request.Header)
		redacted = redacted || rr
	}
	if h.Response != nil {
		hr.Status = h.Response.StatusCode
		var rr bool
		hr.ResponseHeaders, rr = o.Redact.Headers(h.Response.Header)
		redacted = redacted || rr
		hr.ResponseBody = Body(body, size, o.Redact)
	}
	return &trace.Record{Kind: trace.KindHTTP, T: h.Start, Conn: h.Conn, HTTP: hr, Redacted: redacted}
}

// Body makes a recorded HTTP body from the captured start of a body and
// its full size, redacted by policy.
func Body(captured []byte, size int64, policy redact.Policy) *trace.Body {
	data := append([]byte(nil), captured...)
	data, _ = policy.Payload(data)
	return &trace.Body{Data: data, Form: trace.FormOf(trace.OpText, data), Size: size, Truncated: size > int64(len(captured))}
}
