package analysis

import (
	"fmt"

	"github.com/lettadev/wsproxy/protocol"
)

// session is the state shared by all sockets of one device connection and
// runtime (protocol.Session.Key): the event counter, recent idempotency
// keys, approvals and device pings. It lives while it has sockets and for
// Config.SessionLinger after the last one closed, so that a reconnect
// under the same connection id continues it.
type session struct {
	timerSlot
	key     sessionKey
	id      ident // for session-level findings with no socket
	sockets int
	linger  int64 // release time once sockets == 0; never while open
	dead    bool

	ev events

	keys window[keyEntry]

	approvals map[uint64]*approval
	answered  window[struct{}]

	devPings queue[pingWait]

	// partial is set for the session of a socket that started before the
	// trace: its other sockets are unknown, so its event_seq gaps cannot
	// be judged.
	partial bool

	// cut is set when the session's last socket to close was cut (the
	// trace ended with it open, or the proxy closed it): what the session
	// still owes then is undetermined, counted on cutSock's note.
	cut     bool
	cutWhy  string
	cutSock *ident
	cutP    pos
	cutT    int64
}

// approval is a device request (control_request) waiting for its answer.
type approval struct {
	id         string
	typ        string
	answeredBy string
	sock       *ident
	t          int64
	p          pos
}

func (e *Engine) newSession(key sessionKey) *session {
	ss := &session{
		key:      key,
		id:       ident{conn: key.own, session: key.s},
		linger:   never,
		keys:     newWindow[keyEntry](e.cfg.KeyWindow),
		answered: newWindow[struct{}](e.cfg.RequestIDWindow),
	}
	ss.ev.lastSync = -1 << 63
	e.sessions[key] = ss
	e.sessList = append(e.sessList, ss)
	return ss
}

func (ss *session) attach(e *Engine) {
	ss.sockets++
	ss.cut = false
	ss.linger = never
}

// detach is called when one of the session's sockets closed at t.
func (ss *session) detach(e *Engine, t int64) {
	ss.sockets--
	if ss.sockets > 0 {
		return
	}
	if ss.key.own != "" {
		e.releaseSession(ss, t, false)
		return
	}
	ss.linger = t + int64(e.cfg.SessionLinger)
	e.timers.schedule(ss, ss.linger)
}

// releaseSession reports what the session still owes and forgets it.
// ended is true when the stream ended (Finish).
func (e *Engine) releaseSession(ss *session, t int64, ended bool) {
	ss.fire(e, t)
	if ss.cut {
		gaps, syncs := ss.ev.pending()
		e.undetermined(ss.cutSock, ss.cutP, ss.cutT, ss.cutWhy, RuleEventSeqGap, "event_seq gap(s) still in the reordering window", gaps)
		e.undetermined(ss.cutSock, ss.cutP, ss.cutT, ss.cutWhy, RuleGapWithoutSync, "gap(s) awaiting a sync", syncs)
		e.undetermined(ss.cutSock, ss.cutP, ss.cutT, ss.cutWhy, RuleUnansweredApproval, "approval(s) awaiting an answer", len(ss.approvals))
		e.undetermined(ss.cutSock, ss.cutP, ss.cutT, ss.cutWhy, RulePingWithoutPong, "device ping(s) awaiting a pong", ss.devPings.len())
	} else {
		ss.ev.flush(e, ss, t)
		why := "before its sockets closed"
		if ended {
			why = "before the trace ended"
		}
		for _, a := range ss.sortedApprovals() {
			e.report(RuleUnansweredApproval, Error, a.sock, a.p, a.t, pos{}, a.id,
				fmt.Sprintf("%s %s was never answered by an %s %s", a.typ, a.id, a.answeredBy, why))
		}
	}
	ss.dead = true
	ss.approvals = nil
	ss.keys = window[keyEntry]{}
	ss.answered = window[struct{}]{}
	ss.devPings.reset()
	ss.ev = events{}
	if e.sessions[ss.key] == ss {
		delete(e.sessions, ss.key)
	}
	if len(e.sessList) >= 64 && len(e.sessions)*2 <= len(e.sessList) {
		live := e.sessList[:0]
		for _, x := range e.sessList {
			if !x.dead {
				live = append(live, x)
			}
		}
		clear(e.sessList[len(live):])
		e.sessList = live
	}
}

// sortedApprovals returns the pending approvals in the order they came.
func (ss *session) sortedApprovals() []*approval {
	out := make([]*approval, 0, len(ss.approvals))
	for _, a := range ss.approvals {
		out = append(out, a)
	}
	// order by time, then by position
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && before(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func before(a, b *approval) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	if a.p.file != b.p.file {
		return a.p.file < b.p.file
	}
	if a.p.line != b.p.line {
		return a.p.line < b.p.line
	}
	return a.id < b.id
}

// expire fires the session's due deadlines and returns its next one.
func (ss *session) expire(e *Engine, now int64) int64 {
	if ss.dead {
		return never
	}
	next := ss.fire(e, now)
	if ss.sockets == 0 && ss.linger != never {
		if now >= ss.linger {
			e.releaseSession(ss, now, false)
			return never
		}
		next = min(next, ss.linger)
	}
	return next
}

// fire fires the due event-window, sync and ping deadlines and returns
// the next one.
func (ss *session) fire(e *Engine, now int64) int64 {
	next := ss.ev.expire(e, ss, now)
	return min(next, expirePings(e, &ss.devPings, now, "device ping got no pong from the client on any socket of the session"))
}

// deviceRequest handles a control_request (or another device request).
func (ss *session) deviceRequest(e *Engine, s *socket, info *protocol.TypeInfo, t int64, p pos) {
	id := e.env.RequestID
	if id == nil {
		e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "request_id",
			fmt.Sprintf("%s has no request_id to answer", info.Name))
		return
	}
	h := hashBytes(id)
	if _, ok := ss.approvals[h]; ok {
		return // delivered again: the same request
	}
	if _, ok := ss.answered.get(h); ok {
		return // re-sent after its answer (e.g. after a sync)
	}
	if ss.approvals == nil {
		ss.approvals = map[uint64]*approval{}
	}
	ss.approvals[h] = &approval{id: string(id), typ: info.Name, answeredBy: info.AnsweredBy, sock: &s.id, t: t, p: p}
}

// answer settles the device request id answered by a command of type typ.
func (ss *session) answer(typ string, id []byte) {
	h := hashBytes(id)
	if a, ok := ss.approvals[h]; ok && a.answeredBy == typ {
		delete(ss.approvals, h)
		if _, ok := ss.answered.get(h); !ok {
			ss.answered.add(h, struct{}{})
		}
	}
}
