package analysis

import (
	"fmt"
	"sort"

	"github.com/lettadev/wsproxy/protocol"
)

// Transport rules, per socket: unacked-seq, ack-unknown-seq,
// seq-regression.

// seqWait is a server frame waiting for its ack.
type seqWait struct {
	seq   int64
	t     int64
	p     pos
	typ   string
	acked bool
}

// serverSeq handles a server frame carrying transport seq n.
func (s *socket) serverSeq(e *Engine, n int64, info *protocol.TypeInfo, t int64, p pos) {
	typ := "unknown type"
	if info != nil {
		typ = info.Name
	} else if e.env.Type != nil {
		typ = string(e.env.Type)
	}
	regression := s.hasSeq && n <= s.lastSeq
	if regression {
		e.report(RuleSeqRegression, Error, &s.id, p, t, s.lastSeqP, seqName(n),
			fmt.Sprintf("seq %d (%s) after seq %d on this socket", n, typ, s.lastSeq))
		if s.sentHas(n) {
			return // a repeat: the first one is (or was) waiting for its ack
		}
	} else {
		if !s.hasSeq {
			s.lowSeq = n
		}
		s.hasSeq, s.lastSeq, s.lastSeqP = true, n, p
	}
	s.addSent(n)
	if s.unacked.len() == 0 {
		s.unsorted = false
		s.schedule(e, t+e.ackTO)
	} else if regression {
		s.unsorted = true
	}
	s.unacked.push(seqWait{seq: n, t: t, p: p, typ: typ})
}

// ack handles the client's ack of seq n.
func (s *socket) ack(e *Engine, n int64, t int64, p pos) {
	w := s.findUnacked(n)
	if w == nil {
		if s.midStream && (!s.hasSeq || n < s.lowSeq) {
			e.undetermined(&s.id, p, t, midStreamWhy, RuleAckUnknownSeq, "ack(s) of seqs sent before the trace began", 1)
			return
		}
		if !s.sentHas(n) {
			high := "none"
			if s.hasSeq {
				high = seqName(s.lastSeq)
			}
			e.report(RuleAckUnknownSeq, Error, &s.id, p, t, pos{}, seqName(n),
				fmt.Sprintf("ack for seq %d, which the server never sent on this socket (highest sent: %s)", n, high))
		}
		return // a repeated ack, or one after its timeout was reported
	}
	w.acked = true
	if late := t - w.t; late >= e.ackTO {
		e.report(RuleUnackedSeq, Error, &s.id, w.p, w.t, p, seqName(n),
			fmt.Sprintf("seq %d (%s) was acked after %s (timeout %s)", n, w.typ, dur(late), dur(e.ackTO)))
	}
	for s.unacked.len() > 0 && s.unacked.front().acked {
		s.unacked.pop()
	}
}

// midStreamWhy explains what is undetermined on a socket whose open
// record is not in the stream.
const midStreamWhy = "the connection started before the trace"

// findUnacked returns the waiting entry for seq n, or nil.
func (s *socket) findUnacked(n int64) *seqWait {
	q := &s.unacked
	l := q.len()
	if l == 0 {
		return nil
	}
	if w := q.front(); w.seq == n {
		return w
	}
	if !s.unsorted {
		i := sort.Search(l, func(i int) bool { return q.at(i).seq >= n })
		if i < l && q.at(i).seq == n && !q.at(i).acked {
			return q.at(i)
		}
		return nil
	}
	for i := 0; i < l; i++ {
		if w := q.at(i); w.seq == n && !w.acked {
			return w
		}
	}
	return nil
}

func (s *socket) addSent(n int64) {
	if k := len(s.sent); k > 0 {
		last := &s.sent[k-1]
		if n == last.hi+1 {
			last.hi = n
			return
		}
		if n >= last.lo && n <= last.hi {
			return
		}
	}
	i := sort.Search(len(s.sent), func(i int) bool { return s.sent[i].hi >= n-1 })
	switch {
	case i < len(s.sent) && s.sent[i].lo <= n+1:
		// adjacent to or inside s.sent[i]
		sp := &s.sent[i]
		sp.lo, sp.hi = min(sp.lo, n), max(sp.hi, n)
		if i+1 < len(s.sent) && s.sent[i+1].lo <= sp.hi+1 {
			sp.hi = max(sp.hi, s.sent[i+1].hi)
			s.sent = append(s.sent[:i+1], s.sent[i+2:]...)
		}
	default:
		s.sent = append(s.sent, span{})
		copy(s.sent[i+1:], s.sent[i:])
		s.sent[i] = span{n, n}
	}
	if len(s.sent) > maxSpans {
		s.sent[1].lo = s.sent[0].lo
		s.sent = s.sent[1:]
	}
}

func (s *socket) sentHas(n int64) bool {
	i := sort.Search(len(s.sent), func(i int) bool { return s.sent[i].hi >= n })
	return i < len(s.sent) && s.sent[i].lo <= n
}
