package replay

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// role is the side of the recording a replay plays.
type role uint8

const (
	roleServe role = iota // sends the server's frames, expects the client's
	roleDrive             // sends the client's frames, expects the server's
)

// engine replays one session: it reads the session's records from the
// trace as it goes, sends one side's frames and matches the live peer's
// frames against the other side's. One goroutine (run) owns all of its
// state and is the only writer on its sockets.
type engine struct {
	role   role
	opts   *Options
	info   *SessionInfo
	index  *Index
	log    *sessionLog
	cmp    *comparer
	driver *driver // Drive only

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // feeder, drive readers
	events  chan event
	stopped chan struct{}
	// postMu and postClosed make sure no event is posted after stop
	// drained the queue.
	postMu     sync.RWMutex
	postClosed bool

	feed     *feeder
	feedDone bool
	wantFeed bool

	socks  []*sock
	q      []*item // ours frames and closes, opens, theirs close markers
	qh     int
	theirs [][]*item // per socket: expected frames not yet matched, in order
	missed []*item   // skipped by a later frame; may still come out of order
	ahead  int       // payload bytes read but not consumed

	rewrite map[string]string // serve: recorded → live request_id; drive: learned ids

	timer      *time.Timer
	gateItem   *item
	gateSince  time.Time
	waitSock   *sock
	dueAt      time.Time
	anchored   bool
	anchorLive time.Time
	anchorRec  time.Time
	lastActive time.Time
	maxEvSeq   int64 // highest event_seq sent
	ended      bool

	// claimMu guards over and the socks' claimed flags, shared with the
	// Server handing live sockets to the session.
	claimMu sync.Mutex
	over    bool

	scratch    []byte
	seqScratch []byte
}

const (
	pumpBudget    = 512
	maxAhead      = 8 << 20 // payload bytes read ahead to find a match
	maxAheadItems = 8192
	maxUndone     = 4096 // expected frames kept per socket when not waiting for them
	maxUnacked    = 1 << 14
	maxMissed     = 1024 // skipped frames that may still come out of order
	closeGrace    = time.Second
	maxLiveFrame  = 64 << 20
)

func newEngine(parent context.Context, r role, x *Index, info *SessionInfo, opts *Options) *engine {
	ctx, cancel := context.WithCancel(parent)
	e := &engine{
		role: r, opts: opts, info: info, index: x, log: newSessionLog(x, info, opts),
		ctx: ctx, cancel: cancel, events: make(chan event, 64), stopped: make(chan struct{}),
		theirs: make([][]*item, len(info.Conns)), rewrite: map[string]string{},
	}
	for i, c := range info.Conns {
		e.socks = append(e.socks, &sock{idx: i, info: c})
	}
	if r == roleDrive && !opts.TypesOnly {
		e.cmp = newComparer(opts.Volatile)
	}
	return e
}

// post hands an event to the session; false once the session is over.
// Every event posted is handled (stop drains what is left).
func (e *engine) post(ev event) bool {
	e.postMu.RLock()
	defer e.postMu.RUnlock()
	if e.postClosed {
		return false
	}
	select {
	case e.events <- ev:
		return true
	case <-e.stopped:
		return false
	}
}

func (e *engine) gated() bool { return e.role == roleDrive || e.opts.Mode == Reactive }

func (e *engine) ourSide() trace.Side {
	if e.role == roleServe {
		return trace.Server
	}
	return trace.Client
}

func (e *engine) peer() string {
	if e.role == roleServe {
		return "client"
	}
	return "server"
}

// run replays the session until it is over or ctx is cancelled.
func (e *engine) run() {
	defer e.finish()
	e.timer = time.NewTimer(time.Hour)
	e.timer.Stop()
	e.feed = startFeeder(e.ctx, &e.wg, e.index, e.info, e.opts.model(), e.ourSide(), e.role == roleDrive, e.opts.Logf)
	e.lastActive = time.Now()
	for {
		more := e.pump()
		e.flushAll()
		if e.complete() {
			return
		}
		var fc chan []*item
		if e.wantFeed {
			fc = e.feed.ch
		}
		if more {
			select {
			case ev := <-e.events:
				e.handle(ev)
			case b, ok := <-fc:
				e.ingest(b, ok)
			case <-e.ctx.Done():
				return
			default:
			}
			continue
		}
		var tc <-chan time.Time
		if d := e.nextDeadline(); !d.IsZero() {
			e.timer.Reset(time.Until(d))
			tc = e.timer.C
		}
		select {
		case ev := <-e.events:
			e.handle(ev)
		case b, ok := <-fc:
			e.ingest(b, ok)
		case <-tc:
			e.onTimer()
		case <-e.ctx.Done():
			return
		}
		e.timer.Stop()
	}
}

// ingest takes a batch of items from the feeder.
func (e *engine) ingest(b []*item, ok bool) {
	e.wantFeed = false
	if !ok {
		e.feedDone = true
		if e.feed.err != nil {
			e.opts.logf("replay: session %d: reading %s: %v", e.info.Number, e.index.Path, e.feed.err)
		}
		return
	}
	for _, it := range b {
		e.ahead += len(it.payload)
		theirs := !it.ours && (it.kind == itemFrame || (it.kind == itemClose && e.role == roleDrive))
		if !theirs {
			e.q = append(e.q, it)
			continue
		}
		s := e.socks[it.sock]
		if s.unreachable {
			it.done = true
			e.ahead -= len(it.payload)
			continue
		}
		if s.state == sockClosed || s.state == sockAbsent {
			e.giveUp(it, e.goneReason(s))
			continue
		}
		l := append(e.theirs[it.sock], it)
		if !e.gated() && len(l) > maxUndone {
			for len(l) > 0 && l[0].done {
				l = l[1:]
			}
			if len(l) > maxUndone {
				e.giveUp(l[0], fmt.Sprintf("not received before %d later frames were recorded", maxUndone))
				l = l[1:]
			}
		}
		e.theirs[it.sock] = l
	}
}

// aheadFull reports that reading further ahead to find a match would
// hold too much.
func (e *engine) aheadFull() bool {
	return e.ahead > maxAhead || len(e.q)-e.qh > maxAheadItems
}

// pull reads one batch from the feeder, blocking; false at the end.
func (e *engine) pull() bool {
	if e.feedDone {
		return false
	}
	select {
	case b, ok := <-e.feed.ch:
		e.ingest(b, ok)
		return ok
	case <-e.ctx.Done():
		return false
	}
}

func (e *engine) head() *item {
	if e.qh < len(e.q) {
		return e.q[e.qh]
	}
	return nil
}

func (e *engine) pop() {
	it := e.q[e.qh]
	e.ahead -= len(it.payload)
	it.payload = nil
	e.q[e.qh] = nil
	e.qh++
	if e.qh == len(e.q) {
		e.q, e.qh = e.q[:0], 0
	} else if e.qh >= 1024 && e.qh*2 >= len(e.q) {
		n := copy(e.q, e.q[e.qh:])
		clear(e.q[n:])
		e.q, e.qh = e.q[:n], 0
	}
}

// earliestTheirs returns the first expected frame not yet matched (on a
// socket that can still send it), or nil.
func (e *engine) earliestTheirs() *item {
	var first *item
	for i, l := range e.theirs {
		for len(l) > 0 && l[0].done {
			l[0] = nil
			l = l[1:]
		}
		e.theirs[i] = l
		if len(l) > 0 && (first == nil || l[0].pos < first.pos) {
			first = l[0]
		}
	}
	return first
}

// pump sends what can be sent now. It returns true when it stopped only
// because of its budget.
func (e *engine) pump() bool {
	e.dueAt = time.Time{}
	e.waitSock = nil
	for budget := pumpBudget; budget > 0; budget-- {
		it := e.head()
		if it == nil {
			if !e.feedDone {
				select {
				case b, ok := <-e.feed.ch:
					e.ingest(b, ok)
					continue
				default:
					e.wantFeed = true
					return false
				}
			}
			e.ended = true
			e.atEnd()
			return false
		}
		if e.gated() {
			if first := e.earliestTheirs(); first != nil && first.pos < it.pos {
				if e.gateItem != first {
					e.gateItem, e.gateSince = first, time.Now()
				}
				return false
			}
		}
		e.gateItem = nil
		s := e.socks[it.sock]
		switch {
		case it.sent:
			e.pop()
			continue
		case it.kind == itemOpen:
			if e.role == roleDrive && s.state == sockPending {
				e.dial(s)
			}
			e.pop()
			continue
		case !it.ours:
			// The recording has the peer closing this socket here: wait
			// for its close (bounded by the timeout) and echo it, rather
			// than close first and race it.
			if s.state == sockOpen && s.lingerAt.IsZero() {
				s.awaitClose = true
				if e.opts.Linger >= 0 {
					s.lingerAt = time.Now().Add(max(e.opts.Linger, e.opts.Timeout))
				}
				s.lingerCode, s.lingerReason = websocket.CloseNormalClosure, fmt.Sprintf("replay: the %s did not close", e.peer())
			}
			e.pop()
			continue
		}
		switch s.state {
		case sockPending:
			if e.role == roleServe {
				if s.waitSince.IsZero() {
					s.waitSince = time.Now()
				}
				e.waitSock = s
				return false
			}
			fallthrough
		case sockClosed, sockAbsent:
			if it.kind == itemFrame {
				s.unsent++
			}
			e.pop()
			continue
		}
		if e.opts.Mode == Timed {
			if due := e.due(it); time.Until(due) > 0 {
				e.dueAt = due
				return false
			}
		}
		e.send(s, it)
		e.pop()
		if it.evSeq > e.maxEvSeq && e.opts.Mode == Reactive && e.role == roleServe {
			e.maxEvSeq = it.evSeq
			e.releaseBelow(it.evSeq)
		}
	}
	return true
}

// releaseAhead is how many items past the cursor releaseBelow looks at.
const releaseAhead = 256

// releaseBelow sends, ahead of their turn, the device events numbered
// below one just sent. The device emitted them first, so the client may
// count on them (a gap check fenced by a ping, say) before it sends the
// frame the recording has ahead of them; they are only late in the
// recording because another socket delivered them later.
func (e *engine) releaseBelow(evSeq int64) {
	for len(e.q)-e.qh < releaseAhead && !e.feedDone {
		if !e.pull() {
			break
		}
	}
	for _, it := range e.q[e.qh:] {
		if it.sent || !it.ours || it.kind != itemFrame || it.evSeq == 0 || it.evSeq >= evSeq {
			continue
		}
		if s := e.socks[it.sock]; s.state == sockOpen {
			e.send(s, it)
			it.sent = true
			e.ahead -= len(it.payload)
			it.payload = nil
		}
	}
}

// due is when a Timed replay sends it: the recorded gap since the last
// frame sent, scaled.
func (e *engine) due(it *item) time.Time {
	if !e.anchored {
		e.anchored, e.anchorLive, e.anchorRec = true, time.Now(), it.t
	}
	d := float64(it.t.Sub(e.anchorRec)) / e.opts.Speed
	if d < 0 {
		d = 0
	}
	return e.anchorLive.Add(time.Duration(math.Min(d, float64(math.MaxInt64/2))))
}

func (e *engine) send(s *sock, it *item) {
	if e.opts.Mode == Timed {
		due, now := e.due(it), time.Now()
		if now.Sub(due) > 5*time.Millisecond {
			due = now
		}
		e.anchorLive, e.anchorRec = due, it.t
	}
	if it.kind == itemClose {
		e.sendClose(s, it.code, it.reason)
		return
	}
	p := it.payload
	var seq int64
	if e.role == roleServe {
		if len(it.reqID) > 0 && len(e.rewrite) > 0 {
			if q, ok := protocol.RewriteRequestID(e.scratch[:0], p, e.rewrite); ok {
				e.scratch, p = q, q
			}
		}
		if it.hasSeq {
			// Every frame sent on a socket continues its numbering, the
			// replay's own pongs included: renumber the recorded seq.
			seq = s.nextSeq(it.seq)
			if seq != it.seq {
				if q, ok := replaceTopInt(e.seqScratch[:0], p, "seq", seq); ok {
					e.seqScratch, p = q, q
				}
			}
		}
	} else {
		p = rewriteStrings(p, e.rewrite)
	}
	if err := s.out.message(it.op, p); err != nil {
		e.lost(s, err)
		s.unsent++
		return
	}
	s.sent++
	if it.hasSeq && e.role == roleServe {
		s.sentSeq(seq)
	}
}

// atEnd runs once the timeline is exhausted: it waits for the frames
// still expected, then lets the sockets linger and closes them.
func (e *engine) atEnd() {
	if e.earliestTheirs() != nil {
		return
	}
	for _, s := range e.socks {
		if s.state != sockOpen || !s.lingerAt.IsZero() {
			continue
		}
		switch {
		case e.role == roleDrive:
			s.lingerAt = time.Now()
		case e.opts.Linger >= 0:
			s.lingerAt = time.Now().Add(e.opts.Linger)
		}
	}
}

// complete reports a session that is over: timeline done, nothing more
// expected, no socket open.
func (e *engine) complete() bool {
	if !e.ended || e.earliestTheirs() != nil {
		return false
	}
	e.claimMu.Lock()
	defer e.claimMu.Unlock()
	for _, s := range e.socks {
		if s.state == sockOpen || (s.state == sockPending && s.claimed) {
			return false
		}
	}
	e.over = true
	return true
}

func (e *engine) nextDeadline() time.Time {
	var d time.Time
	min := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	min(e.dueAt)
	if e.gateItem != nil {
		min(e.gateSince.Add(e.opts.Timeout))
	}
	if e.waitSock != nil {
		min(e.waitSock.waitSince.Add(e.opts.Timeout))
	}
	if e.ended && e.earliestTheirs() != nil {
		min(e.lastActive.Add(e.opts.Timeout))
	}
	for _, s := range e.socks {
		if s.state == sockOpen {
			min(s.lingerAt)
		}
	}
	return d
}

func (e *engine) onTimer() {
	now := time.Now()
	if it := e.gateItem; it != nil && !it.done && !now.Before(e.gateSince.Add(e.opts.Timeout)) {
		if s := e.socks[it.sock]; s.state == sockPending {
			// Waiting for a frame on a socket that never connected.
			e.absent(s)
		} else {
			e.giveUp(it, fmt.Sprintf("the %s did not send it within %v", e.peer(), e.opts.Timeout))
		}
		e.gateItem = nil
		e.lastActive = now
	}
	if s := e.waitSock; s != nil && s.state == sockPending && !now.Before(s.waitSince.Add(e.opts.Timeout)) {
		e.absent(s)
	}
	if e.ended && !now.Before(e.lastActive.Add(e.opts.Timeout)) {
		for _, l := range e.theirs {
			for _, it := range l {
				if !it.done {
					e.giveUp(it, fmt.Sprintf("the %s did not send it within %v after the recording's end", e.peer(), e.opts.Timeout))
				}
			}
		}
	}
	for _, s := range e.socks {
		if s.state != sockOpen || s.lingerAt.IsZero() || now.Before(s.lingerAt) {
			continue
		}
		if s.closeSent {
			e.closed(s, 0, "no close reply")
			continue
		}
		code, reason := s.lingerCode, s.lingerReason
		if !sendableCode(code) {
			code, reason = websocket.CloseNormalClosure, "replay: end of recording"
		}
		s.out.closeFrame(code, reason)
		s.out.flush()
		s.closeSent = true
		s.lingerAt = now.Add(closeGrace)
	}
}

// finish closes what is left, settles the report and stops the session's
// goroutines.
func (e *engine) finish() {
	e.timer.Stop()
	e.claimMu.Lock()
	e.over = true
	e.claimMu.Unlock()
	aborted := e.ctx.Err() != nil
	e.closeAll(aborted)
	for _, it := range e.missed {
		it.done = false
		e.giveUp(it, fmt.Sprintf("the %s never sent it", e.peer()))
	}
	for _, l := range e.theirs {
		for _, it := range l {
			reason := fmt.Sprintf("the %s never sent it", e.peer())
			if aborted {
				reason = "replay stopped before it came"
			}
			e.giveUp(it, reason)
		}
	}
	for _, s := range e.socks {
		if e.opts.RequireAcks && e.role == roleServe && len(s.seqs) > 0 {
			e.log.add(Entry{Kind: BadAck, Session: e.info.Number, Conn: s.info.Conn, Channel: s.info.Channel,
				Reason: fmt.Sprintf("%d frames with a seq never acknowledged (seq %d among them)", len(s.seqs)+s.forgotten, s.seqs[0])})
		}
	}
	e.log.update(func(r *SessionReport) {
		for i, s := range e.socks {
			c := &r.Conns[i]
			c.Connected = s.out != nil
			c.Sent, c.Unsent = s.sent, s.unsent
			c.SeqSent, c.Acked, c.Unacked = s.seqSent, s.acked, len(s.seqs)+s.forgotten
			c.CloseCode = s.liveClose
			r.Counts.Sent += s.sent
		}
		r.Done = true
	})
	e.cancel()
	e.stop(aborted)
	e.wg.Wait()
	if e.opts.OnSessionDone != nil {
		e.opts.OnSessionDone(e.log.snapshot())
	}
}

// closeAll closes the sockets still open, and those connecting as the
// session ends: a close frame (1000, or 1001 when the replay is
// stopping), then, once the peer answered or after a grace period, the
// connection. Dropping a connection the peer is still writing to could
// reset it before the close frame is read.
func (e *engine) closeAll(aborted bool) {
	code, reason := websocket.CloseNormalClosure, "replay: session over"
	if aborted {
		code, reason = websocket.CloseGoingAway, "replay: shutting down"
	}
	open := 0
	bye := func(s *sock) {
		if !s.closeSent {
			s.out.closeFrame(code, reason)
			s.closeSent = true
		}
		open++
	}
	for _, s := range e.socks {
		if s.state == sockOpen {
			bye(s)
		}
	}
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
	for open > 0 {
		select {
		case ev := <-e.events:
			s := e.socks[ev.sock]
			switch {
			case ev.kind == evClosed && s.state == sockOpen:
				e.closed(s, ev.code, "")
				open--
			case ev.kind == evConnect && s.state == sockPending:
				s.state, s.out = sockOpen, ev.out
				bye(s)
			case ev.kind == evConnect:
				ev.out.close()
			}
			ev.release()
		case <-grace.C:
			open = 0
		}
	}
	for _, s := range e.socks {
		e.closed(s, 0, "")
	}
}

// stop ends the session's intake: readers can no longer post, and the
// sockets whose arrival was posted but not handled are closed.
func (e *engine) stop(aborted bool) {
	close(e.stopped)
	e.postMu.Lock()
	e.postClosed = true
	e.postMu.Unlock()
	code := websocket.CloseNormalClosure
	if aborted {
		code = websocket.CloseGoingAway
	}
	for {
		select {
		case ev := <-e.events:
			if ev.kind == evConnect {
				// Its reader runs: it ends on the close reply, or soon.
				ev.out.closeFrame(code, "replay: session over")
				ev.out.expire(closeGrace)
			}
			ev.release()
		default:
			return
		}
	}
}

// absent gives up on a socket no live one took.
func (e *engine) absent(s *sock) {
	s.state = sockAbsent
	e.log.add(Entry{Kind: Missing, Session: e.info.Number, Line: s.info.Line, Conn: s.info.Conn, Channel: s.info.Channel,
		Type: "open", Reason: fmt.Sprintf("no %s socket connected within %v", s.info.Channel, e.opts.Timeout)})
	e.dropExpected(s)
}
