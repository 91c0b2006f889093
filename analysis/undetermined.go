package analysis

import (
	"fmt"
	"strings"

	"github.com/lettadev/wsproxy/trace"
)

// What a trace cannot show. A trace that was cut (a crash, head -c, a
// rotated part read alone), a connection the proxy closed itself, a
// connection that started before the trace, and a connection whose records
// were dropped (-lossy) all leave things the checker cannot judge: they
// are counted, per connection, into one undetermined note instead of
// being reported as errors.

// undet collects what was not judged on one connection.
type undet struct {
	id    ident
	p     pos
	t     int64
	items []undetItem
}

type undetItem struct {
	why, what string
	n         int
}

// undetermined counts n items of what on the connection of id, not judged
// because of why; rule is the rule that would have judged them (nothing
// is counted when it is disabled). The note is emitted by flushUndetermined.
func (e *Engine) undetermined(id *ident, p pos, t int64, why, rule, what string, n int) {
	if n <= 0 || e.disabled[rule] || e.disabled[RuleUndetermined] {
		return
	}
	u := e.undetBy[id.conn]
	if u == nil {
		u = &undet{id: *id, p: p, t: t}
		if e.undetBy == nil {
			e.undetBy = map[string]*undet{}
		}
		e.undetBy[id.conn] = u
		e.undets = append(e.undets, u)
	}
	if p.line != 0 && (u.p.line == 0 || t >= u.t) {
		u.p, u.t = p, t
	}
	for i := range u.items {
		if u.items[i].why == why && u.items[i].what == what {
			u.items[i].n += n
			return
		}
	}
	u.items = append(u.items, undetItem{why, what, n})
}

// flushUndetermined reports one undetermined note per connection with
// what it collected, in the order the connections first had something.
func (e *Engine) flushUndetermined() {
	for _, u := range e.undets {
		var whys []string
		byWhy := map[string][]string{}
		for _, it := range u.items {
			if _, ok := byWhy[it.why]; !ok {
				whys = append(whys, it.why)
			}
			byWhy[it.why] = append(byWhy[it.why], fmt.Sprintf("%d %s", it.n, it.what))
		}
		parts := make([]string, len(whys))
		for i, w := range whys {
			parts[i] = w + ": not judged: " + strings.Join(byWhy[w], ", ")
		}
		e.report(RuleUndetermined, Note, &u.id, u.p, u.t, pos{}, "", strings.Join(parts, "; "))
	}
	e.undets, e.undetBy = nil, nil
}

// loss handles a loss record: from here on, findings that depend on the
// missing records are not reported for the connection and its session.
func (e *Engine) loss(r *trace.Record, t int64, p pos) {
	s := e.socket(r.Conn, t, p)
	first := !e.lostConn[s.id.conn]
	if e.lostConn == nil {
		e.lostConn = map[string]bool{}
	}
	e.lostConn[s.id.conn] = true
	if s.sess != nil && s.sess.key.own == "" {
		if e.lostSess == nil {
			e.lostSess = map[sessionKey]bool{}
		}
		e.lostSess[s.sess.key] = true
	}
	if !first {
		return
	}
	from := ""
	if r.From != "" {
		from = " from the " + string(r.From)
	}
	e.report(RuleUndetermined, Note, &s.id, p, t, pos{}, "loss",
		fmt.Sprintf("%d record(s)%s were not recorded (-lossy): from here on, findings that depend on missing records "+
			"(seq/ack, request/reply, event_seq gaps of its session, heartbeats, pongs, approvals) are not reported for this connection", r.Count, from))
}

// needsComplete lists the rules whose findings a missing record can cause.
var needsComplete = map[string]bool{
	RuleUnackedSeq: true, RuleAckUnknownSeq: true, RuleSeqRegression: false,
	RuleEventSeqGap: true, RuleGapWithoutSync: true,
	RuleUnmatchedRequest: true, RuleOrphanResponse: true, RuleResponseMismatch: true,
	RuleUnansweredApproval: true, RuleMissingHeartbeat: true, RulePingWithoutPong: true,
	RuleNoSyncOnAttach: true,
}

// lost reports whether a finding of rule about id is not reported because
// records of its connection or session were lost.
func (e *Engine) lost(rule string, id *ident) bool {
	if len(e.lostConn) == 0 || !needsComplete[rule] {
		return false
	}
	if e.lostConn[id.conn] {
		return true
	}
	return id.session != (ident{}).session && e.lostSess[sessionKey{s: id.session}]
}
