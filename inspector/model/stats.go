package model

import (
	"slices"
	"sort"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// statsAcc accumulates statistics while rows are added.
type statsAcc struct {
	pending *protocol.Pending[uint32, pend] // by connection
	lat     map[uint16][]time.Duration
}

type typeDir struct {
	typ  uint16
	from uint8
	op   uint8
}

type pend struct {
	t   int64
	cmd uint16
}

// maxPending bounds the requests waiting for a reply that are remembered
// for latencies.
const maxPending = 1 << 16

func (s *statsAcc) init() {
	s.pending = protocol.NewPending[uint32, pend](maxPending)
	s.lat = map[uint16][]time.Duration{}
}

// envelope pairs a protocol frame (after its type is known) with the
// request it answers, as the protocol model says.
func (s *statsAcc) envelope(r *Row, e *protocol.Envelope) {
	switch r.from {
	case sideCode(trace.Client):
		s.pending.Command(r.conn, e, pend{r.T, r.typ})
	case sideCode(trace.Server):
		if q, ok := s.pending.Reply(r.conn, e); ok {
			s.lat[q.Data.cmd] = append(s.lat[q.Data.cmd], time.Duration(r.T-q.Data.t))
		}
	}
}

// Count is a number of frames and their bytes.
type Count struct {
	Frames int
	Bytes  int64
}

// TypeStat is the traffic of one message type in one direction.
type TypeStat struct {
	Type string // message type, or the opcode for frames without one ("ping", "binary"…)
	From string
	Count
}

// Latency is the request→reply latency of one command.
type Latency struct {
	Command       string
	N             int
	P50, P99, Max time.Duration
	// Histogram counts the latencies in Buckets (upper bounds).
	Histogram []int
}

// Buckets are the upper bounds of the latency histogram.
var Buckets = []time.Duration{100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond,
	100 * time.Millisecond, time.Second, 10 * time.Second, time.Duration(1<<63 - 1)}

// Stats are counts per type and direction and latencies per command.
type Stats struct {
	Types     []TypeStat
	Latencies []Latency
	// All sums Types; Findings counts findings.
	All      Count
	Findings int
}

// Stats computes the statistics of every row so far.
func (m *Model) Stats() Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	counts := map[typeDir]*Count{}
	var st Stats
	for i := 0; i < m.n; i++ {
		r := m.row(i)
		if r.kind != kFrame {
			continue
		}
		k := typeDir{r.typ, r.from, r.op}
		c := counts[k]
		if c == nil {
			c = &Count{}
			counts[k] = c
		}
		c.Frames++
		c.Bytes += int64(r.Size)
		st.All.Frames++
		st.All.Bytes += int64(r.Size)
	}
	for k, c := range counts {
		name := m.types[k.typ]
		if name == "" {
			name = "(" + string(opNames[k.op]) + ")"
		}
		st.Types = append(st.Types, TypeStat{Type: name, From: string(sideNames[k.from]), Count: *c})
	}
	sort.Slice(st.Types, func(i, j int) bool {
		a, b := st.Types[i], st.Types[j]
		if a.Frames != b.Frames {
			return a.Frames > b.Frames
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.From < b.From
	})
	for cmd, ls := range m.stats.lat {
		ls = slices.Clone(ls)
		slices.Sort(ls)
		l := Latency{Command: m.types[cmd], N: len(ls), P50: quantile(ls, 0.50), P99: quantile(ls, 0.99), Max: ls[len(ls)-1],
			Histogram: make([]int, len(Buckets))}
		for _, d := range ls {
			b := sort.Search(len(Buckets), func(i int) bool { return d <= Buckets[i] })
			l.Histogram[b]++
		}
		st.Latencies = append(st.Latencies, l)
	}
	sort.Slice(st.Latencies, func(i, j int) bool {
		if st.Latencies[i].N != st.Latencies[j].N {
			return st.Latencies[i].N > st.Latencies[j].N
		}
		return st.Latencies[i].Command < st.Latencies[j].Command
	})
	st.Findings = len(m.findings)
	return st
}

// quantile returns the q quantile of sorted ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(q*float64(len(ds))+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(ds) {
		i = len(ds) - 1
	}
	return ds[i]
}
