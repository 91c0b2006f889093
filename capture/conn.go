package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// state is where a connection's import stands.
type state uint8

const (
	stateNew          state = iota // no payload seen yet
	stateRequest                   // reading the client's HTTP request head
	stateResponse                  // reading the server's response head
	stateRefusal                   // reading a refused upgrade's body
	stateHTTPResponse              // reading the answer to a plain HTTP request
	stateOpen                      // WebSocket frames through the tap
	stateRecover                   // no handshake: looking for frame boundaries
	stateSkipped                   // not imported (reason in skip)
	stateDone                      // finished
)

// errCaptureEnded ends the streams still open when the capture ends.
var errCaptureEnded = errors.New("the capture ended before the connection did")

// conn is one TCP connection of the capture. Directions are indexed by
// the assembler's: 0 is the direction of the first packet seen, which is
// not necessarily the client's.
type conn struct {
	s     *Source
	addr  [2]string // sender's address of each direction
	first time.Time // first packet
	lastT time.Time // latest packet
	syn   int       // direction that sent the bare SYN, -1 if not seen
	rst   [2]bool
	ended [2]bool
	lost  [2]bool  // a segment of this direction was lost: no more records
	off   [2]int64 // stream bytes of each direction delivered so far

	st     state
	skip   string
	client int // direction of the client, -1 while unknown
	buf    [2][]byte
	chunks [2][]int // recovery: offsets in buf where delivered chunks start

	id          string
	num         int
	req         *http.Request
	reqT        time.Time
	resp        *http.Response
	respT       time.Time
	bodyWant    int64
	x           *exchange // plain HTTP exchange awaiting its response
	framing     framing   // what its response's head says of the body
	tc          *tap.Conn
	recovered   bool
	rec         [2]recovery
	recoverNote []string
	url         string

	lastEmit time.Time // time of the latest record emitted

	hold bool            // keep records in held (see Source.finish)
	held []*trace.Record // records made while hold

	frames    [2]int64
	payload   [2]int64
	wire      [2]int64
	errors    int
	lostNote  []string
	closeNote string
}

func (s *Source) newConn(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) *conn {
	src, dst := netFlow.Endpoints()
	sp, dp := tcpFlow.Endpoints()
	c := &conn{s: s, syn: -1, client: -1,
		addr:  [2]string{net.JoinHostPort(src.String(), sp.String()), net.JoinHostPort(dst.String(), dp.String())},
		first: ac.GetCaptureInfo().Timestamp}
	s.conns = append(s.conns, c)
	return c
}

func dirIndex(d reassembly.TCPFlowDirection) int {
	if d == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}

// side names the sender of direction d (once the client is known).
func (c *conn) side(d int) trace.Side {
	if d == c.client {
		return trace.Client
	}
	return trace.Server
}

// flow names the connection for messages: client → server when known.
func (c *conn) flow() string {
	if c.client == 1 {
		return c.addr[1] + " → " + c.addr[0]
	}
	return c.addr[0] + " → " + c.addr[1]
}

// Accept takes every segment: checksums are not verified (captures of
// loopback traffic carry unfilled checksums), and a connection whose
// start is not in the capture is started at its first segment.
func (c *conn) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	d := dirIndex(dir)
	if tcp.SYN && !tcp.ACK {
		c.syn = d
	}
	if tcp.RST {
		c.rst[d] = true
	}
	if ci.Timestamp.After(c.lastT) {
		c.lastT = ci.Timestamp
	}
	if nextSeq == -1 && !tcp.SYN { // reassembly's invalidSequence
		*start = true
	}
	return true
}

// ReassembledSG receives the next contiguous bytes of one direction.
func (c *conn) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	dir, _, end, skip := sg.Info()
	d := dirIndex(dir)
	n, _ := sg.Lengths()
	t := c.lastT
	var num int64
	if pc, ok := ac.(*packetContext); ok {
		t, num = pc.ci.Timestamp, pc.num
	}
	if skip > 0 && !c.lost[d] && !c.ended[d] {
		c.loseAt(d, t, num, skip)
	}
	if n > 0 && !c.lost[d] && !c.ended[d] {
		data := sg.Fetch(n)
		c.data(d, t, data)
		c.off[d] += int64(n)
	}
	if end && !c.ended[d] {
		c.endDir(d, t)
	}
}

// ReassemblyComplete is called when both directions have ended (or the
// capture has): the connection is finished and forgotten.
func (c *conn) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	c.finish(c.lastT, false)
	return true
}

// emit passes records on (or holds them, see Source.finish) and counts.
func (c *conn) emit(recs ...*trace.Record) {
	for _, r := range recs {
		// A connection's records keep their order in time: those made
		// late (a loss found when the window filled, bytes buffered while
		// looking for a frame boundary) take the time they were made.
		if r.T.Before(c.lastEmit) {
			r.T = c.lastEmit
		} else {
			c.lastEmit = r.T
		}
		switch r.Kind {
		case trace.KindFrame:
			i := 0
			if r.From == trace.Server {
				i = 1
			}
			c.frames[i]++
			c.payload[i] += int64(r.Size)
			c.wire[i] += int64(r.WireSize)
		case trace.KindError:
			c.errors++
		}
	}
	if c.hold {
		c.held = append(c.held, recs...)
		return
	}
	c.s.emit(recs...)
}

// skipConn stops importing the connection, for reason.
func (c *conn) skipConn(reason string) {
	if c.st == stateOpen && c.tc != nil {
		// Already in the trace: say why it stops there.
		c.emit(&trace.Record{Kind: trace.KindError, T: c.lastT, Conn: c.id, Message: reason})
		c.closeNote = reason
		c.st = stateSkipped
		return
	}
	c.st, c.skip = stateSkipped, reason
	c.buf = [2][]byte{}
	c.chunks = [2][]int{}
	if len(c.s.sum.Skipped) < maxSkippedKept {
		c.s.sum.Skipped = append(c.s.sum.Skipped, Skip{Conn: c.id, Flow: c.flow(), Reason: reason})
	} else {
		c.s.sum.SkippedMore++
	}
}

// loseAt handles bytes of direction d missing before the data now
// delivered: that direction's records stop here.
func (c *conn) loseAt(d int, t time.Time, num int64, skip int) {
	c.lost[d] = true
	where := fmt.Sprintf("%d bytes of %s's stream missing at stream offset %d", skip, c.addr[d], c.off[d])
	if num > 0 {
		where += fmt.Sprintf(" (the capture resumes with packet %d at %s)", num, t.UTC().Format(time.RFC3339Nano))
	}
	switch c.st {
	case stateOpen:
		msg := fmt.Sprintf("lost segment: %s; nothing more the %s sent is decoded", where, c.side(d))
		c.lostNote = append(c.lostNote, msg)
		c.emit(errorRecord(c, d, t, msg))
	case stateSkipped, stateDone:
	default:
		c.skipConn(fmt.Sprintf("lost segment before the WebSocket stream was established: %s", where))
	}
}

// data handles the next bytes of direction d.
func (c *conn) data(d int, t time.Time, b []byte) {
	switch c.st {
	case stateSkipped, stateDone:
		return
	case stateOpen:
		if !c.recovered || c.rec[d].synced || c.lost[d] {
			c.feed(d, t, b)
			return
		}
	case stateNew:
		// The first bytes, as many as it takes to tell what they are.
		c.buf[d] = append(c.buf[d], b...)
		if undecided(c.buf[d]) {
			return
		}
		c.classify(d, c.buf[d])
		switch c.st {
		case stateRecover:
			c.chunks[d] = append(c.chunks[d][:0], 0)
			c.rec[d].chunkT = append(c.rec[d].chunkT[:0], t)
		case stateRequest:
		default:
			return
		}
		c.advance(t)
		return
	}
	// Handshake and recovery work on buffered bytes (a copy: the
	// assembler reuses its buffers).
	if c.st == stateRecover || c.recovered {
		c.chunks[d] = append(c.chunks[d], len(c.buf[d]))
		c.rec[d].chunkT = append(c.rec[d].chunkT, t)
	}
	c.buf[d] = append(c.buf[d], b...)
	c.advance(t)
}

// feed passes frame bytes of direction d to the tap.
func (c *conn) feed(d int, t time.Time, b []byte) {
	if c.lost[d] {
		return
	}
	c.emit(c.tc.Feed(c.side(d), t, b)...)
}

// classify looks at the first bytes of a connection: an HTTP request
// (the sender is the client), TLS, or something else (a capture started
// mid-session, or not WebSocket at all).
func (c *conn) classify(d int, b []byte) {
	switch {
	case isTLS(b):
		c.client = c.syn
		c.skipConn(fmt.Sprintf("TLS (record type 0x%02x, version %d.%d) from %s: encrypted traffic cannot be imported (decrypting is out of scope; capture plain ws:// traffic, e.g. between a TLS-terminating proxy and the server)", b[0], b[1], b[2], c.addr[d]))
	case looksLikeRequest(b):
		c.client = d
		c.st = stateRequest
	case c.syn >= 0 && c.syn == d && !looksLikeResponse(b):
		c.client = d
		c.skipConn(fmt.Sprintf("not HTTP: the connection's first bytes from its client %s are % x", c.addr[d], b[:min(len(b), 8)]))
	case c.syn >= 0 && !looksLikeResponse(b):
		// The server speaks first: not HTTP.
		c.client = c.syn
		c.skipConn(fmt.Sprintf("not HTTP: the server %s spoke first (% x)", c.addr[d], b[:min(len(b), 8)]))
	case c.syn >= 0:
		c.client = c.syn
		c.skipConn("an HTTP response without its request in the capture")
	default:
		c.st = stateRecover
	}
}

// advance moves the handshake or the recovery on with what is buffered.
func (c *conn) advance(t time.Time) {
	for {
		before := c.st
		switch c.st {
		case stateRequest:
			c.readRequest(t)
		case stateResponse:
			c.readResponse(t)
		case stateRefusal:
			c.readRefusal(t, false)
		case stateHTTPResponse:
			c.readPlainResponse(t, false)
		case stateRecover:
			c.tryRecover()
		case stateOpen:
			if c.recovered {
				c.tryRecover()
			}
			return
		}
		if c.st == before {
			return
		}
	}
}

func (c *conn) readRequest(t time.Time) {
	b := c.buf[c.client]
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHandshake {
			c.skipConn(fmt.Sprintf("HTTP request head from %s longer than %d bytes", c.addr[c.client], maxHandshake))
		}
		return
	}
	end += 4
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:end])))
	if err != nil {
		c.skipConn(fmt.Sprintf("bad HTTP request from %s: %v", c.addr[c.client], err))
		return
	}
	if !headerHasToken(req.Header, "Upgrade", "websocket") {
		c.readPlainRequest(t)
		return
	}
	req.RemoteAddr = c.addr[c.client]
	c.req, c.reqT = req, t
	c.s.nextID++
	c.num = c.s.nextID
	c.id = "c" + strconv.Itoa(c.num)
	c.url, _ = c.s.opts.Redact.URL(req.RequestURI)
	c.buf[c.client] = b[end:]
	c.st = stateResponse
}

func (c *conn) readResponse(t time.Time) {
	sd := 1 - c.client
	b := c.buf[sd]
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHandshake {
			c.skipConn(fmt.Sprintf("HTTP response head from %s longer than %d bytes", c.addr[sd], maxHandshake))
		}
		return
	}
	end += 4
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b[:end])), c.req)
	if err != nil {
		c.skipConn(fmt.Sprintf("bad HTTP response from %s: %v", c.addr[sd], err))
		return
	}
	c.resp, c.respT = resp, t
	c.buf[sd] = b[end:]
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.bodyWant = resp.ContentLength
		c.st = stateRefusal
		return
	}
	tc, recs := tap.Open(c.handshake(), c.tapOptions())
	c.tc = tc
	c.st = stateOpen
	c.emit(recs...)
	for _, d := range []int{c.client, sd} {
		if len(c.buf[d]) > 0 {
			c.feed(d, t, c.buf[d])
		}
		c.buf[d] = nil
	}
}

// readRefusal waits for the body of a refused upgrade (up to its
// Content-Length, the bound, or the end of the stream) and records it.
func (c *conn) readRefusal(t time.Time, ended bool) {
	b := c.buf[1-c.client]
	want := c.bodyWant
	if want < 0 || want > maxRefusalBody {
		want = maxRefusalBody
	}
	if int64(len(b)) < want && !ended {
		return
	}
	b = b[:min(int64(len(b)), want)]
	size := c.bodyWant
	if size < 0 {
		size = int64(len(b))
		if !ended {
			size = -1
		}
	}
	h := c.handshake()
	h.Answered = c.respT
	c.emit(tap.Refused(h, c.resp.StatusCode, b, size, c.tapOptions()))
	c.closeNote = "upgrade refused: " + c.resp.Status
	c.st = stateDone
	c.buf = [2][]byte{}
}

func (c *conn) handshake() tap.Handshake {
	server := c.addr[1-max(c.client, 0)]
	return tap.Handshake{Conn: c.id, Start: c.reqT, Request: c.req, Response: c.resp, Upstream: "ws://" + server}
}

func (c *conn) tapOptions() tap.Options {
	return tap.Options{Redact: c.s.opts.Redact, MaxMessage: c.s.opts.MaxMessage}
}

// endDir handles the end (FIN or RST) of direction d.
func (c *conn) endDir(d int, t time.Time) {
	c.ended[d] = true
	switch c.st {
	case stateOpen:
		if c.recovered && !c.rec[d].synced && len(c.buf[d]) > 0 {
			c.rec[d].giveUp = true
			c.flushRecovered(d)
		}
		if c.lost[d] {
			return
		}
		var err error = io.EOF
		if c.rst[d] {
			err = fmt.Errorf("%s reset the connection", c.addr[d])
		}
		c.emit(c.tc.End(c.side(d), t, err)...)
	case stateRefusal:
		if d != c.client {
			c.readRefusal(t, true)
		}
	case stateHTTPResponse:
		if d != c.client {
			c.readPlainResponse(t, true)
			c.advance(t)
		}
	}
}

// finish ends what is still open: at the end of the capture (atEnd) or
// when both directions have ended.
func (c *conn) finish(t time.Time, atEnd bool) {
	switch c.st {
	case stateDone:
		return
	case stateOpen:
		for _, d := range []int{c.client, 1 - c.client} {
			if c.recovered && !c.rec[d].synced && len(c.buf[d]) > 0 {
				c.rec[d].giveUp = true
				c.flushRecovered(d)
			}
			if !c.ended[d] && !c.lost[d] {
				c.ended[d] = true
				c.emit(c.tc.End(c.side(d), t, errCaptureEnded)...)
			}
		}
		if atEnd && !(c.ended[0] && c.ended[1]) {
			c.closeNote = "capture ended"
		}
		c.emit(c.tc.Close(t, "", 0, ""))
		c.tc = nil
	case stateRefusal:
		c.readRefusal(t, true)
	case stateHTTPResponse:
		c.readPlainResponse(t, true)
		if c.st == stateHTTPResponse {
			c.skipConn(fmt.Sprintf("HTTP request %s %s got no response in the capture", c.x.req.Method, truncate(c.x.req.RequestURI, 80)))
		}
	case stateRequest:
		if len(c.buf[c.client]) > 0 {
			c.skipConn("the capture ends inside an HTTP request")
		}
	case stateResponse:
		c.skipConn(fmt.Sprintf("upgrade request %s got no response in the capture", truncate(c.url, 80)))
	case stateRecover:
		c.skipConn(c.recoverFailure())
	case stateNew:
		// A connection that carried no payload (a port scan, a SYN with no
		// answer, a connection closed before any byte) is not counted.
	}
	if c.st != stateSkipped {
		c.st = stateDone
	}
	c.buf = [2][]byte{}
	c.chunks = [2][]int{}
}

// isTLS reports a TLS record header: handshake, alert, change cipher spec
// or application data, version 3.x.
func isTLS(b []byte) bool {
	return len(b) >= 3 && (b[0] >= 0x14 && b[0] <= 0x17) && b[1] == 3 && b[2] <= 4
}

var methods = []string{"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "}

func looksLikeRequest(b []byte) bool {
	for _, m := range methods {
		if bytes.HasPrefix(b, []byte(m)) {
			return true
		}
	}
	return false
}

// undecided reports first bytes too few to classify: a proper prefix of
// a request line, a response line or a TLS record header.
func undecided(b []byte) bool {
	if len(b) < 3 && len(b) > 0 && b[0] >= 0x14 && b[0] <= 0x17 {
		return true
	}
	for _, m := range append(methods, "HTTP/1.") {
		if len(b) < len(m) && bytes.HasPrefix([]byte(m), b) {
			return true
		}
	}
	return false
}

func looksLikeResponse(b []byte) bool { return bytes.HasPrefix(b, []byte("HTTP/1.")) }

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// stats returns the summary line of the connection.
func (c *conn) stats() ConnSummary {
	cs := ConnSummary{num: c.num, Conn: c.id, Refused: c.resp != nil && c.resp.StatusCode != http.StatusSwitchingProtocols, URL: c.url, Recovered: c.recovered, Errors: c.errors, Lost: c.lostNote, Note: c.closeNote, RecoverNotes: c.recoverNote}
	if c.client >= 0 {
		cs.Client, cs.Server = c.addr[c.client], c.addr[1-c.client]
	}
	cs.Frames = c.frames
	cs.PayloadBytes = c.payload
	cs.WireBytes = c.wire
	return cs
}

// errorRecord is an error record about direction d.
func errorRecord(c *conn, d int, t time.Time, msg string) *trace.Record {
	return &trace.Record{Kind: trace.KindError, T: t, Conn: c.id, From: c.side(d), Message: msg}
}
