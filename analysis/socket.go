package analysis

import (
	"fmt"
	"strings"

	"github.com/lettadev/wsproxy/protocol"
)

// ident names a socket in findings; it outlives the socket in the state
// that refers to it (approvals, device pings).
type ident struct {
	conn    string
	channel string
	ordinal int
	session protocol.Session // Key(): no channel
}

// socket is the per-connection state: transport seqs and acks, pending
// requests, heartbeats, and the attach sequence.
type socket struct {
	timerSlot
	id   ident
	sess *session
	dead bool

	openT int64
	openP pos
	lastT int64 // the socket's latest record
	lastP pos
	// midStream is set for a socket whose open record is not in the
	// stream: it started before the trace (lowSeq is its first seq).
	midStream bool
	lowSeq    int64

	// transport seq (rules_transport.go)
	hasSeq   bool
	lastSeq  int64
	lastSeqP pos
	unacked  queue[seqWait]
	unsorted bool   // unacked is not in increasing seq order
	sent     []span // seqs the server sent, as ranges

	// requests (rules_request.go)
	pending  map[uint64]*request
	anon     []*request
	reqQ     queue[*request]
	recent   window[recentCmd]
	startedR map[string]bool // reply types started by commands sent here

	// heartbeat and pings (rules_liveness.go)
	lastPingT   int64
	lastPingP   pos
	pinged      bool // the client has pinged at least once
	hbReported  bool
	clientPings queue[pingWait]
	wsPings     [2]queue[pingWait] // by sender: 0 client, 1 server

	// attach (rules_liveness.go)
	cmds       int
	attachOK   bool
	attachDone bool
	firstCmdP  pos
	firstCmdT  int64
	cmdNames   []string
}

type span struct{ lo, hi int64 }

// maxSpans bounds the ranges of sent seqs kept per socket; beyond it the
// oldest ranges merge (acks between them are then taken as known).
const maxSpans = 256

func (e *Engine) newSocket(conn string, info protocol.Session, t int64, p pos) *socket {
	k := ordinalKey{info.ConnectionID, info.Channel}
	e.ordinals[k]++
	s := &socket{
		id:        ident{conn: conn, channel: info.Channel, ordinal: e.ordinals[k], session: info.Key()},
		openT:     t,
		openP:     p,
		lastT:     t,
		lastP:     p,
		lastPingT: t,
		lastPingP: p,
		recent:    newWindow[recentCmd](e.cfg.RequestIDWindow),
	}
	key := sessionKey{s: info.Key()}
	if info.ConnectionID == "" {
		key.own = conn
	}
	ss := e.sessions[key]
	if ss == nil {
		ss = e.newSession(key)
	}
	ss.attach(e)
	s.sess = ss
	e.sockets[conn] = s
	e.order = append(e.order, s)
	if len(e.sockets) > e.maxActive {
		e.maxActive = len(e.sockets)
	}
	e.timers.schedule(s, t+e.hbLimit)
	return s
}

// closeSocket fires what is due on s at t, reports what is still owed on
// it, and releases it. cut is "" for a close the trace shows the peers
// make; otherwise it says why what is still pending cannot be judged (the
// trace ended with the socket open, or the proxy closed it), and pending
// items go into the connection's undetermined note instead.
func (e *Engine) closeSocket(s *socket, t int64, p pos, cut string) {
	why := "before the socket closed"
	if cut != "" {
		why = "before the trace ended"
	}
	if !s.hbReported && t-s.lastPingT >= e.hbLimit {
		s.hbReported = true
		e.report(RuleMissingHeartbeat, Warning, &s.id, s.lastPingP, s.lastPingT, p, "",
			fmt.Sprintf("no ping from the client for %s %s (until %s)", dur(t-s.lastPingT), s.since(), strings.TrimPrefix(why, "before ")))
	}
	s.expire(e, t)
	at, atT := p, t
	if at.line == 0 {
		at, atT = s.lastP, s.lastT
	}
	seqs, reqs := 0, 0
	for s.unacked.len() > 0 {
		w := s.unacked.pop()
		if w.acked {
			continue
		}
		if cut != "" {
			seqs++
			continue
		}
		e.report(RuleUnackedSeq, Error, &s.id, w.p, w.t, p, seqName(w.seq),
			fmt.Sprintf("seq %d (%s) was not acked %s", w.seq, w.typ, why))
	}
	for s.reqQ.len() > 0 {
		r := s.reqQ.pop()
		if !r.done && r.reported() {
			if cut != "" {
				reqs++
			} else {
				e.report(RuleUnmatchedRequest, Error, &s.id, r.p, r.t, p, r.id,
					fmt.Sprintf("%s %s got no reply %s (accepted: %s)", r.info.Name, r.id, why, strings.Join(r.info.Replies, ", ")))
			}
		}
		r.done = true
	}
	pings := s.clientPings.len() + s.wsPings[0].len() + s.wsPings[1].len()
	if cut != "" {
		e.undetermined(&s.id, at, atT, cut, RuleUnackedSeq, "unacked seq(s)", seqs)
		e.undetermined(&s.id, at, atT, cut, RuleUnmatchedRequest, "request(s) awaiting a reply", reqs)
		e.undetermined(&s.id, at, atT, cut, RulePingWithoutPong, "ping(s) awaiting a pong", pings)
	}
	if s.cmds > 0 && !s.attachOK && !s.attachDone {
		s.attachDone = true
		if cut != "" && s.cmds < e.cfg.AttachCommands {
			e.undetermined(&s.id, at, atT, cut, RuleNoSyncOnAttach, "attach sequence(s) with no sync yet", 1)
		} else {
			e.report(RuleNoSyncOnAttach, Warning, &s.id, s.firstCmdP, s.firstCmdT, pos{}, "",
				fmt.Sprintf("the client's %d command(s) on this socket (%s) include no sync with recover_approvals:true",
					s.cmds, strings.Join(s.cmdNames, ", ")))
		}
	}
	// The session's last socket to close decides whether what the session
	// still owes can be judged.
	s.sess.cut, s.sess.cutWhy, s.sess.cutSock, s.sess.cutP, s.sess.cutT = cut != "", cut, &s.id, at, atT
	s.dead = true
	s.pending, s.anon, s.recent, s.startedR = nil, nil, window[recentCmd]{}, nil
	s.clientPings.reset()
	s.wsPings[0].reset()
	s.wsPings[1].reset()
	s.sent = nil
	delete(e.sockets, s.id.conn)
	for i := range e.cache {
		if e.cache[i] == s {
			e.cache[i] = nil
		}
	}
	e.compactOrder()
	s.sess.detach(e, t)
}

// compactOrder drops closed sockets from e.order once they are half of it.
func (e *Engine) compactOrder() {
	if len(e.order) < 64 || len(e.sockets)*2 > len(e.order) {
		return
	}
	live := e.order[:0]
	for _, s := range e.order {
		if !s.dead {
			live = append(live, s)
		}
	}
	clear(e.order[len(live):])
	e.order = live
}

// since says where the current silent interval started.
func (s *socket) since() string {
	if s.pinged {
		return "after its last ping"
	}
	return "after the socket opened"
}

// expire fires the socket's due deadlines and returns its next one.
func (s *socket) expire(e *Engine, now int64) int64 {
	if s.dead {
		return never
	}
	next := never
	// acks
	for s.unacked.len() > 0 {
		w := s.unacked.front()
		if w.acked {
			s.unacked.pop()
			continue
		}
		if now < w.t+e.ackTO {
			next = min(next, w.t+e.ackTO)
			break
		}
		e.report(RuleUnackedSeq, Error, &s.id, w.p, w.t, pos{}, seqName(w.seq),
			fmt.Sprintf("seq %d (%s) was not acked within %s", w.seq, w.typ, dur(e.ackTO)))
		s.unacked.pop()
	}
	// requests
	for s.reqQ.len() > 0 {
		r := *s.reqQ.front()
		if r.done {
			s.reqQ.pop()
			continue
		}
		if now < r.t+e.respTO {
			next = min(next, r.t+e.respTO)
			break
		}
		s.reqQ.pop()
		s.unlink(r)
		if r.reported() {
			e.report(RuleUnmatchedRequest, Error, &s.id, r.p, r.t, pos{}, r.id,
				fmt.Sprintf("%s %s got no reply within %s (accepted: %s)", r.info.Name, r.id, dur(e.respTO), strings.Join(r.info.Replies, ", ")))
		}
	}
	// heartbeat
	if !s.hbReported {
		if now >= s.lastPingT+e.hbLimit {
			s.hbReported = true
			e.report(RuleMissingHeartbeat, Warning, &s.id, s.lastPingP, s.lastPingT, pos{}, "",
				fmt.Sprintf("no ping from the client for %s %s", dur(e.hbLimit), s.since()))
		} else {
			next = min(next, s.lastPingT+e.hbLimit)
		}
	}
	// pongs
	next = min(next, expirePings(e, &s.clientPings, now, "client ping got no pong from the server"))
	next = min(next, expirePings(e, &s.wsPings[0], now, "WebSocket ping from the client got no pong from the server"))
	next = min(next, expirePings(e, &s.wsPings[1], now, "WebSocket ping from the server got no pong from the client"))
	return next
}

// schedule asks for s.expire at t.
func (s *socket) schedule(e *Engine, t int64) { e.timers.schedule(s, t) }
