package inspector

import (
	"errors"
	"fmt"
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

	// The trace file followed for read-backs (the App's goroutine only).
	tail     *recorder.Tail
	tailPath string
}

type skip struct {
	first, last int64
	tries       int
	got         []*trace.Record // read back so far
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
// given up on). drain runs on the App's goroutine only.
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
		err := l.readBack(s)
		if err == nil && int64(len(s.got)) == s.last-s.first+1 {
			m.Add(s.got...)
		} else {
			s.tries++
			if s.tries < giveUp {
				break // try again on the next refresh; hold the rest back
			}
			m.Add(s.got...)
			why := "not in the trace"
			if err != nil {
				why = err.Error()
			}
			m.Warn(fmt.Sprintf("records %d-%d were skipped by the live view and %d of them could not be read back: %s",
				s.first, s.last, s.last-s.first+1-int64(len(s.got)), why))
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

// readBack adds to s.got the records of s's range that the trace holds
// by now. It follows the trace file from where the last call stopped
// (records are in N order in it, and ranges come in N order), so reading
// back costs what was written since, not the whole file again; when the
// trace moves to a new file (rotation) the old one is read to the range's
// end first.
func (l *Live) readBack(s *skip) error {
	path := ""
	if l.TracePath != nil {
		path = l.TracePath()
	}
	if path == "" {
		return errors.New("no trace file to read skipped records from")
	}
	keep := func(r *trace.Record) {
		if r.N >= s.first && r.N <= s.last {
			s.got = append(s.got, r)
		}
	}
	if l.tail != nil && l.tailPath != path {
		err := l.tail.ReadUpTo(s.last, keep)
		l.tail.Close()
		l.tail = nil
		if err != nil {
			return err
		}
	}
	if l.tail == nil {
		t, err := recorder.OpenTail(path)
		if err != nil {
			return err
		}
		l.tail, l.tailPath = t, path
	}
	return l.tail.ReadUpTo(s.last, keep)
}

// Close closes the trace file followed for read-backs.
func (l *Live) Close() error {
	if l.tail == nil {
		return nil
	}
	err := l.tail.Close()
	l.tail = nil
	return err
}
