// Package model is the inspector's UI-free model of traces: compact rows
// for every record (a million of them fit in a little over 100 MB),
// payloads kept compressed in blocks and decoded on demand, the checker's
// findings attached to their rows, connections grouped by session, and
// the searches the views need (filters, request/reply partners, findings
// in order, turns, statistics). It knows nothing about terminals.
//
// A Model is filled by one writer (Load reading files, or a live sink
// calling Add) while views read it; every method is safe for concurrent
// use. Rows are append-only: row i never changes once Len() > i, except
// for the findings attached to it.
package model

import (
	"sort"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Kinds, sides and opcodes of a Row, as small numbers.
const (
	kFrame uint8 = iota
	kOpen
	kClose
	kError
	kHTTP
	kLoss
	kHeader
	kFault
)

var kindNames = [...]trace.Kind{trace.KindFrame, trace.KindOpen, trace.KindClose, trace.KindError, trace.KindHTTP, trace.KindLoss, trace.KindHeader, trace.KindFault}

var sideNames = [...]trace.Side{"", trace.Client, trace.Server, trace.Proxy}

var opNames = [...]trace.Op{"", trace.OpText, trace.OpBinary, trace.OpPing, trace.OpPong, trace.OpClose}

func kindCode(k trace.Kind) uint8 {
	for i, n := range kindNames {
		if n == k {
			return uint8(i)
		}
	}
	return kError
}

func sideCode(s trace.Side) uint8 {
	for i, n := range sideNames {
		if n == s {
			return uint8(i)
		}
	}
	return 0
}

func opCode(o trace.Op) uint8 {
	for i, n := range opNames {
		if n == o {
			return uint8(i)
		}
	}
	return 0
}

// Row flags.
const (
	fHasSeq uint8 = 1 << iota
	fHasEventSeq
	fCompressed
	fRedacted
	fJSON
)

// Row is one record, compactly. Payloads live in the model's block store.
type Row struct {
	T        int64 // unix nanoseconds
	N        int64
	Seq      int64
	EventSeq int64
	Line     int64
	pBlock   uint32
	pOff     uint32
	pLen     uint32
	Size     uint32
	reqOff   uint32
	rules    uint32 // bit i: analysis rule i has a finding on this row
	reqLen   uint16
	typ      uint16
	conn     uint32
	file     uint16
	Code     uint16
	frames   uint16
	kind     uint8
	from     uint8
	op       uint8
	flags    uint8
}

// Kind returns the record's kind.
func (r *Row) Kind() trace.Kind { return kindNames[r.kind] }

// From returns the frame's sender (a close record's By).
func (r *Row) From() trace.Side { return sideNames[r.from] }

// Op returns the frame's opcode ("" for other kinds).
func (r *Row) Op() trace.Op { return opNames[r.op] }

// HasSeq reports a transport seq; HasEventSeq an event_seq.
func (r *Row) HasSeq() bool { return r.flags&fHasSeq != 0 }

// HasEventSeq reports an event_seq.
func (r *Row) HasEventSeq() bool { return r.flags&fHasEventSeq != 0 }

// Compressed reports permessage-deflate on the wire.
func (r *Row) Compressed() bool { return r.flags&fCompressed != 0 }

// Redacted reports that secrets were replaced in the record.
func (r *Row) Redacted() bool { return r.flags&fRedacted != 0 }

// WireFrames is how many wire frames the message came in.
func (r *Row) WireFrames() int {
	if r.frames == 0 {
		return 1
	}
	return int(r.frames)
}

// HasFindings reports findings on the row.
func (r *Row) HasFindings() bool { return r.rules != 0 }

// Time returns T as a time.
func (r *Row) Time() time.Time { return time.Unix(0, r.T).UTC() }

// Finding is a checker finding with the row it is about (-1 when it is
// about no row, e.g. a socket still open at the end) and the related row.
type Finding struct {
	analysis.Finding
	Row, RelatedRow int
}

// Conn is one connection: its records, bytes, times and findings.
type Conn struct {
	// ID is the connection id in its trace ("c2"); Key tells connections
	// of several traces apart: the ID in the first trace stream, "c2@2"
	// for the second stream (another run, not a rotated part) and so on.
	ID, Key string
	Session protocol.Session
	URL     string
	// Index is the open order (0-based); FirstRow its first record.
	Index, FirstRow int
	Frames          int
	Bytes           int64
	Start, End      time.Time
	Closed          bool
	CloseCode       int
	CloseBy         trace.Side
	Findings        int
}

// Progress is how far loading has come.
type Progress struct {
	// Files and File: how many files, and which is being read (1-based).
	Files, File int
	// Bytes read of Total (compressed file sizes).
	Bytes, Total int64
	Records      int64
	Done         bool
}

// Model holds traces for the inspector. See the package doc.
type Model struct {
	mu sync.RWMutex

	rows  [][]Row // chunks of chunkRows
	n     int
	extra map[int]*trace.Record // non-frame records
	appr  map[int][]byte        // approval_response inputs: the control_request id

	store blockStore
	reqs  []byte

	types   []string
	typeIdx map[string]uint16
	conns   []*Conn
	connIdx map[string]uint32 // by Key
	stream  int               // the current trace stream (files that are not continued parts start one)
	streams map[string]int    // file name → its stream

	files     []string
	fileStart []int // first row of each file

	engine    *analysis.Engine
	buffering bool               // findings go to found (the checker runs on the loader's goroutine)
	found     []analysis.Finding // owned by the checking goroutine while buffering
	findings  []Finding
	ruleIDs   []string
	ruleBit   map[string]int
	ruleSets  map[uint32][]string
	warnings  []string
	progress  Progress
	stats     statsAcc
	env       protocol.Envelope
	liveFile  int
	lastAdded time.Time
}

const chunkShift = 16
const chunkRows = 1 << chunkShift

// New returns an empty model whose checker uses cfg (Collect is forced).
func New(cfg analysis.Config) *Model {
	m := &Model{
		extra:    map[int]*trace.Record{},
		appr:     map[int][]byte{},
		typeIdx:  map[string]uint16{"": 0},
		types:    []string{""},
		connIdx:  map[string]uint32{},
		streams:  map[string]int{},
		ruleBit:  map[string]int{},
		ruleSets: map[uint32][]string{0: nil},
		liveFile: -1,
	}
	for i, r := range analysis.Rules() {
		m.ruleIDs = append(m.ruleIDs, r.ID)
		m.ruleBit[r.ID] = i
	}
	cfg.Collect = false
	cfg.OnFinding = m.onFinding
	m.engine = analysis.New(cfg)
	m.stats.init()
	return m
}

// Len returns the number of rows.
func (m *Model) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.n
}

func (m *Model) row(i int) *Row { return &m.rows[i>>chunkShift][i&(chunkRows-1)] }

// Row returns row i (0 <= i < Len()).
func (m *Model) Row(i int) Row {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return *m.row(i)
}

// Type returns row r's message type ("" when none).
func (m *Model) Type(r *Row) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.types[r.typ]
}

// ConnID returns row r's connection key (its id, with @N when several
// trace streams are open; see Conn).
func (m *Model) ConnID(r *Row) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.conns[r.conn].Key
}

// RequestID returns row r's request_id (nil when none).
func (m *Model) RequestID(r *Row) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return string(m.reqs[r.reqOff : r.reqOff+uint32(r.reqLen)])
}

// File returns the file row r was read from ("" for live rows).
func (m *Model) File(r *Row) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if int(r.file) == m.liveFile {
		return ""
	}
	return m.files[r.file]
}

// Rules returns the rule ids of the findings on row r.
func (m *Model) Rules(r *Row) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rulesOf(r.rules)
}

func (m *Model) rulesOf(mask uint32) []string {
	if s, ok := m.ruleSets[mask]; ok {
		return s
	}
	var s []string
	for i, id := range m.ruleIDs {
		if mask&(1<<uint(i)) != 0 {
			s = append(s, id)
		}
	}
	m.ruleSets[mask] = s
	return s
}

// Conns returns the connections, grouped by session (environment
// connection, agent, conversation) and then in open order.
func (m *Model) Conns() []Conn {
	m.mu.RLock()
	out := make([]Conn, len(m.conns))
	for i, c := range m.conns {
		out[i] = *c
	}
	m.mu.RUnlock()
	first := map[string]int{}
	for _, c := range out {
		k := sessionKey(c)
		if _, ok := first[k]; !ok {
			first[k] = c.Index
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := first[sessionKey(out[i])], first[sessionKey(out[j])]
		if a != b {
			return a < b
		}
		return out[i].Index < out[j].Index
	})
	return out
}

func sessionKey(c Conn) string {
	s := c.Session
	if s.ConnectionID == "" && s.AgentID == "" {
		return "\x00" + c.Key
	}
	return s.ConnectionID + "\x00" + s.AgentID + "\x00" + s.ConversationID
}

// SessionName names a connection's session for the list, e.g.
// "conn-1 agent-1/default".
func SessionName(c Conn) string {
	s := c.Session
	if s.ConnectionID == "" && s.AgentID == "" {
		if c.ID != "" && c.ID[0] == 'h' {
			return "HTTP"
		}
		return "(no session)"
	}
	name := s.ConnectionID
	if s.AgentID != "" {
		name += " " + s.AgentID
		if s.ConversationID != "" {
			name += "/" + s.ConversationID
		}
	}
	return name
}

// Findings returns every finding so far, in the order found.
func (m *Model) Findings() []Finding {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]Finding(nil), m.findings...)
}

// FindingCount returns the number of findings so far.
func (m *Model) FindingCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.findings)
}

// FindingsAt returns the findings about row i.
func (m *Model) FindingsAt(i int) []Finding {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if i < 0 || i >= m.n || m.row(i).rules == 0 {
		return nil
	}
	var out []Finding
	for _, f := range m.findings {
		if f.Row == i {
			out = append(out, f)
		}
	}
	return out
}

// Warnings returns what loading noticed without failing: cut files,
// skipped bad lines, records skipped by a live view.
func (m *Model) Warnings() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]string(nil), m.warnings...)
}

// Progress returns how far loading has come.
func (m *Model) Progress() Progress {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.progress
}

// Record returns row i as a trace record, payload included (decoded from
// its block).
func (m *Model) Record(i int) *trace.Record {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if i < 0 || i >= m.n {
		return nil
	}
	if r, ok := m.extra[i]; ok {
		return r
	}
	r := m.row(i)
	p := m.store.payload(r.pBlock, r.pOff, r.pLen)
	rec := &trace.Record{Kind: r.Kind(), T: r.Time(), Conn: m.conns[r.conn].ID, N: r.N, From: r.From(), Op: r.Op(),
		Payload: p, Size: int(r.Size), WireFrames: int(r.frames), Compressed: r.Compressed(), Redacted: r.Redacted(),
		Code: int(r.Code), Line: r.Line}
	rec.Form = trace.FormOf(rec.Op, p)
	return rec
}

// Payload returns row i's payload (a copy).
func (m *Model) Payload(i int) []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.extra[i]; ok {
		return r.Payload
	}
	r := m.row(i)
	return m.store.payload(r.pBlock, r.pOff, r.pLen)
}
