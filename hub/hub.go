// Package hub numbers records as they are emitted and fans them out to
// any number of subscribers, each with its own goroutine, bounded queue
// and policy for falling behind:
//
//   - Lossless (the recorder, the live checker): when its queue is full,
//     Emit waits, so the relay slows down and backpressure reaches the
//     peers through TCP; memory stays bounded and nothing is dropped.
//   - Skip (viewers: the console, the inspector): records that do not fit
//     are skipped and the subscriber is told which (Skipper), so that it
//     can read them back from the trace; it never slows anyone down.
//   - Lossy (the proxy's -lossy): records that do not fit are dropped, and
//     the subscriber gets a loss record per connection and direction in
//     their place, so that what is missing is never silent.
//
// Records are immutable once emitted: every subscriber may keep them.
// Subscribers may attach and detach while records flow; each sees the
// records emitted while it was attached, in emission order.
package hub

import (
	"sync"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// Policy says what a subscriber's queue does when it is full.
type Policy int

// Policies.
const (
	// Lossless makes Emit wait for room: nothing is dropped.
	Lossless Policy = iota
	// Skip drops what does not fit and tells the sink (see Skipper).
	Skip
	// Lossy drops what does not fit and hands the sink loss records.
	Lossy
)

// String names the policy.
func (p Policy) String() string {
	switch p {
	case Lossless:
		return "lossless"
	case Skip:
		return "skip"
	case Lossy:
		return "lossy"
	}
	return "policy?"
}

// Skipper is implemented by sinks of Skip subscriptions that want to know
// what they missed: records numbered first to last (inclusive) were
// skipped. It is called on the subscription's goroutine, in order, before
// the record that follows the gap.
type Skipper interface {
	Skipped(first, last int64)
}

// Options configure a Hub.
type Options struct {
	// Stamp sets every emitted record's T to the hub's clock at emission,
	// so that a trace's line order and its times agree across connections
	// (the live proxy). Sources with times of their own (a capture) leave
	// it off.
	Stamp bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Hub numbers records and fans them out. Create it with New.
type Hub struct {
	opts Options

	mu     sync.Mutex
	n      int64
	subs   []*Subscription
	closed bool
}

// New returns a hub with no subscribers.
func New(o Options) *Hub {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Hub{opts: o}
}

// Emit numbers recs (in order, continuing the hub's sequence), stamps them
// if the hub stamps, and queues them for every subscriber. A record with a
// negative Frame (a fault record) refers to the record that many places
// after it in recs: Frame becomes that record's number. It returns once
// every lossless subscriber has room for them. Records emitted after Close
// are dropped.
func (h *Hub) Emit(recs ...*trace.Record) {
	if len(recs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	var now time.Time
	if h.opts.Stamp {
		now = h.opts.Now()
	}
	for _, r := range recs {
		h.n++
		r.N = h.n
		if r.Frame < 0 {
			r.Frame = r.N - r.Frame // a fault record's reference to a later record of this batch
		}
		if h.opts.Stamp {
			r.T = now
		}
	}
	size := batchBytes(recs)
	for _, s := range h.subs {
		s.enqueue(recs, size, now)
	}
}

// Subscribe attaches sink with its own goroutine and queue: it receives
// every record emitted from now on, in order, until the subscription or
// the hub is closed.
func (h *Hub) Subscribe(sink trace.Sink, o SubOptions) *Subscription {
	s := newSubscription(h, sink, o)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.Close()
		return s
	}
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	return s
}

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.subs {
		if x == s {
			h.subs = append(h.subs[:i:i], h.subs[i+1:]...)
			return
		}
	}
}

// Close stops the hub: later records are dropped, every subscription
// delivers what it has queued (Lossless and Lossy ones all of it), and
// Close returns when every subscriber's goroutine has ended.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	subs := h.subs
	h.subs = nil
	h.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// recordOverhead approximates a record's memory beside its payload.
const recordOverhead = 256

func batchBytes(recs []*trace.Record) int64 {
	n := int64(0)
	for _, r := range recs {
		n += int64(len(r.Payload)) + recordOverhead
	}
	return n
}
