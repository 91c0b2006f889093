package analysis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lettadev/wsproxy/protocol"
)

// Request rules, per socket: unmatched-request, orphan-response,
// response-type-mismatch, duplicate-request-id. (unanswered-approval is
// per session, in session.go.)

// request is a command waiting for its reply.
type request struct {
	key  uint64 // hash of id (salted for terminal ids)
	id   string // request_id or terminal_id; "" when anonymous
	anon bool   // no id to correlate by: matched by reply type, never reported
	info *protocol.TypeInfo
	t    int64
	p    pos
	done bool
	next *request // next pending request with the same key
}

// reported tells whether the request is reported when no reply comes.
func (r *request) reported() bool { return !r.anon && !r.info.ReplyOptional }

// recentCmd is a command remembered by its request_id (or terminal id).
type recentCmd struct {
	p    pos
	info *protocol.TypeInfo
}

// maxAnon bounds the commands without a request_id waiting per socket.
const maxAnon = 64

// terminalSalt separates terminal ids from request_ids in the same maps.
const terminalSalt = 0x9e3779b97f4a7c15

func termKey(id []byte) uint64 { return hashBytes(id) ^ terminalSalt }

// answers reports whether reply is an accepted reply of the command or a
// message the command is known to set off.
func answers(cmd *protocol.TypeInfo, reply string) bool {
	return cmd.Accepts(reply) || slices.Contains(cmd.Starts, reply)
}

// command handles a client command.
func (s *socket) command(e *Engine, info *protocol.TypeInfo, t int64, p pos) {
	env := &e.env
	s.attachCommand(e, info, t, p)
	if info.NeedsRuntime && !env.HasRuntime {
		e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "runtime",
			fmt.Sprintf("%s from client has no runtime", info.Name))
	}
	if info.NeedsRequestID && env.RequestID == nil {
		e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "request_id",
			fmt.Sprintf("%s from client has no request_id (the device ignores it)", info.Name))
	}
	rid := env.RequestID
	var rh uint64
	if rid != nil {
		rh = hashBytes(rid)
		if prev, ok := s.recent.get(rh); ok {
			e.report(RuleDuplicateRequestID, Warning, &s.id, p, t, prev.p, string(rid),
				fmt.Sprintf("%s reuses request_id %s (first used by %s at %s)", info.Name, rid, prev.info.Name, lineRef(prev.p)))
			s.recent.set(rh, recentCmd{p, info})
		} else {
			s.recent.add(rh, recentCmd{p, info})
		}
	}
	ss := s.sess
	if env.IsApprovalResponse() {
		if env.ApprovalRequestID != nil {
			ss.answer(info.Name, env.ApprovalRequestID)
		}
	} else if rid != nil && len(ss.approvals) > 0 {
		ss.answer(info.Name, rid)
	}
	if info.Name == "sync" {
		ss.synced(e, s, t, p)
	}
	for _, r := range e.startsReplies[info] {
		if s.startedR == nil {
			s.startedR = map[string]bool{}
		}
		s.startedR[r] = true
	}
	if len(info.Replies) == 0 || info.Correlate == protocol.Uncorrelated {
		return
	}
	r := &request{info: info, t: t, p: p}
	switch {
	case info.Correlate == protocol.ByRequestID && rid != nil:
		r.key, r.id = rh, string(rid)
	case info.Correlate == protocol.ByTerminalID && env.TerminalID != nil:
		r.key, r.id = termKey(env.TerminalID), string(env.TerminalID)
		if _, ok := s.recent.get(r.key); ok {
			s.recent.set(r.key, recentCmd{p, info})
		} else {
			s.recent.add(r.key, recentCmd{p, info})
		}
	default:
		r.anon = true
	}
	if r.anon {
		if len(s.anon) >= maxAnon {
			s.anon[0].done = true
			s.anon = s.anon[1:]
		}
		s.anon = append(s.anon, r)
	} else {
		if s.pending == nil {
			s.pending = map[uint64]*request{}
		}
		if head := s.pending[r.key]; head == nil {
			s.pending[r.key] = r
		} else {
			for head.next != nil {
				head = head.next
			}
			head.next = r
		}
	}
	if s.reqQ.len() == 0 {
		s.schedule(e, t+e.respTO)
	}
	s.reqQ.push(r)
}

// reply handles a server reply.
func (s *socket) reply(e *Engine, info *protocol.TypeInfo, t int64, p pos) {
	env := &e.env
	byTerm := e.replyByTerminal[info]
	var id []byte
	var key uint64
	what := "request_id"
	if byTerm {
		id, what = env.TerminalID, "terminal_id"
		if id != nil {
			key = termKey(id)
		}
	} else if id = env.RequestID; id != nil {
		key = hashBytes(id)
	}
	if id == nil {
		s.replyAnon(e, info, t, p)
		return
	}
	if head := s.pending[key]; head != nil {
		for r := head; r != nil; r = r.next {
			if r.info.Accepts(info.Name) {
				s.settle(e, r, info, t, p)
				return
			}
		}
		for r := head; r != nil; r = r.next {
			if slices.Contains(r.info.Starts, info.Name) {
				return
			}
		}
		e.report(RuleResponseMismatch, Error, &s.id, p, t, head.p, head.id,
			fmt.Sprintf("%s answers %s %s (accepted: %s)", info.Name, head.info.Name, head.id, strings.Join(head.info.Replies, ", ")))
		s.unlink(head)
		return
	}
	if prev, ok := s.recent.get(key); ok {
		if !answers(prev.info, info.Name) {
			e.report(RuleResponseMismatch, Error, &s.id, p, t, prev.p, string(id),
				fmt.Sprintf("%s answers %s %s (accepted: %s)", info.Name, prev.info.Name, id, strings.Join(prev.info.Replies, ", ")))
		}
		return // a repeated reply, or one after its timeout was reported
	}
	if !byTerm && s.startedR[info.Name] {
		return
	}
	if s.midStream {
		e.undetermined(&s.id, p, t, midStreamWhy, RuleOrphanResponse, "reply(ies) to commands that may predate the trace", 1)
		return
	}
	e.report(RuleOrphanResponse, Error, &s.id, p, t, pos{}, string(id),
		fmt.Sprintf("%s %s: no command on this socket had this %s", info.Name, id, what))
}

// replyAnon handles a reply without the id it correlates by.
func (s *socket) replyAnon(e *Engine, info *protocol.TypeInfo, t int64, p pos) {
	for _, r := range s.anon {
		if !r.done && r.info.Accepts(info.Name) {
			s.settle(e, r, info, t, p)
			return
		}
	}
	if s.startedR[info.Name] {
		return
	}
	if s.midStream {
		e.undetermined(&s.id, p, t, midStreamWhy, RuleOrphanResponse, "reply(ies) to commands that may predate the trace", 1)
		return
	}
	e.report(RuleOrphanResponse, Error, &s.id, p, t, pos{}, "",
		fmt.Sprintf("%s carries no id and no command without one is waiting for it", info.Name))
}

// settle marks r answered at t by the reply (or error) at p.
func (s *socket) settle(e *Engine, r *request, by *protocol.TypeInfo, t int64, p pos) {
	s.unlink(r)
	if late := t - r.t; late >= e.respTO && r.reported() {
		e.report(RuleUnmatchedRequest, Error, &s.id, r.p, r.t, p, r.id,
			fmt.Sprintf("%s %s was answered by %s after %s (timeout %s)", r.info.Name, r.id, by.Name, dur(late), dur(e.respTO)))
	}
}

// settleByError settles the oldest request with the request_id of an
// error or run_request_error event.
func (s *socket) settleByError(e *Engine, info *protocol.TypeInfo, t int64, p pos) {
	if head := s.pending[hashBytes(e.env.RequestID)]; head != nil {
		s.settle(e, head, info, t, p)
	}
}

// unlink removes r from the pending structures and marks it done; its
// entry in reqQ is skipped later.
func (s *socket) unlink(r *request) {
	r.done = true
	if r.anon {
		if i := slices.Index(s.anon, r); i >= 0 {
			s.anon = slices.Delete(s.anon, i, i+1)
		}
		return
	}
	head := s.pending[r.key]
	if head == r {
		if r.next == nil {
			delete(s.pending, r.key)
		} else {
			s.pending[r.key] = r.next
		}
		r.next = nil
		return
	}
	for q := head; q != nil; q = q.next {
		if q.next == r {
			q.next = r.next
			r.next = nil
			return
		}
	}
}
