package view

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Stats are the numbers of one or more traces.
type Stats struct {
	Files   []string `json:"files"`
	Records int64    `json:"records"`
	Frames  int64    `json:"frames"`
	// Conns counts WebSocket connections (open records), HTTP plain
	// exchanges.
	Conns int `json:"connections"`
	HTTP  int `json:"http"`
	// Start and End are the first and last record times.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Types are the counts and payload bytes per message type (or opcode
	// for non-JSON frames) and direction, most frequent first.
	Types []TypeStat `json:"types"`
	// Latency is request → reply time per command type, by request_id on
	// the same connection.
	Latency []LatencyStat `json:"latency"`
	// Findings counts the checker's findings per rule; Errors and
	// Warnings per severity.
	Findings map[string]int `json:"findings"`
	Errors   int            `json:"errors"`
	Warnings int            `json:"warnings"`
}

// TypeStat is one row of Stats.Types.
type TypeStat struct {
	Type  string     `json:"type"`
	From  trace.Side `json:"from"`
	Count int64      `json:"count"`
	Bytes int64      `json:"bytes"`
}

// LatencyStat is one row of Stats.Latency; times in milliseconds.
type LatencyStat struct {
	Command string `json:"command"`
	// Answered requests, and Unanswered ones (no reply before their
	// connection closed or the trace ended).
	Answered   int     `json:"answered"`
	Unanswered int     `json:"unanswered"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
}

// maxPending bounds the requests waiting for a reply that a Collector
// remembers; older ones count as unanswered.
const maxPending = 1 << 20

// Collector is a trace.Sink that computes Stats.
type Collector struct {
	m       *protocol.Model
	s       Stats
	types   map[[2]string]*TypeStat
	pending *protocol.Pending[string, time.Time] // by connection
	lat     map[string][]time.Duration
	unans   map[string]int
}

// NewCollector returns an empty Collector classifying types with m (nil:
// protocol.DefaultModel).
func NewCollector(m *protocol.Model) *Collector {
	if m == nil {
		m = protocol.DefaultModel
	}
	return &Collector{m: m, types: map[[2]string]*TypeStat{}, pending: protocol.NewPending[string, time.Time](maxPending),
		lat: map[string][]time.Duration{}, unans: map[string]int{}}
}

// AddFile names a file the records come from.
func (c *Collector) AddFile(name string) { c.s.Files = append(c.s.Files, name) }

// Write counts r.
func (c *Collector) Write(r *trace.Record) error {
	if r.Kind == trace.KindHeader {
		return nil
	}
	c.s.Records++
	if c.s.Start.IsZero() || r.T.Before(c.s.Start) {
		c.s.Start = r.T
	}
	if r.T.After(c.s.End) {
		c.s.End = r.T
	}
	switch r.Kind {
	case trace.KindOpen:
		c.s.Conns++
	case trace.KindHTTP:
		c.s.HTTP++
	case trace.KindClose:
		c.closeConn(r.Conn)
	case trace.KindFrame:
		c.frame(r)
	}
	return nil
}

func (c *Collector) frame(r *trace.Record) {
	c.s.Frames++
	typ := string(r.Op)
	var e protocol.Envelope
	isMsg := r.Op == trace.OpText && r.IsJSONObject() && c.m.ParseInto(&e, r.Payload) == nil
	if isMsg && e.TypeString() != "" {
		typ = e.TypeString()
	}
	k := [2]string{typ, string(r.From)}
	ts := c.types[k]
	if ts == nil {
		ts = &TypeStat{Type: typ, From: r.From}
		c.types[k] = ts
	}
	ts.Count++
	ts.Bytes += int64(r.Size)
	if !isMsg {
		return
	}
	switch r.From {
	case trace.Client:
		waits, tracked, replaced := c.pending.Command(r.Conn, &e, r.T)
		if replaced != nil {
			c.unans[replaced.Info.Name]++ // its request_id was reused
		}
		if waits && !tracked {
			c.unans[e.Info.Name]++
		}
	case trace.Server:
		if q, ok := c.pending.Reply(r.Conn, &e); ok {
			c.lat[q.Info.Name] = append(c.lat[q.Info.Name], r.T.Sub(q.Data))
		}
	}
}

func (c *Collector) closeConn(conn string) {
	c.pending.Close(conn, func(q protocol.PendingRequest[time.Time]) { c.unans[q.Info.Name]++ })
}

// SetFindings records the checker's counts per rule and per severity.
func (c *Collector) SetFindings(counts map[string]int, errors, warnings int) {
	c.s.Findings, c.s.Errors, c.s.Warnings = counts, errors, warnings
}

// Result returns the statistics so far (requests still pending count as
// unanswered).
func (c *Collector) Result() *Stats {
	s := c.s
	unans := map[string]int{}
	for k, v := range c.unans {
		unans[k] = v
	}
	c.pending.Each(func(q protocol.PendingRequest[time.Time]) { unans[q.Info.Name]++ })
	s.Types = nil
	for _, t := range c.types {
		s.Types = append(s.Types, *t)
	}
	sort.Slice(s.Types, func(i, j int) bool {
		a, b := s.Types[i], s.Types[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.From < b.From
	})
	names := map[string]bool{}
	for k := range c.lat {
		names[k] = true
	}
	for k := range unans {
		names[k] = true
	}
	s.Latency = nil
	for n := range names {
		d := append([]time.Duration(nil), c.lat[n]...)
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		l := LatencyStat{Command: n, Answered: len(d), Unanswered: unans[n]}
		if len(d) > 0 {
			l.P50, l.P99, l.Max = ms(quantile(d, 0.50)), ms(quantile(d, 0.99)), ms(d[len(d)-1])
		}
		s.Latency = append(s.Latency, l)
	}
	sort.Slice(s.Latency, func(i, j int) bool { return s.Latency[i].Command < s.Latency[j].Command })
	if s.Findings == nil {
		s.Findings = map[string]int{}
	}
	return &s
}

// quantile is the nearest-rank quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	i := int(float64(len(d))*q+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteStatsJSON writes s as indented JSON.
func WriteStatsJSON(w io.Writer, s *Stats) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteStatsText writes s as tables for a person.
func WriteStatsText(w io.Writer, s *Stats, o Options) error {
	c := o.Color
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", paint(c, bold, "traces"), strings.Join(s.Files, ", "))
	fmt.Fprintf(&b, "  %d records, %d frames, %d connections, %d http exchanges, over %s\n\n",
		s.Records, s.Frames, s.Conns, s.HTTP, s.End.Sub(s.Start).Round(time.Millisecond))
	fmt.Fprintln(&b, paint(c, bold, "frames by type and direction"))
	fmt.Fprintf(&b, "  %-34s %-6s %8s %12s\n", "type", "from", "count", "bytes")
	for _, t := range s.Types {
		fmt.Fprintf(&b, "  %-34s %-6s %8d %12d\n", t.Type, t.From, t.Count, t.Bytes)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, paint(c, bold, "request → reply latency (ms), by request_id on the same connection"))
	if len(s.Latency) == 0 {
		fmt.Fprintln(&b, "  no requests with a request_id")
	} else {
		fmt.Fprintf(&b, "  %-34s %8s %10s %9s %9s %9s\n", "command", "answered", "unanswered", "p50", "p99", "max")
		for _, l := range s.Latency {
			fmt.Fprintf(&b, "  %-34s %8d %10d %9.3f %9.3f %9.3f\n", l.Command, l.Answered, l.Unanswered, l.P50, l.P99, l.Max)
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "%s %d errors, %d warnings\n", paint(c, bold, "findings"), s.Errors, s.Warnings)
	rules := make([]string, 0, len(s.Findings))
	for r := range s.Findings {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		fmt.Fprintf(&b, "  %-34s %8d\n", r, s.Findings[r])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
