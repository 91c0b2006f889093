package analysis

import (
	"fmt"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Liveness rules: missing-heartbeat and ping-without-pong (per socket;
// device pings per session), no-sync-on-attach (per socket).

// pingWait is a ping waiting for its pong.
type pingWait struct {
	t    int64
	p    pos
	sock *ident
}

// clientPing handles a {"type":"ping"} from the client: a heartbeat, and a
// ping the server must answer on this socket.
func (s *socket) clientPing(e *Engine, t int64, p pos) {
	if gap := t - s.lastPingT; !s.hbReported && gap >= e.hbLimit {
		e.report(RuleMissingHeartbeat, Warning, &s.id, s.lastPingP, s.lastPingT, p, "",
			fmt.Sprintf("no ping from the client for %s %s (next ping at %s)", dur(gap), s.since(), lineRef(p)))
	}
	s.lastPingT, s.lastPingP, s.pinged, s.hbReported = t, p, true, false
	s.schedule(e, t+e.hbLimit)
	if s.clientPings.len() == 0 {
		s.schedule(e, t+e.pongTO)
	}
	s.clientPings.push(pingWait{t, p, &s.id})
}

// serverPong answers the client's pings on this socket.
func (s *socket) serverPong(e *Engine, t int64, p pos) {
	settlePings(e, &s.clientPings, t, p, "client ping got its pong from the server")
}

// devicePing handles a {"type":"ping"} from the device, which any socket
// of the session may answer.
func (ss *session) devicePing(e *Engine, s *socket, t int64, p pos) {
	if ss.devPings.len() == 0 {
		e.timers.schedule(ss, t+e.pongTO)
	}
	ss.devPings.push(pingWait{t, p, &s.id})
}

// clientPong answers the device's pings on every socket of the session.
func (ss *session) clientPong(e *Engine, t int64, p pos) {
	settlePings(e, &ss.devPings, t, p, "device ping got its pong from the client")
}

// wsPing handles a WebSocket ping control frame.
func (s *socket) wsPing(e *Engine, from trace.Side, t int64, p pos) {
	i := sideIndex(from)
	if i < 0 {
		return
	}
	q := &s.wsPings[i]
	if q.len() == 0 {
		s.schedule(e, t+e.pongTO)
	}
	q.push(pingWait{t, p, &s.id})
}

// wsPong handles a WebSocket pong control frame: it answers the other
// side's pings.
func (s *socket) wsPong(e *Engine, from trace.Side, t int64, p pos) {
	i := sideIndex(from)
	if i < 0 {
		return
	}
	settlePings(e, &s.wsPings[1-i], t, p, "WebSocket ping got its pong")
}

func sideIndex(s trace.Side) int {
	switch s {
	case trace.Client:
		return 0
	case trace.Server:
		return 1
	}
	return -1
}

// settlePings answers every ping waiting in q; a late answer is reported.
func settlePings(e *Engine, q *queue[pingWait], t int64, p pos, what string) {
	for q.len() > 0 {
		w := q.pop()
		if late := t - w.t; late >= e.pongTO {
			e.report(RulePingWithoutPong, Warning, w.sock, w.p, w.t, p, "",
				fmt.Sprintf("%s after %s (timeout %s)", what, dur(late), dur(e.pongTO)))
		}
	}
}

// expirePings reports the pings of q that got no pong by now and returns
// when the next one is due.
func expirePings(e *Engine, q *queue[pingWait], now int64, what string) int64 {
	for q.len() > 0 {
		w := q.front()
		if now < w.t+e.pongTO {
			return w.t + e.pongTO
		}
		e.report(RulePingWithoutPong, Warning, w.sock, w.p, w.t, pos{}, "",
			fmt.Sprintf("%s within %s", what, dur(e.pongTO)))
		q.pop()
	}
	return never
}

// attachCommand counts the client's first commands on the socket, which
// must include a sync with recover_approvals.
func (s *socket) attachCommand(e *Engine, info *protocol.TypeInfo, t int64, p pos) {
	if s.attachOK || s.attachDone {
		return
	}
	s.cmds++
	if s.cmds == 1 {
		s.firstCmdP, s.firstCmdT = p, t
	}
	if info.Name == "sync" && e.env.RecoverApprovals {
		s.attachOK = true
		s.cmdNames = nil
		return
	}
	s.cmdNames = append(s.cmdNames, info.Name)
	if s.cmds >= e.cfg.AttachCommands {
		s.attachDone = true
		e.report(RuleNoSyncOnAttach, Warning, &s.id, s.firstCmdP, s.firstCmdT, p, "",
			fmt.Sprintf("the client's first %d commands on this socket (%s) include no sync with recover_approvals:true",
				s.cmds, joinNames(s.cmdNames)))
		s.cmdNames = nil
	}
}

func joinNames(n []string) string {
	out := ""
	for i, s := range n {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}
