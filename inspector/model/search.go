package model

import (
	"bytes"
	"runtime"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/filter"
	"github.com/lettadev/wsproxy/protocol"
)

var timeZero time.Time

// Query selects rows: a filter and, optionally, one connection.
type Query struct {
	Filter *filter.Filter
	// Conn limits the rows to one connection id ("" for all).
	Conn string
}

// Empty reports a query that selects every row.
func (q Query) Empty() bool { return q.Filter.Empty() && q.Conn == "" }

// Match returns the rows from start on (start <= i < Len()) that q
// selects, in order. Free-text filters decode the payload blocks on every
// core; other filters look at the compact rows only.
func (m *Model) Match(q Query, start int) []int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if start < 0 {
		start = 0
	}
	end := m.n
	if start >= end {
		return nil
	}
	conn := -1
	if q.Conn != "" {
		c, ok := m.connIdx[q.Conn]
		if !ok {
			return nil
		}
		conn = int(c)
	}
	if !q.Filter.NeedsText() {
		var x filter.Fields
		return m.matchRange(q.Filter, conn, start, end, nil, &x, nil)
	}
	// Split by payload block, so that each worker decodes whole blocks.
	workers := runtime.GOMAXPROCS(0)
	type part struct {
		lo, hi int
		out    []int
	}
	parts := []*part{}
	step := max((end-start)/(workers*8), 4096)
	for lo := start; lo < end; lo += step {
		parts = append(parts, &part{lo: lo, hi: min(lo+step, end)})
	}
	var wg sync.WaitGroup
	next := make(chan *part, len(parts))
	for _, p := range parts {
		next <- p
	}
	close(next)
	for w := 0; w < min(workers, len(parts)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var x filter.Fields
			dec := &decoder{block: ^uint32(0)}
			for p := range next {
				p.out = m.matchRange(q.Filter, conn, p.lo, p.hi, nil, &x, dec)
			}
		}()
	}
	wg.Wait()
	var out []int
	for _, p := range parts {
		out = append(out, p.out...)
	}
	return out
}

// decoder holds one decoded block for a scan.
type decoder struct {
	block uint32
	buf   []byte
	data  []byte
}

func (d *decoder) text(s *blockStore, r *Row) []byte {
	if r.pLen == 0 {
		return nil
	}
	if r.pBlock != d.block {
		d.data = s.decodeInto(r.pBlock, d.buf)
		if int(r.pBlock) != len(s.sealed) {
			d.buf = d.data
		}
		d.block = r.pBlock
	}
	if d.data == nil || int(r.pOff+r.pLen) > len(d.data) {
		return nil
	}
	return d.data[r.pOff : r.pOff+r.pLen]
}

// matchRange matches rows lo..hi-1 (read lock held).
func (m *Model) matchRange(f *filter.Filter, conn, lo, hi int, out []int, x *filter.Fields, dec *decoder) []int {
	for i := lo; i < hi; i++ {
		r := m.row(i)
		if conn >= 0 && int(r.conn) != conn {
			continue
		}
		if f.Empty() {
			out = append(out, i)
			continue
		}
		m.fields(i, r, x)
		if !f.MatchTerms(x) {
			continue
		}
		if dec != nil {
			// Decode the payload only for rows the other terms let through.
			if r.kind == kFrame {
				x.Text = dec.text(&m.store, r)
			}
			if !f.MatchText(x) {
				continue
			}
		}
		out = append(out, i)
	}
	return out
}

// fields fills x for row i, but for a frame's payload text.
func (m *Model) fields(i int, r *Row, x *filter.Fields) {
	if r.kind != kFrame {
		if rec, ok := m.extra[i]; ok {
			*x = filter.FieldsOf(rec, filter.Facts{Rules: m.rulesOf(r.rules)})
			return
		}
	}
	*x = filter.Fields{Kind: kindNames[r.kind], From: sideNames[r.from], Op: opNames[r.op], Conn: m.conns[r.conn].ID,
		Type: m.types[r.typ], Seq: r.Seq, EventSeq: r.EventSeq, HasSeq: r.HasSeq(), HasEventSeq: r.HasEventSeq(),
		Line: r.Line, Rules: m.rulesOf(r.rules)}
	if r.reqLen > 0 {
		x.RequestID = m.reqs[r.reqOff : r.reqOff+uint32(r.reqLen)]
	}
	if a, ok := m.appr[i]; ok {
		x.ApprovalRequestID = a
	}
}

// NextFinding returns the first row after from (before it when back) that
// has a finding, among rows (nil: every row); -1 when there is none. The
// search wraps around.
func (m *Model) NextFinding(rows []int, from int, back bool) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := m.n
	if rows != nil {
		n = len(rows)
	}
	at := func(k int) int {
		if rows != nil {
			return rows[k]
		}
		return k
	}
	if n == 0 {
		return -1
	}
	// from is a position in rows (or a row index when rows is nil).
	for step := 1; step <= n; step++ {
		k := from + step
		if back {
			k = from - step
		}
		k = ((k % n) + n) % n
		if m.row(at(k)).rules != 0 {
			return k
		}
	}
	return -1
}

// Partner returns the row that row i goes with, and what it is: a
// command's reply (and a reply's command), a server frame's ack (and an
// ack's frame), a control_request's approval_response (and back), a
// finding's related row (a duplicate's first delivery, a late ack). -1
// when there is none.
func (m *Model) Partner(i int) (int, string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if i < 0 || i >= m.n {
		return -1, ""
	}
	r := m.row(i)
	var info *protocol.TypeInfo
	if t := m.types[r.typ]; t != "" {
		info = protocol.DefaultModel.Lookup(t)
	}
	rid := m.reqs[r.reqOff : r.reqOff+uint32(r.reqLen)]
	if a, ok := m.appr[i]; ok {
		// An approval answers a control_request on any socket of the session.
		if j := m.scan(i, true, func(j int, o *Row) bool {
			return m.types[o.typ] == protocol.TypeControlRequest && bytes.Equal(m.reqs[o.reqOff:o.reqOff+uint32(o.reqLen)], a)
		}); j >= 0 {
			return j, "the control_request this approval answers"
		}
	}
	if info != nil && len(rid) > 0 {
		switch info.Role {
		case protocol.RoleCommand:
			if j := m.scan(i, false, func(j int, o *Row) bool {
				return o.conn == r.conn && o.from != r.from && m.sameReq(o, rid)
			}); j >= 0 {
				return j, "reply"
			}
		case protocol.RoleReply:
			if j := m.scan(i, true, func(j int, o *Row) bool {
				return o.conn == r.conn && o.from != r.from && m.sameReq(o, rid)
			}); j >= 0 {
				return j, "request"
			}
		case protocol.RoleDeviceRequest:
			if j := m.scan(i, false, func(j int, o *Row) bool {
				a, ok := m.appr[j]
				return ok && bytes.Equal(a, rid)
			}); j >= 0 {
				return j, "the approval_response answering it"
			}
		}
	}
	if r.HasSeq() && r.kind == kFrame {
		ack := m.types[r.typ] == "ack"
		if j := m.scan(i, ack, func(j int, o *Row) bool {
			return o.conn == r.conn && o.from != r.from && o.HasSeq() && o.Seq == r.Seq && (m.types[o.typ] == "ack") != ack
		}); j >= 0 {
			if ack {
				return j, "the frame this ack acknowledges"
			}
			return j, "its ack"
		}
	}
	if r.rules != 0 {
		for _, f := range m.findings {
			if f.Row == i && f.RelatedRow >= 0 {
				return f.RelatedRow, f.Rule + ": related"
			}
			if f.RelatedRow == i && f.Row >= 0 {
				return f.Row, f.Rule
			}
		}
	}
	for _, f := range m.findings {
		if f.RelatedRow == i && f.Row >= 0 {
			return f.Row, f.Rule
		}
	}
	return -1, ""
}

func (m *Model) sameReq(o *Row, rid []byte) bool {
	return o.reqLen > 0 && bytes.Equal(m.reqs[o.reqOff:o.reqOff+uint32(o.reqLen)], rid)
}

// scan looks for a row matching ok after i (before it when back).
func (m *Model) scan(i int, back bool, ok func(j int, o *Row) bool) int {
	if back {
		for j := i - 1; j >= 0; j-- {
			if o := m.row(j); o.kind == kFrame && ok(j, o) {
				return j
			}
		}
		return -1
	}
	for j := i + 1; j < m.n; j++ {
		if o := m.row(j); o.kind == kFrame && ok(j, o) {
			return j
		}
	}
	return -1
}
