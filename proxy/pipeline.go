package proxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/trace"
)

// pipeline carries records from the relay goroutines to the sink on one
// goroutine, in arrival order, through a queue bounded in bytes: pushing
// never blocks, and what does not fit is dropped and counted.
type pipeline struct {
	sink        trace.Sink
	keepSecrets bool
	tick        func(time.Time)
	limit       int64
	logf        func(string, ...any)
	now         func() time.Time

	mu      sync.Mutex
	cond    *sync.Cond
	queue   [][]*trace.Record
	bytes   int64
	closed  bool
	dropped atomic.Int64

	lastErr   string // sink goroutine only
	lastErrAt time.Time

	done chan struct{}
}

func newPipeline(sink trace.Sink, tick func(time.Time), limit int64, keepSecrets bool, logf func(string, ...any), now func() time.Time) *pipeline {
	p := &pipeline{sink: sink, tick: tick, limit: limit, keepSecrets: keepSecrets, logf: logf, now: now, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	go p.run()
	return p
}

func recordBytes(recs []*trace.Record) int64 {
	n := int64(0)
	for _, r := range recs {
		n += int64(len(r.Payload)) + 256
	}
	return n
}

// push queues a batch of records; it never blocks.
func (p *pipeline) push(recs []*trace.Record) {
	if len(recs) == 0 {
		return
	}
	size := recordBytes(recs)
	p.mu.Lock()
	if p.closed || p.bytes+size > p.limit {
		closed := p.closed
		p.mu.Unlock()
		if !closed {
			if p.dropped.Add(int64(len(recs))) == int64(len(recs)) {
				p.logf("wsproxy: RECORDING FELL BEHIND: the trace sink is too slow; records are being dropped (relaying goes on)")
			}
		}
		return
	}
	// Records are stamped here, under the lock, so that the trace's line
	// order and its times agree across connections and directions. A
	// relay pushes a frame's record before forwarding its bytes, so a
	// reply is always stamped after the frame that caused it.
	now := p.now()
	for _, r := range recs {
		r.T = now
	}
	p.queue = append(p.queue, recs)
	p.bytes += size
	p.cond.Signal()
	p.mu.Unlock()
}

// close drains the queue into the sink and stops the goroutine.
func (p *pipeline) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.cond.Signal()
	}
	p.mu.Unlock()
	<-p.done
}

func (p *pipeline) run() {
	defer close(p.done)
	stopTicker := make(chan struct{})
	defer close(stopTicker)
	// A ticker goroutine wakes the loop once a second for Tick and for the
	// dropped-records report.
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.mu.Lock()
				p.cond.Signal()
				p.mu.Unlock()
			case <-stopTicker:
				return
			}
		}
	}()
	var reported int64
	lastTick := time.Time{}
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed && time.Since(lastTick) < time.Second {
			p.cond.Wait()
		}
		batches := p.queue
		p.queue = nil
		closed := p.closed
		p.mu.Unlock()

		for _, b := range batches {
			for _, r := range b {
				p.write(r)
			}
			p.mu.Lock()
			p.bytes -= recordBytes(b)
			p.mu.Unlock()
		}
		if d := p.dropped.Load(); d > reported {
			p.write(&trace.Record{Kind: trace.KindError, T: p.now(), Conn: "proxy",
				Message: fmt.Sprintf("recording fell behind: %d records dropped so far (relaying was not affected)", d)})
			p.logf("wsproxy: %d records dropped so far: the trace sink cannot keep up", d)
			reported = d
		}
		if now := time.Now(); now.Sub(lastTick) >= time.Second {
			lastTick = now
			if p.tick != nil {
				p.tick(p.now())
			}
		}
		if closed {
			p.mu.Lock()
			empty := len(p.queue) == 0
			p.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

func (p *pipeline) write(r *trace.Record) {
	if r.Kind == trace.KindFrame {
		if r.Op == trace.OpText && !p.keepSecrets {
			if red, ok := redact.JSON(r.Payload); ok {
				r.Payload, r.Redacted = red, true
			}
		}
		if r.Form == trace.FormAuto {
			r.Form = trace.FormOf(r.Op, r.Payload)
		}
	}
	if p.sink == nil {
		return
	}
	if err := p.sink.Write(r); err != nil {
		// Say it loudly, but once per distinct error per 10 s.
		if msg := err.Error(); msg != p.lastErr || time.Since(p.lastErrAt) > 10*time.Second {
			p.logf("wsproxy: RECORDING FAILED (relaying goes on): %v", err)
			p.lastErr, p.lastErrAt = msg, time.Now()
		}
	}
}
