package replay

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Kinds of report entries. Every kind but Matched is a divergence.
const (
	// Matched: a live frame matched the recorded one at Line.
	Matched = "matched"
	// Unexpected: a live frame matched nothing the recording expected.
	Unexpected = "unexpected"
	// Missing: the recorded frame (or socket) at Line never came.
	Missing = "missing"
	// OutOfOrder: the recorded frame at Line came after frames recorded
	// after it.
	OutOfOrder = "out_of_order"
	// Mismatch: a live frame matched the recorded one at Line by type but
	// differs from it (contents, socket, close code).
	Mismatch = "mismatch"
	// BadAck: the client acknowledged a seq that was never sent on that
	// socket, or (with RequireAcks) never acknowledged one that was.
	BadAck = "ack"
)

// Entry is one line of a report: a recorded frame matched by a live one,
// or a divergence.
type Entry struct {
	Kind string `json:"kind"`
	// Session is the session's number in the trace (1-based).
	Session int `json:"session"`
	// Line is the trace line of the recorded frame (0 when there is none,
	// as for an unexpected frame). File is its file when the trace has
	// several (Line is then the file's own line).
	File string `json:"file,omitempty"`
	Line int64  `json:"line,omitempty"`
	// Conn and Channel name the recorded socket.
	Conn    string `json:"conn,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Type is the recorded frame's type; Got the live frame's.
	Type string `json:"type,omitempty"`
	Got  string `json:"got,omitempty"`
	// RequestID is the recorded request_id, LiveRequestID the live one.
	RequestID     string `json:"request_id,omitempty"`
	LiveRequestID string `json:"live_request_id,omitempty"`
	// Reason explains a divergence.
	Reason string `json:"reason,omitempty"`
}

// Divergence reports whether the entry is one.
func (e Entry) Divergence() bool { return e.Kind != Matched }

func (e Entry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %d", e.Session)
	if e.Conn != "" {
		fmt.Fprintf(&b, " %s", e.Conn)
		if e.Channel != "" {
			fmt.Fprintf(&b, "(%s)", e.Channel)
		}
	}
	fmt.Fprintf(&b, ": %s", e.Kind)
	if e.Type != "" {
		fmt.Fprintf(&b, " %s", e.Type)
	}
	if e.Line > 0 && e.File != "" {
		fmt.Fprintf(&b, " (%s line %d)", e.File, e.Line)
	} else if e.Line > 0 {
		fmt.Fprintf(&b, " (trace line %d)", e.Line)
	}
	if e.Got != "" && e.Got != e.Type {
		fmt.Fprintf(&b, ", got %s", e.Got)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	return b.String()
}

// ConnReport is one recorded socket of a session and what became of it.
type ConnReport struct {
	Conn    string `json:"conn"`
	Channel string `json:"channel"`
	// Line is the trace line of the socket's open record.
	Line int64 `json:"line,omitempty"`
	// Connected reports whether a live socket took its place.
	Connected bool `json:"connected"`
	// Sent counts frames the replay sent on it; Unsent recorded frames it
	// could not send (socket closed or never connected).
	Sent   int `json:"sent"`
	Unsent int `json:"unsent,omitempty"`
	// SeqSent counts sent frames carrying a transport seq; Acked those the
	// client acknowledged; Unacked the rest at the end.
	SeqSent int `json:"seq_sent,omitempty"`
	Acked   int `json:"acked,omitempty"`
	Unacked int `json:"unacked,omitempty"`
	// CloseCode is the live close code (0 if still open or none).
	CloseCode int `json:"close_code,omitempty"`
}

// SessionReport is what happened while replaying one session.
type SessionReport struct {
	Session int    `json:"session"`
	Key     string `json:"key"`
	// FirstLine and LastLine bound the session's records in the trace.
	FirstLine int64        `json:"first_line"`
	LastLine  int64        `json:"last_line"`
	Conns     []ConnReport `json:"conns"`
	// Matched lists recorded frames matched by live ones; the other lists
	// are divergences. Each list holds at most Options.MaxEntries entries;
	// Counts are exact.
	Matched    []Entry `json:"matched"`
	Unexpected []Entry `json:"unexpected"`
	Missing    []Entry `json:"missing"`
	OutOfOrder []Entry `json:"out_of_order,omitempty"`
	Mismatch   []Entry `json:"mismatch,omitempty"`
	Acks       []Entry `json:"acks,omitempty"`
	Counts     Counts  `json:"counts"`
	// ConnectErrors lists the sockets Drive could not open: a failed
	// connection or a refused handshake. They are not divergences: the
	// replay could not run.
	ConnectErrors []ConnectError `json:"connect_errors,omitempty"`
	// Truncated is true when a list was cut at MaxEntries.
	Truncated bool `json:"truncated,omitempty"`
	// Done is true once the session's replay has ended.
	Done bool `json:"done"`
}

// ConnectError is a socket Drive could not open.
type ConnectError struct {
	Session int    `json:"session"`
	Conn    string `json:"conn"`
	Channel string `json:"channel,omitempty"`
	// URL is the URL dialled (tokens redacted).
	URL string `json:"url"`
	// Status and Body are the server's HTTP answer to the handshake (0
	// and "" when there was none: the connection failed).
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	// Err is the error.
	Err string `json:"error"`
}

func (c ConnectError) String() string {
	s := fmt.Sprintf("session %d %s(%s): cannot connect to %s: %s", c.Session, c.Conn, c.Channel, c.URL, c.Err)
	if c.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", c.Status)
		if b := strings.TrimSpace(c.Body); b != "" {
			s += ": " + strconv.Quote(b)
		}
		s += ")"
	}
	return s
}

// Counts are the sizes of a report's lists before truncation.
type Counts struct {
	Matched    int `json:"matched"`
	Unexpected int `json:"unexpected"`
	Missing    int `json:"missing"`
	OutOfOrder int `json:"out_of_order"`
	Mismatch   int `json:"mismatch"`
	Acks       int `json:"acks"`
	// Sent counts frames the replay sent.
	Sent int `json:"sent"`
}

// Divergences is the number of divergences counted.
func (c Counts) Divergences() int {
	return c.Unexpected + c.Missing + c.OutOfOrder + c.Mismatch + c.Acks
}

func (c *Counts) add(o Counts) {
	c.Matched += o.Matched
	c.Unexpected += o.Unexpected
	c.Missing += o.Missing
	c.OutOfOrder += o.OutOfOrder
	c.Mismatch += o.Mismatch
	c.Acks += o.Acks
	c.Sent += o.Sent
}

// Report is the outcome of a replay: one SessionReport per session served
// (or driven), in the order they started.
type Report struct {
	Trace string `json:"trace"`
	Mode  string `json:"mode"`
	// Target is the server Drive played against (empty for a Server).
	Target   string          `json:"target,omitempty"`
	Sessions []SessionReport `json:"sessions"`
	// NotServed lists the numbers of selected sessions no client took.
	NotServed []int  `json:"not_served,omitempty"`
	Totals    Counts `json:"totals"`
	// ConnectErrors lists every session's sockets Drive could not open.
	ConnectErrors []ConnectError `json:"connect_errors,omitempty"`
}

// Err returns an error naming the sockets Drive could not open (nil when
// there are none): the live server could not be compared with at all,
// which is not a divergence.
func (r *Report) Err() error {
	if len(r.ConnectErrors) == 0 {
		return nil
	}
	msgs := make([]string, len(r.ConnectErrors))
	for i, c := range r.ConnectErrors {
		msgs[i] = c.String()
	}
	return fmt.Errorf("replay: %d socket(s) could not connect: %s", len(msgs), strings.Join(msgs, "; "))
}

// Divergences is the total number of divergences.
func (r *Report) Divergences() int { return r.Totals.Divergences() }

// OK reports a replay without divergence.
func (r *Report) OK() bool { return r.Divergences() == 0 }

// All returns every divergence entry of every session, in session order.
func (r *Report) All() []Entry {
	var out []Entry
	for _, s := range r.Sessions {
		for _, l := range [][]Entry{s.Unexpected, s.Missing, s.OutOfOrder, s.Mismatch, s.Acks} {
			out = append(out, l...)
		}
	}
	return out
}

// String summarises the report in one line per session.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replay of %s (%s): %d matched, %d divergences", r.Trace, r.Mode, r.Totals.Matched, r.Divergences())
	for _, s := range r.Sessions {
		c := s.Counts
		fmt.Fprintf(&b, "\n  session %d %s: %d matched, %d unexpected, %d missing, %d out of order, %d mismatched, %d ack errors, %d sent",
			s.Session, s.Key, c.Matched, c.Unexpected, c.Missing, c.OutOfOrder, c.Mismatch, c.Acks, c.Sent)
	}
	if len(r.NotServed) > 0 {
		fmt.Fprintf(&b, "\n  sessions not served: %v", r.NotServed)
	}
	if n := len(r.ConnectErrors); n > 0 {
		fmt.Fprintf(&b, "\n  %d socket(s) could not connect: not compared", n)
	}
	return b.String()
}

// WriteFile writes the report as indented JSON.
func (r *Report) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// sessionLog is a session's report as it is built, safe to snapshot from
// other goroutines.
type sessionLog struct {
	mu    sync.Mutex
	rep   SessionReport
	max   int
	opts  *Options
	index *Index
}

func newSessionLog(x *Index, info *SessionInfo, opts *Options) *sessionLog {
	l := &sessionLog{max: opts.MaxEntries, opts: opts, index: x}
	l.rep = SessionReport{Session: info.Number, Key: info.Name(), FirstLine: info.FirstLine, LastLine: info.LastLine,
		Matched: []Entry{}, Unexpected: []Entry{}, Missing: []Entry{}}
	for _, c := range info.Conns {
		l.rep.Conns = append(l.rep.Conns, ConnReport{Conn: c.Conn, Channel: c.Channel, Line: c.Line})
	}
	return l
}

// add records an entry, logs divergences and calls the hook. Its Line is
// in the index's numbering; it is reported as a file's line.
func (l *sessionLog) add(e Entry) {
	if l.index != nil {
		e.File, e.Line = l.index.Locate(e.Line)
	}
	l.mu.Lock()
	var list *[]Entry
	c := &l.rep.Counts
	switch e.Kind {
	case Matched:
		list = &l.rep.Matched
		c.Matched++
	case Unexpected:
		list = &l.rep.Unexpected
		c.Unexpected++
	case Missing:
		list = &l.rep.Missing
		c.Missing++
	case OutOfOrder:
		list = &l.rep.OutOfOrder
		c.OutOfOrder++
	case Mismatch:
		list = &l.rep.Mismatch
		c.Mismatch++
	default:
		list = &l.rep.Acks
		c.Acks++
	}
	if len(*list) < l.max {
		*list = append(*list, e)
	} else {
		l.rep.Truncated = true
	}
	l.mu.Unlock()
	if e.Kind != Matched {
		l.opts.logf("replay: divergence: %s", e)
		if l.opts.OnDivergence != nil {
			l.opts.OnDivergence(e)
		}
	}
}

// update runs f on the report under the lock.
func (l *sessionLog) update(f func(r *SessionReport)) {
	l.mu.Lock()
	f(&l.rep)
	l.mu.Unlock()
}

// snapshot returns a deep copy of the report.
func (l *sessionLog) snapshot() SessionReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rep
	r.Conns = append([]ConnReport(nil), r.Conns...)
	r.Matched = append([]Entry{}, r.Matched...)
	r.Unexpected = append([]Entry{}, r.Unexpected...)
	r.Missing = append([]Entry{}, r.Missing...)
	r.OutOfOrder = append([]Entry(nil), r.OutOfOrder...)
	r.Mismatch = append([]Entry(nil), r.Mismatch...)
	r.Acks = append([]Entry(nil), r.Acks...)
	r.ConnectErrors = append([]ConnectError(nil), r.ConnectErrors...)
	return r
}

func buildReport(trace, mode, target string, logs []*sessionLog, notServed []int) *Report {
	r := &Report{Trace: trace, Mode: mode, Target: target, Sessions: []SessionReport{}, NotServed: notServed}
	for _, l := range logs {
		s := l.snapshot()
		r.Totals.add(s.Counts)
		r.ConnectErrors = append(r.ConnectErrors, s.ConnectErrors...)
		r.Sessions = append(r.Sessions, s)
	}
	return r
}
