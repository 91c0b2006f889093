package analysis

import (
	"fmt"
	"sort"

	"github.com/lettadev/wsproxy/protocol"
)

// Device-event rules, per session: event-seq-gap, event-seq-regression,
// gap-without-sync, duplicate-idempotency-key.

// events tracks the session's event_seq counter. Values that arrive ahead
// of the next expected one wait in buf (sorted by seq) for the missing
// ones, which may still come on another socket, until the reordering
// window closes; then the missing range is a gap.
type events struct {
	started  bool
	anchored bool // next is known: the lowest value seen once the first window closed
	firstT   int64
	firstIdx int64
	next     int64 // lowest value not yet delivered or declared missing
	count    int64 // events seen
	buf      []evEntry
	lastP    pos // the event next-1
	high     int64
	highP    pos
	gaps     queue[gapWait]
	lastSync int64
}

type evEntry struct {
	seq  int64
	t    int64
	idx  int64
	p    pos
	sock *ident
}

// gapWait is a gap waiting for the client's sync.
type gapWait struct {
	subject  string
	reveal   int64
	deadline int64
	t        int64
	p        pos
	sock     *ident
}

// keyEntry is the first delivery of an idempotency key.
type keyEntry struct {
	eventSeq int64
	hasSeq   bool
	hash     uint64
	p        pos
}

// event handles a device event carrying event_seq.
func (ss *session) event(e *Engine, s *socket, info *protocol.TypeInfo, t int64, p pos) {
	ev := &ss.ev
	n := e.env.EventSeq
	ev.expire(e, ss, t)
	ev.count++
	ent := evEntry{seq: n, t: t, idx: ev.count, p: p, sock: &s.id}
	if !ev.started {
		ev.started, ev.firstT, ev.firstIdx = true, t, ev.count
		ev.high, ev.highP = n, p
		ev.buf = append(ev.buf, ent)
		e.timers.schedule(ss, t+e.reorderWin)
		return
	}
	high, highP := ev.high, ev.highP
	if n > ev.high {
		ev.high, ev.highP = n, p
	}
	if ev.anchored && n == ev.next {
		ev.next++
		ev.lastP = p
		ev.drain()
		return
	}
	if ev.anchored && n < ev.next {
		e.report(RuleEventSeqRegression, Error, &s.id, p, t, highP, seqName(n),
			fmt.Sprintf("event_seq %d (%s) goes back: highest so far %d, expected %d%s", n, typeName(info), high, ev.next, notRedelivery(e)))
		return
	}
	i := sort.Search(len(ev.buf), func(i int) bool { return ev.buf[i].seq >= n })
	if i < len(ev.buf) && ev.buf[i].seq == n {
		e.report(RuleEventSeqRegression, Error, &s.id, p, t, ev.buf[i].p, seqName(n),
			fmt.Sprintf("event_seq %d (%s) repeats (first at %s)%s", n, typeName(info), lineRef(ev.buf[i].p), notRedelivery(e)))
		return
	}
	ev.buf = append(ev.buf, evEntry{})
	copy(ev.buf[i+1:], ev.buf[i:])
	ev.buf[i] = ent
	if ev.anchored && len(ev.buf) == 1 {
		e.timers.schedule(ss, t+e.reorderWin)
	}
}

func notRedelivery(e *Engine) string {
	if e.env.IdempotencyKey != nil {
		return " with an idempotency_key not delivered before"
	}
	return ""
}

func typeName(info *protocol.TypeInfo) string {
	if info == nil {
		return "unknown type"
	}
	return info.Name
}

// drain moves next past the buffered values that continue it.
func (ev *events) drain() {
	k := 0
	for k < len(ev.buf) && ev.buf[k].seq <= ev.next {
		if ev.buf[k].seq == ev.next {
			ev.lastP = ev.buf[k].p
			ev.next++
		}
		k++
	}
	if k > 0 {
		n := copy(ev.buf, ev.buf[k:])
		clear(ev.buf[n:])
		ev.buf = ev.buf[:n]
	}
}

// expire closes the reordering windows that are over at now, declaring
// their gaps, fires due sync deadlines, and returns the next deadline.
func (ev *events) expire(e *Engine, ss *session, now int64) int64 {
	next := never
	if ev.started {
		next = ev.closeWindows(e, ss, now, false)
	}
	for ev.gaps.len() > 0 {
		g := ev.gaps.front()
		if now < g.deadline {
			next = min(next, g.deadline)
			break
		}
		e.report(RuleGapWithoutSync, Warning, g.sock, g.p, g.t, pos{}, g.subject,
			fmt.Sprintf("no sync within %s after event_seq gap %s", dur(e.syncTO), g.subject))
		ev.gaps.pop()
	}
	return next
}

// closeWindows declares the gaps whose window is over (all of them when
// all is set) and returns when the next window closes.
func (ev *events) closeWindows(e *Engine, ss *session, now int64, all bool) int64 {
	limit := int64(e.cfg.ReorderEvents)
	if !ev.anchored {
		if !all && now-ev.firstT < e.reorderWin && ev.count-ev.firstIdx < limit {
			return ev.firstT + e.reorderWin
		}
		ev.anchored = true
		if len(ev.buf) == 0 {
			return never
		}
		ev.next = ev.buf[0].seq
		ev.drain()
	}
	for len(ev.buf) > 0 {
		rt, ri := ev.buf[0].t, ev.buf[0].idx
		for _, b := range ev.buf[1:] {
			rt, ri = min(rt, b.t), min(ri, b.idx)
		}
		if !all && now-rt < e.reorderWin && ev.count-ri < limit {
			return rt + e.reorderWin
		}
		first := ev.buf[0]
		a, b := ev.next, first.seq-1
		subject := gapName(a, b)
		if ss.partial {
			e.undetermined(first.sock, first.p, first.t, midStreamWhy+" (its session's other sockets are unknown)", RuleEventSeqGap, "event_seq gap(s)", 1)
			ev.next = first.seq
			ev.drain()
			continue
		}
		e.report(RuleEventSeqGap, Error, first.sock, first.p, first.t, ev.lastP, subject,
			fmt.Sprintf("event_seq %s missing: jumped from %d to %d", subject, a-1, first.seq))
		if ev.lastSync < rt {
			if ev.gaps.len() == 0 {
				e.timers.schedule(ss, rt+e.syncTO)
			}
			ev.gaps.push(gapWait{subject: subject, reveal: rt, deadline: rt + e.syncTO, t: first.t, p: first.p, sock: first.sock})
		}
		ev.next = first.seq
		ev.drain()
	}
	return never
}

// flush declares every gap still in a window (the stream ended), then
// fires the sync deadlines due at now; later ones are dropped.
func (ev *events) flush(e *Engine, ss *session, now int64) {
	if ev.started {
		ev.closeWindows(e, ss, now, true)
	}
	ev.expire(e, ss, now)
}

// pending returns the missing ranges still in a reordering window and
// the gaps still waiting for a sync.
func (ev *events) pending() (gaps, syncs int) {
	next := ev.next
	if !ev.anchored && len(ev.buf) > 0 {
		next = ev.buf[0].seq
	}
	for _, b := range ev.buf {
		if b.seq > next {
			gaps++
		}
		next = b.seq + 1
	}
	return gaps, ev.gaps.len()
}

// synced handles a client sync on any socket of the session.
func (ss *session) synced(e *Engine, s *socket, t int64, p pos) {
	ev := &ss.ev
	ev.lastSync = t
	for ev.gaps.len() > 0 && ev.gaps.front().reveal <= t {
		g := ev.gaps.pop()
		if late := t - g.reveal; late >= e.syncTO {
			e.report(RuleGapWithoutSync, Warning, g.sock, g.p, g.t, p, g.subject,
				fmt.Sprintf("sync came %s after event_seq gap %s (timeout %s)", dur(late), g.subject, dur(e.syncTO)))
		}
	}
}

// checkKey handles an idempotency_key. It reports a repeat and returns
// true when the frame is a redelivery of the first delivery (same key and
// event_seq), which the event_seq rules must not count again.
func (ss *session) checkKey(e *Engine, s *socket, info *protocol.TypeInfo, t int64, p pos) bool {
	env := &e.env
	kh := hashBytes(env.IdempotencyKey)
	ch := protocol.ContentHash(hashSeed, e.payload)
	first, ok := ss.keys.get(kh)
	if !ok {
		ss.keys.add(kh, keyEntry{eventSeq: env.EventSeq, hasSeq: env.HasEventSeq, hash: ch, p: p})
		return false
	}
	sev, how := Warning, "identical apart from seq: a redelivery the client must dedupe"
	// protocol.ContentHash is the one definition of "identical apart
	// from transport fields" (top-level members only).
	if first.hash != ch {
		sev, how = Error, "with a different payload: a device bug"
	}
	e.report(RuleDuplicateKey, sev, &s.id, p, t, first.p, string(env.IdempotencyKey),
		fmt.Sprintf("%s %s delivered again (%s); first at %s", typeName(info), env.IdempotencyKey, how, lineRef(first.p)))
	return first.hasSeq == env.HasEventSeq && first.eventSeq == env.EventSeq
}
