package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/protocol"
)

// inbound is one frame (or the end) of a socket, from its reader.
type inbound struct {
	sock *csock
	mt   int
	data []byte
	env  protocol.Envelope
	perr error
	err  error
}

// frame is a received message handed to waiters.
type frame struct {
	sock *csock
	typ  string
	data []byte
	env  *protocol.Envelope
}

func (f *frame) decode(v any) error { return json.Unmarshal(f.data, v) }

// waiter is a runner waiting for a frame matching a predicate.
type waiter struct {
	match func(f *frame) bool
	ch    chan *frame // buffered 1
}

// loop owns the run's protocol state; every other goroutine talks to it
// through r.in (frames) and r.calls (closures).
func (r *run) loop() {
	defer r.wg.Done()
	for {
		var tick, grace <-chan time.Time
		if r.pingTicker != nil {
			tick = r.pingTicker.C
		}
		if r.graceTimer != nil {
			grace = r.graceTimer.C
		}
		select {
		case x := <-r.in:
			r.onInbound(x)
		case fn := <-r.calls:
			fn()
		case <-tick:
			r.heartbeat()
		case <-grace:
			r.graceTimer = nil
			r.graceExpired()
		case <-r.ctx.Done():
			return
		}
	}
}

// exec runs fn on the loop and waits for it. It fails, without running
// fn, only when the run ends first; once the loop has taken fn, exec waits
// for it to return even if the run ends meanwhile, so that what fn wrote
// is never read while the loop still writes it.
func (r *run) exec(fn func()) error {
	done := make(chan struct{})
	select {
	case r.calls <- func() { fn(); close(done) }:
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
	<-done
	return nil
}

func (r *run) logEntry(dir string, k *csock, typ string, dropped bool, eventSeq ...int64) {
	if !r.c.KeepLog {
		return
	}
	e := Entry{Dir: dir, Channel: k.channel, Socket: k.ordinal, Type: typ, Dropped: dropped}
	if len(eventSeq) > 0 {
		e.EventSeq = eventSeq[0]
	}
	r.rmu.Lock()
	r.rep.Log = append(r.rep.Log, e)
	r.rmu.Unlock()
}

// sendOn writes a message on a socket of the current session.
func (r *run) sendOn(k *csock, typ string, data []byte) error {
	if k.closing.Load() {
		return errDisconnected
	}
	if err := k.write(data, r.c.requestTimeout()); err != nil {
		r.socketLost(k, err)
		return fmt.Errorf("%w: write %s: %v", errDisconnected, typ, err)
	}
	r.logEntry("send", k, typ, false)
	return nil
}

// ping sends a ping on k; fn (optional) runs when its pong arrives.
func (r *run) ping(k *csock, fn func()) bool {
	if r.c.Inject.NeverPing {
		return false
	}
	if err := r.sendOn(k, "ping", []byte(`{"type":"ping"}`)); err != nil {
		return false
	}
	k.pings++
	r.rep.PingsSent++
	if fn != nil {
		k.barriers = append(k.barriers, barrierWait{target: k.pings, fn: fn})
	}
	return true
}

func (r *run) heartbeat() {
	if r.sess == nil || r.sess.broken {
		return
	}
	for _, k := range r.sess.socks {
		r.ping(k, nil)
	}
}

func (r *run) onInbound(x inbound) {
	k := x.sock
	if x.err != nil {
		if !k.closing.Load() {
			r.socketLost(k, x.err)
		}
		return
	}
	if k.sess != r.sess {
		return // a frame of a session already replaced
	}
	if x.mt != websocket.TextMessage || x.perr != nil {
		r.rep.failf("%s sent a frame that is not a JSON object", k.name())
		return
	}
	env := &x.env
	typ := env.TypeString()
	f := &frame{sock: k, typ: typ, data: x.data, env: env}

	// Relay and device heartbeats.
	switch typ {
	case "pong":
		r.logEntry("recv", k, typ, false)
		k.pongs++
		r.rep.PongsSeen++
		var keep []barrierWait
		var due []func()
		for _, b := range k.barriers {
			if b.target <= k.pongs {
				due = append(due, b.fn)
			} else {
				keep = append(keep, b)
			}
		}
		k.barriers = keep
		for _, fn := range due {
			fn()
		}
		r.notify(f)
		return
	case "ping":
		r.logEntry("recv", k, typ, false)
		to := k
		if c := r.sess.control; c != nil {
			to = c
		}
		r.sendOn(to, "pong", []byte(`{"type":"pong"}`))
		return
	}

	// Dedupe by idempotency_key.
	if key := string(env.IdempotencyKey); key != "" {
		h := protocol.ContentHash(r.hashSeed, x.data)
		if first, dup := r.keys[key]; dup {
			r.rep.DuplicatesDropped++
			if first != h {
				r.rep.ConflictingDuplicates++
			}
			r.logEntry("recv", k, typ, true, env.EventSeq)
			return
		}
		r.keys[key] = h
		if r.delivered[key] {
			r.rep.failf("event %s delivered twice to the application", key)
		}
		r.delivered[key] = true
	}
	r.logEntry("recv", k, typ, false, env.EventSeq)

	if env.HasEventSeq {
		r.rep.Events++
		r.onEventSeq(k, env.EventSeq)
	}
	info := env.Info
	if env.RequestID != nil && info != nil && (info.Role == protocol.RoleReply || typ == "error") {
		r.onReply(f)
	} else if typ == "error" {
		r.rep.failf("device error on %s: %s", k.name(), errorText(f))
	}
	switch typ {
	case protocol.TypeUpdateLoopStatus:
		r.onLoopStatus(string(env.LoopStatus), env.EventSeq)
	case protocol.TypeControlRequest:
		r.onControlRequest(f)
	case protocol.TypeStreamDelta:
		r.onDelta(f)
	case "update_device_status":
		var v struct {
			Status struct {
				Cwd string `json:"current_working_directory"`
			} `json:"device_status"`
		}
		if f.decode(&v) == nil {
			r.setCwd(v.Status.Cwd)
		}
	}
	r.notify(f)
}

func errorText(f *frame) string {
	var v struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	}
	f.decode(&v)
	if v.Code != "" {
		return v.Code + ": " + v.Message
	}
	return v.Message
}

// notify hands a frame to the first waiter that matches it.
func (r *run) notify(f *frame) {
	for i, w := range r.waiters {
		if w.match(f) {
			w.ch <- f
			r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
			return
		}
	}
}

// socketLost marks the session broken after an unexpected socket end.
func (r *run) socketLost(k *csock, err error) {
	s := k.sess
	if s == nil || s.broken || s != r.sess {
		return
	}
	s.broken = true
	s.code = websocket.CloseAbnormalClosure
	s.unsettled = 0
	r.gaps.barrier = false // its pongs will not come
	for _, ch := range r.drainWait {
		close(ch)
	}
	r.drainWait = nil
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		s.code, s.text = ce.Code, ce.Text
	}
	r.c.logf("client: %s lost (%v): session %d broken", k.name(), err, s.n)
	for id, q := range r.pending {
		if q.sess == s {
			delete(r.pending, id)
			if q.info.NeedsReply() {
				r.rep.Abandoned = append(r.rep.Abandoned, q.typ+" "+id)
			}
			q.finish(nil, errDisconnected)
		}
	}
	close(s.lost)
}

func (r *run) onLoopStatus(status string, seq int64) {
	r.status = status
	t := r.turn
	if t == nil || !t.sent || t.finished {
		return
	}
	if status != protocol.LoopIdle {
		if t.startedSeq == 0 || seq < t.startedSeq {
			t.startedSeq = seq
		}
		return
	}
	if t.startedSeq > 0 && seq > t.startedSeq {
		t.finished = true
		close(t.done)
	}
}

func (r *run) onDelta(f *frame) {
	var v struct {
		Delta struct {
			MessageType string `json:"message_type"`
			Status      string `json:"status"`
		} `json:"delta"`
	}
	if f.decode(&v) != nil || r.turn == nil {
		return
	}
	if v.Delta.MessageType == "tool_return_message" {
		r.turn.toolStatus = append(r.turn.toolStatus, v.Delta.Status)
	}
}

// onControlRequest answers a tool approval request once per attach.
func (r *run) onControlRequest(f *frame) {
	id := string(f.env.RequestID)
	if id == "" || r.answered[id] {
		return
	}
	r.answered[id] = true
	decision := r.c.DefaultApproval
	if decision == "" {
		decision = "deny"
	}
	if r.turn != nil && !r.turn.finished {
		decision = r.turn.decision
		r.turn.approvals++
	}
	msg := "Approved by the reference client"
	if decision != "allow" {
		msg = "Denied by the reference client"
	}
	cmd := map[string]any{
		"type":    "input",
		"runtime": map[string]any{"agent_id": r.agentID, "conversation_id": r.convID},
		"payload": map[string]any{"kind": "approval_response", "request_id": id,
			"decision": map[string]any{"behavior": decision, "message": msg}},
	}
	if _, err := r.startRequest(cmd, "appr", false); err == nil {
		r.rep.Approvals++
	}
}

// sendSync sends sync with recover_approvals, followed by a fence: a ping
// on each socket in turn, each sent when the previous pong arrived. When
// the last pong is in, everything the sync set off has arrived. It runs on
// the loop.
func (r *run) sendSync(why string) {
	cmd := map[string]any{
		"type":              "sync",
		"runtime":           map[string]any{"agent_id": r.agentID, "conversation_id": r.convID},
		"recover_approvals": true,
	}
	if _, err := r.startRequest(cmd, "sync", false); err != nil {
		return
	}
	r.rep.SyncsSent++
	r.syncGen++
	r.c.logf("client: sync sent (%s)", why)
	if r.c.Inject.NeverPing {
		return
	}
	sess := r.sess
	sess.unsettled++
	r.fenceChain(sess, sess.socks, func() {
		if sess.unsettled == 0 {
			return // the session broke meanwhile
		}
		sess.unsettled--
		if sess.unsettled == 0 && r.sess == sess {
			for _, ch := range r.drainWait {
				close(ch)
			}
			r.drainWait = nil
		}
	})
}

// fenceChain pings socks one after the other, then runs done.
func (r *run) fenceChain(s *session, socks []*csock, done func()) {
	if len(socks) == 0 || r.sess != s || s.broken {
		done()
		return
	}
	if !r.ping(socks[0], func() { r.fenceChain(s, socks[1:], done) }) {
		done()
	}
}

// --- event_seq gaps ---

// gapTracker finds event_seq values that never arrive, looking at all
// sockets of the connection together (they share one counter). Events
// travel on two sockets, so a hole below the highest seq seen is only a
// gap once every socket is known to be past it: each socket delivered a
// later event, or answered a ping sent after the hole was noticed (the
// relay queues its pong behind every frame sent before), or, without
// pings, GapGrace passed.
type gapTracker struct {
	connID    string
	started   bool
	confirmed int64 // every seq ≤ confirmed is resolved
	max       int64
	seen      map[int64]bool
	fenced    int64 // holes ≤ fenced are settled by a barrier
	gapStart  int64
	barrier   bool
	graceUpTo int64
	missing   map[int64]bool // seqs declared missing
}

func (r *run) onEventSeq(k *csock, s int64) {
	g := &r.gaps
	if g.seen == nil {
		g.seen = map[int64]bool{}
		g.missing = map[int64]bool{}
	}
	if s > k.lastEvent {
		k.lastEvent = s
	}
	if !g.started {
		g.started = true
		g.confirmed = s - 1
	}
	if s <= g.confirmed {
		if g.missing[s] {
			r.rep.failf("event_seq %d arrived after it was declared missing", s)
		}
		return
	}
	g.seen[s] = true
	if s > g.max {
		g.max = s
	}
	r.resolveGaps()
}

// resolveGaps advances over resolved seqs, reports gaps, and fences
// unresolved holes.
func (r *run) resolveGaps() {
	g := &r.gaps
	if r.sess == nil {
		return
	}
	limit := int64(-1)
	for _, k := range r.sess.socks {
		if limit < 0 || k.lastEvent < limit {
			limit = k.lastEvent
		}
	}
	found := false
	for m := g.confirmed + 1; m <= g.max; m++ {
		if g.seen[m] {
			delete(g.seen, m)
			if g.gapStart > 0 {
				r.reportGap(g.gapStart, m-1)
				found = true
				g.gapStart = 0
			}
			g.confirmed = m
			continue
		}
		if m < limit || m <= g.fenced {
			if g.gapStart == 0 {
				g.gapStart = m
			}
			g.missing[m] = true
			g.confirmed = m
			continue
		}
		r.fence()
		break
	}
	if g.confirmed >= g.max {
		for _, ch := range r.gapIdle {
			close(ch)
		}
		r.gapIdle = nil
	}
	if found {
		if r.c.Inject.NoSync {
			return
		}
		r.sendSync("event_seq gap")
	}
}

func (r *run) reportGap(a, b int64) {
	subj := fmt.Sprintf("%d-%d", a, b)
	r.rep.Gaps = append(r.rep.Gaps, subj)
	r.c.logf("client: event_seq gap %s on %s", subj, r.gaps.connID)
	if r.c.Inject.NoSync {
		c := r.sess.control
		r.addFault(Fault{Knob: KnobNoSync, Rule: faults.RuleGapWithoutSync, Subject: subj, ConnectionID: r.gaps.connID,
			Channel: c.channel, Socket: c.ordinal, Detail: "gap seen, no sync sent"})
	}
}

// fence settles the holes below the current max: a ping on every socket
// that has not passed them, or the grace timer without pings.
func (r *run) fence() {
	g := &r.gaps
	if g.barrier || g.graceUpTo >= g.max {
		return
	}
	upTo := g.max
	if r.c.Inject.NeverPing {
		g.graceUpTo = upTo
		if r.graceTimer == nil {
			r.graceTimer = time.NewTimer(r.c.gapGrace())
		}
		return
	}
	var lagging []*csock
	for _, k := range r.sess.socks {
		if k.lastEvent < upTo {
			lagging = append(lagging, k)
		}
	}
	remaining := len(lagging)
	if remaining == 0 {
		return
	}
	g.barrier = true
	sess := r.sess
	for _, k := range lagging {
		if !r.ping(k, func() {
			remaining--
			if remaining == 0 && r.sess == sess {
				g.barrier = false
				if upTo > g.fenced {
					g.fenced = upTo
				}
				r.resolveGaps()
			}
		}) {
			remaining--
		}
	}
	if remaining == 0 {
		g.barrier = false
	}
}

func (r *run) graceExpired() {
	g := &r.gaps
	if g.graceUpTo > g.fenced {
		g.fenced = g.graceUpTo
	}
	r.resolveGaps()
}

// settleGaps waits (bounded) until no hole is open, so that gaps are
// reported before the session closes.
func (r *run) settleGaps() {
	ch := make(chan struct{})
	r.exec(func() {
		if r.gaps.confirmed >= r.gaps.max {
			close(ch)
			return
		}
		r.gapIdle = append(r.gapIdle, ch)
		if r.sess != nil && !r.sess.broken {
			r.fence()
		}
	})
	t := time.NewTimer(r.c.requestTimeout())
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-r.ctx.Done():
	}
}
