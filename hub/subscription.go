package hub

import (
	"fmt"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// DefaultQueueBytes bounds a subscriber's queue by default: payload bytes
// plus a per-record overhead.
const DefaultQueueBytes = 4 << 20

// SubOptions configure a subscription.
type SubOptions struct {
	// Name says who subscribes, for messages ("recorder", "checker").
	Name string
	// Policy is what happens when the queue is full (default Lossless).
	Policy Policy
	// QueueBytes bounds the queue (default DefaultQueueBytes). A batch
	// bigger than the bound is accepted into an empty queue.
	QueueBytes int64
	// Tick, if set, is called about every TickEvery (default 1 s) on the
	// subscription's goroutine with the hub's clock (a live checker fires
	// its timeouts there), and once more when it ends.
	Tick      func(now time.Time)
	TickEvery time.Duration
	// OnError is called on the subscription's goroutine when the sink's
	// Write fails with an error other than the previous one.
	OnError func(error)
	// Latency bounds how long a record may wait in the queue of an idle
	// subscriber before its goroutine is woken (default DefaultLatency;
	// negative: wake it at once). Waking a goroutine for every record costs
	// the relay more than the records themselves: batching them keeps
	// recording off the relay's critical path. A queue an eighth full wakes
	// it at once.
	Latency time.Duration
}

// DefaultLatency is how long records wait, at most, for an idle
// subscriber to be woken.
const DefaultLatency = 2 * time.Millisecond

// Stats are a subscription's counters.
type Stats struct {
	Delivered int64 // records written to the sink
	Skipped   int64 // records skipped (Skip) or dropped (Lossy)
	Waits     int64 // times Emit waited for room (Lossless)
}

// entry is a queued record, or (r nil) a gap: records first..last were
// skipped, or the loss records standing for dropped ones.
type entry struct {
	r           *trace.Record
	first, last int64
	size        int64
}

type lossKey struct {
	conn string
	from trace.Side
}

// Subscription is one subscriber: a sink, its queue and its goroutine.
type Subscription struct {
	h    *Hub
	sink trace.Sink
	o    SubOptions

	mu      sync.Mutex
	space   *sync.Cond // room was freed or the subscription is closing
	q       []entry
	spare   []entry
	bytes   int64
	closing bool
	// A full Skip or Lossy queue stays "behind" until it has drained to
	// half its bound, so that gaps come in runs, not one record in two.
	behind      bool
	gapFirst    int64
	gapLast     int64
	losses      map[lossKey]int64
	lossOrder   []lossKey
	stats       Stats
	sleeping    bool // the goroutine waits for a kick
	timer       *time.Timer
	timerArmed  bool
	kick        chan struct{}
	done        chan struct{}
	stopOnce    sync.Once
	testOnWait  func() // called when Emit starts waiting (tests)
	lastErr     string
	lastErrOnce bool
}

func newSubscription(h *Hub, sink trace.Sink, o SubOptions) *Subscription {
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.TickEvery <= 0 {
		o.TickEvery = time.Second
	}
	if o.Latency == 0 {
		o.Latency = DefaultLatency
	}
	s := &Subscription{h: h, sink: sink, o: o, kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.space = sync.NewCond(&s.mu)
	s.timer = time.AfterFunc(time.Hour, s.wake)
	s.timer.Stop()
	go s.run()
	return s
}

// enqueue runs under the hub's lock, so that every queue gets records in
// emission order.
func (s *Subscription) enqueue(recs []*trace.Record, size int64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	limit := s.o.QueueBytes
	full := s.bytes > 0 && s.bytes+size > limit
	switch s.o.Policy {
	case Lossless:
		if full {
			s.stats.Waits++
			if s.testOnWait != nil {
				s.testOnWait()
			}
			for !s.closing && s.bytes > 0 && s.bytes+size > limit {
				s.space.Wait()
			}
			if s.closing {
				return
			}
		}
	default:
		if s.behind && s.bytes <= limit/2 {
			s.behind = false
			s.endGap(now)
		}
		if s.behind || full {
			s.behind = true
			s.gap(recs)
			return
		}
	}
	for _, r := range recs {
		s.q = append(s.q, entry{r: r, size: int64(len(r.Payload)) + recordOverhead})
	}
	s.bytes += size
	if !s.sleeping {
		return
	}
	if s.o.Latency < 0 || s.bytes >= s.o.QueueBytes/8 {
		s.sleeping = false
		s.wake()
	} else if !s.timerArmed {
		s.timerArmed = true
		s.timer.Reset(s.o.Latency)
	}
}

// wake kicks the subscription's goroutine.
func (s *Subscription) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// gap counts records that do not fit.
func (s *Subscription) gap(recs []*trace.Record) {
	s.stats.Skipped += int64(len(recs))
	if s.gapFirst == 0 {
		s.gapFirst = recs[0].N
	}
	s.gapLast = recs[len(recs)-1].N
	if s.o.Policy != Lossy {
		return
	}
	if s.losses == nil {
		s.losses = map[lossKey]int64{}
	}
	for _, r := range recs {
		k := lossKey{r.Conn, r.From}
		if s.losses[k] == 0 {
			s.lossOrder = append(s.lossOrder, k)
		}
		s.losses[k]++
	}
}

// endGap queues what stands for the records of the gap that just ended:
// a skip marker, or loss records.
func (s *Subscription) endGap(now time.Time) {
	if s.gapFirst == 0 {
		return
	}
	if s.o.Policy == Lossy {
		for _, k := range s.lossOrder {
			n := s.losses[k]
			r := &trace.Record{Kind: trace.KindLoss, T: now, Conn: k.conn, From: k.from, Count: n,
				Message: fmt.Sprintf("%d records not recorded (records %d-%d of the trace): the %s fell behind", n, s.gapFirst, s.gapLast, s.name())}
			if r.Conn == "" {
				r.Conn = "proxy"
			}
			s.q = append(s.q, entry{r: r, size: recordOverhead})
			s.bytes += recordOverhead
		}
		s.losses, s.lossOrder = nil, nil
	} else {
		s.q = append(s.q, entry{first: s.gapFirst, last: s.gapLast})
	}
	s.gapFirst, s.gapLast = 0, 0
}

func (s *Subscription) name() string {
	if s.o.Name != "" {
		return s.o.Name
	}
	return "subscriber"
}

func (s *Subscription) run() {
	defer close(s.done)
	defer s.timer.Stop()
	var tick <-chan time.Time
	if s.o.Tick != nil {
		t := time.NewTicker(s.o.TickEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		s.mu.Lock()
		if len(s.q) == 0 && s.closing && s.behind {
			// Closing behind: say what was missed.
			s.behind = false
			s.endGap(s.h.opts.Now())
		}
		batch := s.q
		s.q, s.spare = s.spare[:0], nil
		closing := s.closing
		s.sleeping = len(batch) == 0 && !closing
		s.timerArmed = false
		s.mu.Unlock()

		if len(batch) == 0 {
			if closing {
				if s.o.Tick != nil {
					s.o.Tick(s.h.opts.Now())
				}
				return
			}
			select {
			case <-s.kick:
			case <-tick:
				s.o.Tick(s.h.opts.Now())
			}
			continue
		}
		freed, delivered := int64(0), int64(0)
		for i := range batch {
			e := &batch[i]
			if e.r != nil {
				s.write(e.r)
				delivered++
			} else if sk, ok := s.sink.(Skipper); ok {
				sk.Skipped(e.first, e.last)
			}
			freed += e.size
			*e = entry{}
		}
		s.mu.Lock()
		s.bytes -= freed
		s.stats.Delivered += delivered
		if s.spare == nil {
			s.spare = batch[:0]
		}
		s.space.Broadcast()
		s.mu.Unlock()
		select {
		case <-tick:
			s.o.Tick(s.h.opts.Now())
		default:
		}
	}
}

func (s *Subscription) write(r *trace.Record) {
	if s.sink == nil {
		return
	}
	if err := s.sink.Write(r); err != nil && s.o.OnError != nil {
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.o.OnError(err)
		}
	}
}

// Close detaches the subscription: records emitted from now on are not
// queued for it, what is queued is delivered, and Close returns when its
// goroutine has ended.
func (s *Subscription) Close() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.space.Broadcast()
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
		s.h.remove(s)
	})
	<-s.done
}

// Stats returns the subscription's counters.
func (s *Subscription) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Name returns the subscription's name.
func (s *Subscription) Name() string { return s.o.Name }
