package inspector

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/lettadev/wsproxy/inspector/model"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// Live is the inspector's sink on the record hub (a viewer that may
// skip): Write queues a copy of each record, Skipped notes the numbers
// the hub skipped for it, and on every refresh the App drains the queue
// into its model in record order, reading skipped records back from the
// trace file by their number N. It implements trace.Sink and
// hub.Skipper; Write never blocks on the UI.
type Live struct {
	mu      sync.Mutex
	pending []*trace.Record
	skips   []skip
	total   atomic.Int64

	// TracePath returns the trace file being written (read back from
	// when records were skipped); nil or "" means none.
	TracePath func() string
	// GiveUp is after how many refreshes a skipped range that cannot be
	// found in the trace is reported missing (default 25, ~5 s).
	GiveUp int
}

type skip struct {
	first, last int64
	tries       int
}

// NewLive returns a live sink reading skipped records back from the
// file tracePath returns.
func NewLive(tracePath func() string) *Live {
	return &Live{TracePath: tracePath}
}

// Write queues a copy of r.
func (l *Live) Write(r *trace.Record) error {
	c := *r
	c.Payload = append([]byte(nil), r.Payload...)
	l.mu.Lock()
	l.pending = append(l.pending, &c)
	l.mu.Unlock()
	return nil
}

// Skipped notes that records first..last were not delivered.
func (l *Live) Skipped(first, last int64) {
	l.total.Add(last - first + 1)
	l.mu.Lock()
	l.skips = append(l.skips, skip{first: first, last: last})
	l.mu.Unlock()
}

// SkippedTotal is how many records were skipped so far.
func (l *Live) SkippedTotal() int64 { return l.total.Load() }

// drain moves what arrived into m, in N order. Records after a skipped
// range wait until the range has been read back from the trace (or is
// given up on).
func (l *Live) drain(m *model.Model) {
	l.mu.Lock()
	pending := l.pending
	l.pending = nil
	skips := l.skips
	l.skips = nil
	l.mu.Unlock()

	giveUp := l.GiveUp
	if giveUp <= 0 {
		giveUp = 25
	}
	for len(skips) > 0 {
		s := &skips[0]
		// Everything before the hole goes in first.
		k := sort.Search(len(pending), func(i int) bool { return pending[i].N >= s.first })
		m.Add(pending[:k]...)
		pending = pending[k:]
		got, err := l.readBack(s.first, s.last)
		if err == nil && int64(len(got)) == s.last-s.first+1 {
			m.Add(got...)
		} else {
			s.tries++
			if s.tries < giveUp {
				break // try again on the next refresh; hold the rest back
			}
			m.Add(got...)
			why := "not in the trace"
			if err != nil {
				why = err.Error()
			}
			m.Warn(fmt.Sprintf("records %d-%d were skipped by the live view and %d of them could not be read back: %s",
				s.first, s.last, s.last-s.first+1-int64(len(got)), why))
		}
		skips = skips[1:]
	}
	if len(skips) > 0 {
		// Put the held-back records and ranges back, ahead of newer ones.
		l.mu.Lock()
		l.pending = append(pending, l.pending...)
		l.skips = append(skips, l.skips...)
		l.mu.Unlock()
		return
	}
	m.Add(pending...)
}

// readBack reads the records numbered first..last from the trace.
func (l *Live) readBack(first, last int64) ([]*trace.Record, error) {
	if l.TracePath == nil || l.TracePath() == "" {
		return nil, errors.New("no trace file to read skipped records from")
	}
	r, err := recorder.Open(l.TracePath())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []*trace.Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var le *recorder.LineError
			if errors.As(err, &le) {
				continue
			}
			return out, err
		}
		if rec.N > last {
			return out, nil
		}
		if rec.N >= first {
			out = append(out, rec)
		}
	}
}
