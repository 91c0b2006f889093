package replay

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/trace"
)

type sockState uint8

const (
	sockPending sockState = iota // no live socket yet
	sockOpen
	sockClosed
	sockAbsent // never connected
)

type evKind uint8

const (
	evConnect evKind = iota
	evFrame
	evPing
	evClosed
	evFailed // the live socket did not open after all
)

// event is what a socket's reader tells the session.
type event struct {
	kind    evKind
	sock    int
	out     sender
	op      trace.Op
	payload []byte
	code    int
	err     error
	// handled, when set, is closed once the session handled the event
	// (evClosed: its close reply is written, so the reader may let the
	// connection go).
	handled chan struct{}
}

// release tells the event's poster that it was handled.
func (ev *event) release() {
	if ev.handled != nil {
		close(ev.handled)
		ev.handled = nil
	}
}

// sock is one recorded socket and the live one standing in for it.
type sock struct {
	idx   int
	info  ConnInfo
	state sockState
	out   sender

	waitSince    time.Time // when the session started waiting for it to connect
	lingerAt     time.Time // close it then (or drop it, once closeSent)
	lingerCode   int
	lingerReason string
	closeSent    bool
	awaitClose   bool // the recording has the peer closing: wait for it
	unreachable  bool // Drive could not open it (a connect error)
	claimed      bool // a live socket is on its way (guarded by engine.claimMu)

	sent, unsent int
	seqs         []int64 // sent seqs not yet acknowledged (the latest maxUnacked)
	forgotten    int     // unacknowledged seqs dropped from seqs
	maxSeq       int64
	seqSent      int
	// seqNext is the transport seq the next frame sent on the socket
	// gets (serve); 0 until the first recorded seq sets the start.
	seqNext   int64
	acked     int
	liveClose int
}

// nextSeq returns the seq of the next sequenced frame sent on the socket:
// the socket's first recorded seq starts the numbering, and every frame
// sent after continues it by one, whatever the recording numbered it.
func (s *sock) nextSeq(recorded int64) int64 {
	if s.seqNext == 0 {
		s.seqNext = recorded
		if s.info.FirstSeq != 0 {
			s.seqNext = s.info.FirstSeq
		}
	}
	n := s.seqNext
	s.seqNext++
	return n
}

// sentSeq notes that a frame with seq n went out, for the client's acks.
func (s *sock) sentSeq(n int64) {
	if len(s.seqs) >= maxUnacked {
		// A client that does not ack: remember only the latest seqs.
		s.seqs = s.seqs[1:]
		s.forgotten++
	}
	s.seqs = append(s.seqs, n)
	s.seqSent++
	if n > s.maxSeq {
		s.maxSeq = n
	}
}

// sendClose replays a close with its code: a close frame for codes a
// peer may send, an empty one for "no status" (1005 or none), and a
// dropped connection for "abnormal closure" (1006) and the like.
func (e *engine) sendClose(s *sock, code int, reason string) {
	if s.closeSent || s.state != sockOpen {
		return
	}
	if code != 0 && code != websocket.CloseNoStatusReceived && !sendableCode(code) {
		s.out.flush()
		e.closed(s, code, "dropped (recorded close code "+strconv.Itoa(code)+")")
		return
	}
	if code == websocket.CloseNoStatusReceived {
		code = 0
	}
	s.out.closeFrame(code, reason)
	s.closeSent = true
	s.lingerAt = time.Now().Add(closeGrace)
}

// lost marks a socket whose writes fail.
func (e *engine) lost(s *sock, err error) {
	e.closed(s, 0, "write failed: "+err.Error())
}

func (e *engine) flushAll() {
	for _, s := range e.socks {
		if s.state == sockOpen {
			if err := s.out.flush(); err != nil {
				e.lost(s, err)
			}
		}
	}
}

// claim reserves the session's socket for a live one on channel: the
// socket with that channel, or the only socket of a one-socket session.
// It returns -1 when there is none free or the session is over.
func (e *engine) claim(channel string) int {
	e.claimMu.Lock()
	defer e.claimMu.Unlock()
	if e.over {
		return -1
	}
	i := slotFor(e.info, channel, func(i int) bool { return e.socks[i].claimed })
	if i >= 0 {
		e.socks[i].claimed = true
	}
	return i
}

// unclaim frees a socket whose live connection failed to open.
func (e *engine) unclaim(i int) {
	e.claimMu.Lock()
	e.socks[i].claimed = false
	e.claimMu.Unlock()
	e.post(event{kind: evFailed, sock: i})
}

// slotFor picks the socket of a session a live socket on channel takes.
func slotFor(info *SessionInfo, channel string, taken func(int) bool) int {
	for i, c := range info.Conns {
		if c.Channel == channel && !taken(i) {
			return i
		}
	}
	if len(info.Conns) == 1 && !taken(0) {
		return 0
	}
	return -1
}

func (e *engine) goneReason(s *sock) string {
	if s.state == sockAbsent {
		return fmt.Sprintf("the %s socket never connected", s.info.Channel)
	}
	if s.liveClose != 0 {
		return fmt.Sprintf("the socket closed (code %d) first", s.liveClose)
	}
	return "the socket closed first"
}

// dropExpected gives up the frames still expected on a socket that can no
// longer send them.
// dropUnseen forgets what the server was to send on a socket Drive could
// not open: a connect error, not a divergence per frame.
func (e *engine) dropUnseen(s *sock) {
	s.unreachable = true
	for _, it := range e.theirs[s.idx] {
		it.done = true
		e.ahead -= len(it.payload)
		it.payload = nil
	}
	e.theirs[s.idx] = nil
}

func (e *engine) dropExpected(s *sock) {
	reason := e.goneReason(s)
	for _, it := range e.theirs[s.idx] {
		e.giveUp(it, reason)
	}
	e.theirs[s.idx] = nil
}

// closed marks a socket closed with the live close code (0 if none) and
// drops its connection; how, if set, is logged.
func (e *engine) closed(s *sock, code int, how string) {
	if s.state != sockOpen {
		return
	}
	s.state = sockClosed
	s.liveClose = code
	if s.out != nil {
		s.out.close()
	}
	if how != "" {
		e.opts.logf("replay: session %d: %s socket %s closed: %s", e.info.Number, s.info.Channel, s.info.Conn, how)
	}
	e.dropExpected(s)
}

func (e *engine) handle(ev event) {
	defer ev.release()
	s := e.socks[ev.sock]
	switch ev.kind {
	case evConnect:
		if s.state != sockPending {
			ev.out.close()
			return
		}
		s.state, s.out = sockOpen, ev.out
		e.lastActive = time.Now()
		e.opts.logf("replay: session %d (%s): %s socket connected in place of %s", e.info.Number, e.info.Name(), s.info.Channel, s.info.Conn)
	case evFailed:
		// Nothing to do: the socket is free again, and the loop rechecks
		// whether the session is complete.
	case evPing:
		if s.state == sockOpen {
			s.out.pong(ev.payload)
		}
	case evFrame:
		if s.state == sockOpen {
			e.lastActive = time.Now()
			e.onFrame(s, classify(e.opts.model(), ev.op, ev.payload))
		}
	case evClosed:
		if s.state != sockOpen {
			return
		}
		if e.role == roleDrive {
			e.matchClose(s, ev.code)
		} else if !s.closeSent && ev.code != 0 {
			// Echo the client's close, as a server does.
			code := ev.code
			if !sendableCode(code) {
				code = 0
			}
			s.out.closeFrame(code, "")
		}
		how := ""
		if ev.code == 0 && ev.err != nil && !s.closeSent {
			how = ev.err.Error()
		}
		e.closed(s, ev.code, how)
		e.peerGone()
	}
}

// peerGone ends a served session's waits once the client under test has
// closed every socket it opened: the sockets that never connected are
// absent, and what it never sent is reported at once rather than after
// the timeouts.
func (e *engine) peerGone() {
	if e.role != roleServe {
		return
	}
	e.claimMu.Lock()
	defer e.claimMu.Unlock()
	connected := false
	for _, s := range e.socks {
		if s.state == sockOpen || (s.state == sockPending && s.claimed) {
			return
		}
		connected = connected || s.state == sockClosed
	}
	if !connected {
		return
	}
	for _, s := range e.socks {
		if s.state == sockPending {
			s.state = sockAbsent
			e.log.add(Entry{Kind: Missing, Session: e.info.Number, Line: s.info.Line, Conn: s.info.Conn, Channel: s.info.Channel,
				Type: "open", Reason: fmt.Sprintf("the client closed its sockets and never connected its %s socket", s.info.Channel)})
			e.dropExpected(s)
		}
	}
}

// readLoop forwards a live socket's messages to the session until the
// socket fails or closes.
func readLoop(ws *websocket.Conn, idx int, e *engine) {
	ws.SetReadLimit(maxLiveFrame)
	for {
		mt, p, err := ws.ReadMessage()
		if err != nil {
			code := 0
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code = ce.Code
			}
			// Wait until the session has answered the close: the caller
			// drops the connection when this returns, and a close reply
			// not yet written then never arrives (the peer sees 1006).
			handled := make(chan struct{})
			if e.post(event{kind: evClosed, sock: idx, code: code, err: err, handled: handled}) {
				select {
				case <-handled:
				case <-e.stopped:
				}
			}
			return
		}
		op := trace.OpText
		if mt == websocket.BinaryMessage {
			op = trace.OpBinary
		}
		if !e.post(event{kind: evFrame, sock: idx, op: op, payload: p}) {
			drain(ws)
			return
		}
	}
}

// drain reads and drops what the peer still sends, until it closes or a
// grace period passes: a connection closed with unread data is reset,
// and a reset can destroy the close frame the peer has not read yet.
func drain(ws *websocket.Conn) {
	ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := ws.NextReader(); err != nil {
			return
		}
	}
}
