package replay

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// liveFrame is a frame received from the peer, classified like a
// recorded one.
type liveFrame struct {
	op      trace.Op
	payload []byte
	env     protocol.Envelope
	nonJSON bool
	typ     string
}

func classify(m *protocol.Model, op trace.Op, payload []byte) liveFrame {
	l := liveFrame{op: op, payload: payload}
	if op != trace.OpText {
		l.nonJSON = true
		return l
	}
	env, err := m.Parse(payload)
	if err != nil {
		l.nonJSON = true
		return l
	}
	l.env, l.typ = env, env.TypeString()
	return l
}

func (l *liveFrame) describe() string {
	switch {
	case l.op == trace.OpBinary:
		return "binary frame"
	case l.nonJSON:
		return "non-JSON text frame " + snippet(l.payload)
	case l.typ == "":
		return "frame without type"
	}
	return l.typ
}

// transport reports relay-level messages (ack, ping, pong,
// listener_ready): never matched against the recording.
func (l *liveFrame) transport() bool {
	return l.env.Info != nil && l.env.Info.Role == protocol.RoleTransport
}

// sameKind reports whether a live frame can match a recorded one: same
// opcode, and same type (or both not JSON).
func sameKind(it *item, l *liveFrame) bool {
	if it.kind != itemFrame || it.op != l.op || it.nonJSON != l.nonJSON {
		return false
	}
	return it.typ == l.typ
}

// snippet quotes the start of a payload for messages.
func snippet(p []byte) string {
	const max = 40
	if len(p) > max {
		p = p[:max]
		for len(p) > 0 && !utf8.Valid(p) {
			p = p[:len(p)-1]
		}
		return strconv.Quote(string(p)) + "..."
	}
	return strconv.Quote(string(p))
}

// giveUp reports an expected frame that did not come.
func (e *engine) giveUp(it *item, reason string) {
	if it.done {
		return
	}
	it.done = true
	e.ahead -= len(it.payload)
	it.payload = nil
	s := e.socks[it.sock]
	e.log.add(Entry{Kind: Missing, Session: e.info.Number, Line: it.line, Conn: s.info.Conn, Channel: s.info.Channel,
		Type: it.describe(), RequestID: string(it.reqID), Reason: reason})
}

// onFrame handles a frame from the live peer.
func (e *engine) onFrame(s *sock, l liveFrame) {
	if e.role == roleDrive && l.env.HasSeq {
		// Acknowledge the live server's own seq, as a client must.
		ack := strconv.AppendInt([]byte(`{"type":"ack","seq":`), l.env.Seq, 10)
		if err := s.out.message(trace.OpText, append(ack, '}')); err != nil {
			e.lost(s, err)
			return
		}
	}
	if l.transport() {
		e.onTransport(s, &l)
		return
	}
	e.match(s, &l)
}

// onTransport answers pings and checks acks. Transport messages are never
// matched against the recording: recorded pings, pongs and acks are the
// recording's own transport noise.
func (e *engine) onTransport(s *sock, l *liveFrame) {
	switch l.typ {
	case "ping":
		if e.role == roleServe {
			p := strconv.AppendInt([]byte(`{"type":"pong","timestamp":`), time.Now().UnixMilli(), 10)
			seq := int64(0)
			if s.seqNext != 0 || s.info.FirstSeq != 0 {
				// The socket is sequenced: the pong takes the next seq.
				seq = s.nextSeq(0)
				p = strconv.AppendInt(append(p, `,"seq":`...), seq, 10)
			}
			p = append(p, '}')
			if err := s.out.message(trace.OpText, p); err != nil {
				e.lost(s, err)
				return
			}
			if seq != 0 {
				s.sentSeq(seq)
			}
			return
		}
		if err := s.out.message(trace.OpText, []byte(`{"type":"pong"}`)); err != nil {
			e.lost(s, err)
		}
	case "ack":
		if e.role == roleServe {
			e.onAck(s, l)
		}
	}
}

func (e *engine) onAck(s *sock, l *liveFrame) {
	bad := func(reason string) {
		e.log.add(Entry{Kind: BadAck, Session: e.info.Number, Conn: s.info.Conn, Channel: s.info.Channel, Got: "ack", Reason: reason})
	}
	if !l.env.HasSeq {
		bad("ack without an integer seq")
		return
	}
	n := l.env.Seq
	if s.seqSent == 0 || n > s.maxSeq {
		bad(fmt.Sprintf("ack for seq %d, which was not sent on this socket (highest sent: %d)", n, s.maxSeq))
		return
	}
	// An ack covers its seq; acks may come in any order.
	for i, q := range s.seqs {
		if q == n {
			s.seqs = append(s.seqs[:i], s.seqs[i+1:]...)
			s.acked++
			return
		}
	}
}

// match finds the recorded frame a live one stands for.
func (e *engine) match(s *sock, l *liveFrame) {
	if m := e.search(s, l); m != nil {
		for _, sk := range e.theirs[s.idx] {
			if sk == m {
				break
			}
			if !sk.done {
				sk.done = true
				if len(e.missed) >= maxMissed {
					old := e.missed[0]
					e.missed = e.missed[1:]
					old.done = false
					e.giveUp(old, fmt.Sprintf("skipped, and not received before %d more were", maxMissed))
				}
				e.missed = append(e.missed, sk)
				e.opts.logf("replay: session %d: %s (trace line %d) not received yet; %s (trace line %d) came first",
					e.info.Number, sk.describe(), sk.line, l.describe(), m.line)
			}
		}
		e.matched(m, l, Matched, "")
		return
	}
	for i, m := range e.missed {
		if m.sock == s.idx && sameKind(m, l) {
			e.missed = append(e.missed[:i], e.missed[i+1:]...)
			m.done = false
			e.matched(m, l, OutOfOrder, "came after frames recorded after it")
			return
		}
	}
	for _, o := range e.socks {
		if o == s {
			continue
		}
		for _, it := range e.theirs[o.idx] {
			if it.done {
				continue
			}
			if sameKind(it, l) {
				e.matched(it, l, Mismatch, fmt.Sprintf("sent on the %s socket, recorded on the %s socket", s.info.Channel, o.info.Channel))
				return
			}
			break
		}
	}
	ent := Entry{Kind: Unexpected, Session: e.info.Number, Conn: s.info.Conn, Channel: s.info.Channel, Got: l.describe(),
		LiveRequestID: string(l.env.RequestID)}
	if next := e.firstUndone(s.idx); next != nil {
		ent.Reason = fmt.Sprintf("the recording expects %s (trace line %d) next on this socket", next.describe(), next.line)
	} else {
		ent.Reason = "the recording expects nothing more on this socket"
	}
	e.log.add(ent)
}

func (e *engine) firstUndone(sock int) *item {
	for _, it := range e.theirs[sock] {
		if !it.done {
			return it
		}
	}
	return nil
}

// search returns the expected frame a live frame matches on its socket,
// looking at most Lookahead frames ahead (reading more of the trace if
// needed), or nil. With contents compared, a frame of the same type and
// contents is preferred to the first of the same type.
func (e *engine) search(s *sock, l *liveFrame) *item {
	for {
		var first *item
		seen, full := 0, false
		for _, it := range e.theirs[s.idx] {
			if it.done {
				continue
			}
			if seen >= e.opts.Lookahead {
				full = true
				break
			}
			seen++
			if !sameKind(it, l) {
				continue
			}
			if e.cmp == nil || e.cmp.compare(it.payload, l.payload, nil) == "" {
				return it
			}
			if first == nil {
				first = it
			}
		}
		if full || e.feedDone || e.aheadFull() || !e.pull() {
			return first
		}
	}
}

// matched records a live frame matching the recorded it.
func (e *engine) matched(it *item, l *liveFrame, kind, reason string) {
	it.done = true
	s := e.socks[it.sock]
	ent := Entry{Kind: kind, Session: e.info.Number, Line: it.line, Conn: s.info.Conn, Channel: s.info.Channel,
		Type: it.describe(), RequestID: string(it.reqID), LiveRequestID: string(l.env.RequestID), Reason: reason}
	if l.typ != it.typ {
		ent.Got = l.describe()
	}
	switch e.role {
	case roleServe:
		if len(it.reqID) > 0 && len(l.env.RequestID) > 0 {
			e.rewrite[string(it.reqID)] = string(l.env.RequestID)
		}
	case roleDrive:
		if it.payload != nil {
			diff := ""
			if e.cmp != nil {
				diff = e.cmp.compare(it.payload, l.payload, e.rewrite)
			} else {
				learnPayloadIDs(it.payload, l.payload, e.rewrite)
			}
			if diff != "" && kind == Matched {
				ent.Kind, ent.Reason = Mismatch, diff
			}
		}
	}
	e.ahead -= len(it.payload)
	it.payload = nil
	e.log.add(ent)
}

// matchClose matches the live server closing a socket with the recorded
// close (drive).
func (e *engine) matchClose(s *sock, code int) {
	if s.closeSent {
		return // the echo of our own close
	}
	for _, it := range e.theirs[s.idx] {
		if it.done {
			continue
		}
		if it.kind != itemClose {
			return // frames still expected: dropExpected reports them
		}
		it.done = true
		ent := Entry{Kind: Matched, Session: e.info.Number, Line: it.line, Conn: s.info.Conn, Channel: s.info.Channel, Type: "close"}
		if it.code != code && !(it.code == 0 && code == websocket.CloseNoStatusReceived) {
			ent.Kind = Mismatch
			ent.Reason = fmt.Sprintf("closed with code %d, recorded %d", code, it.code)
		}
		e.log.add(ent)
		return
	}
	if e.ended && e.earliestTheirs() == nil {
		// The recording is over and has this socket still open: closing
		// it now is no divergence.
		return
	}
	e.log.add(Entry{Kind: Unexpected, Session: e.info.Number, Conn: s.info.Conn, Channel: s.info.Channel,
		Got: "close", Reason: fmt.Sprintf("the server closed the socket (code %d); the recording does not", code)})
}

// learnPayloadIDs learns live ids from a matched pair of payloads.
func learnPayloadIDs(rec, live []byte, out map[string]string) {
	rv, ok1 := decodeJSON(rec)
	lv, ok2 := decodeJSON(live)
	if ok1 && ok2 {
		learnIDs(rv, lv, out)
	}
}
