package model

import (
	"sort"
	"strconv"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// liveFileName is the checker's file name for records added live; their
// Line (for the checker) is their row number + 1.
const liveFileName = "\x00live"

// beginFile starts the rows of a file (under the write lock).
func (m *Model) beginFile(name string, newStream bool) {
	if newStream && len(m.files) > 0 {
		m.stream++
	}
	m.streams[name] = m.stream
	m.files = append(m.files, name)
	m.fileStart = append(m.fileStart, m.n)
}

// Add appends records that arrive live (not from a file), checks them and
// attaches findings. Records are copied; the caller keeps ownership.
func (m *Model) Add(recs ...*trace.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.liveFile < 0 {
		m.liveFile = len(m.files)
		m.beginFile(liveFileName, true)
		m.engine.SetFile(liveFileName)
	}
	for _, r := range recs {
		if r.Kind == trace.KindHeader {
			continue
		}
		c := *r
		c.Payload = append([]byte(nil), r.Payload...)
		c.Line = int64(m.n + 1)
		m.addLocked(&c, true)
		m.engine.Write(&c)
	}
	m.lastAdded = time.Now()
}

// Advance moves the checker's clock (live mode), so that timeouts fire
// without waiting for the next record.
func (m *Model) Advance(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.engine.Advance(now)
}

// Warn adds a warning line.
func (m *Model) Warn(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.warnings = append(m.warnings, s)
}

// addLocked appends r's row (the caller checks it). owned says r (and
// its payload) may be kept by the model.
func (m *Model) addLocked(r *trace.Record, owned bool) {
	if m.n>>chunkShift == len(m.rows) {
		m.rows = append(m.rows, make([]Row, chunkRows))
	}
	i := m.n
	row := m.row(i)
	*row = Row{T: r.T.UnixNano(), N: r.N, Line: r.Line, kind: kindCode(r.Kind), file: uint16(len(m.files) - 1)}
	if r.T.IsZero() {
		row.T = 0
	}
	c := m.conn(r.Conn, i)
	row.conn = c
	ci := m.conns[c]
	if !r.T.IsZero() {
		if ci.Start.IsZero() {
			ci.Start = r.T
		}
		ci.End = r.T
	}
	if r.Redacted {
		row.flags |= fRedacted
	}
	switch r.Kind {
	case trace.KindFrame:
		row.from, row.op = sideCode(r.From), opCode(r.Op)
		row.Size = uint32(r.Size)
		row.frames = uint16(min(r.WireFrames, 65535))
		row.Code = uint16(r.Code)
		if r.Compressed {
			row.flags |= fCompressed
		}
		row.pBlock, row.pOff, row.pLen = m.store.add(r.Payload)
		ci.Frames++
		ci.Bytes += int64(r.Size)
		if r.IsJSONObject() {
			row.flags |= fJSON
			m.envelope(row, r, i)
		}
	default:
		if !owned {
			c := *r
			c.Payload = append([]byte(nil), r.Payload...)
			r = &c
		}
		m.extra[i] = r
		switch r.Kind {
		case trace.KindOpen:
			if r.Open != nil {
				ci.Session, ci.URL = r.Open.Session, r.Open.URL
			}
		case trace.KindClose:
			row.from = sideCode(r.By)
			row.Code = uint16(r.Code)
			ci.Closed, ci.CloseCode, ci.CloseBy = true, r.Code, r.By
		case trace.KindHTTP:
			if r.HTTP != nil {
				ci.URL = r.HTTP.URL
				row.Code = uint16(r.HTTP.Status)
			}
		}
	}
	m.n++
	m.progress.Records++
}

// conn returns the index of connection id, creating it at row i.
func (m *Model) conn(id string, i int) uint32 {
	key := connKey(id, m.stream)
	if c, ok := m.connIdx[key]; ok {
		return c
	}
	c := uint32(len(m.conns))
	m.conns = append(m.conns, &Conn{ID: id, Key: key, Index: int(c), FirstRow: i})
	m.connIdx[key] = c
	return c
}

// connKey is a connection's Key in trace stream s.
func connKey(id string, s int) string {
	if s == 0 {
		return id
	}
	return id + "@" + strconv.Itoa(s+1)
}

func (m *Model) internType(t []byte) uint16 {
	if i, ok := m.typeIdx[string(t)]; ok {
		return i
	}
	if len(m.types) >= 65535 {
		return 0
	}
	i := uint16(len(m.types))
	s := string(t)
	m.types = append(m.types, s)
	m.typeIdx[s] = i
	return i
}

// envelope fills the row's protocol fields from the payload.
func (m *Model) envelope(row *Row, r *trace.Record, i int) {
	e := &m.env
	if protocol.DefaultModel.ParseInto(e, r.Payload) != nil {
		return
	}
	row.typ = m.internType(e.Type)
	if e.HasSeq {
		row.Seq, row.flags = e.Seq, row.flags|fHasSeq
	}
	if e.HasEventSeq {
		row.EventSeq, row.flags = e.EventSeq, row.flags|fHasEventSeq
	}
	if n := len(e.RequestID); n > 0 && n < 65536 {
		row.reqOff, row.reqLen = uint32(len(m.reqs)), uint16(n)
		m.reqs = append(m.reqs, e.RequestID...)
	}
	if len(e.ApprovalRequestID) > 0 {
		m.appr[i] = append([]byte(nil), e.ApprovalRequestID...)
	}
	m.stats.envelope(row, e)
}

// onFinding takes a finding from the checker: while loading (the checker
// runs on its own goroutine) it is buffered and attached after its batch;
// live (under the write lock) it is attached at once.
func (m *Model) onFinding(f analysis.Finding) {
	if m.buffering {
		m.found = append(m.found, f)
		return
	}
	m.attach(f)
}

// attach attaches a finding to its row (write lock held).
func (m *Model) attach(f analysis.Finding) {
	mf := Finding{Finding: f, Row: m.locate(f.File, f.Line), RelatedRow: -1}
	if f.RelatedLine != 0 {
		file := f.RelatedFile
		if file == "" {
			file = f.File
		}
		mf.RelatedRow = m.locate(file, f.RelatedLine)
	}
	if f.File == liveFileName {
		mf.File = ""
		mf.Line = 0
		if mf.Row >= 0 {
			mf.Line = m.row(mf.Row).Line
		}
	}
	if mf.Row >= 0 {
		r := m.row(mf.Row)
		if b, ok := m.ruleBit[f.Rule]; ok {
			r.rules |= 1 << uint(b)
		}
		m.conns[r.conn].Findings++
	} else if c, ok := m.connIdx[connKey(f.Conn, m.streams[f.File])]; ok {
		m.conns[c].Findings++
	}
	m.findings = append(m.findings, mf)
}

// locate returns the row of file's line, -1 when there is none.
func (m *Model) locate(file string, line int64) int {
	if line <= 0 {
		return -1
	}
	for fi := len(m.files) - 1; fi >= 0; fi-- {
		if m.files[fi] != file {
			continue
		}
		if file == liveFileName {
			if int(line) <= m.n {
				return int(line) - 1
			}
			return -1
		}
		lo, hi := m.fileStart[fi], m.n
		if fi+1 < len(m.fileStart) {
			hi = m.fileStart[fi+1]
		}
		j := lo + sort.Search(hi-lo, func(k int) bool { return m.row(lo+k).Line >= line })
		if j < hi && m.row(j).Line == line {
			return j
		}
		return -1
	}
	return -1
}
