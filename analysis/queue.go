package analysis

import (
	"container/heap"
	"hash/maphash"
	"math"
)

// queue is a FIFO over a slice, compacted as its head advances.
type queue[T any] struct {
	items []T
	head  int
}

func (q *queue[T]) len() int { return len(q.items) - q.head }

func (q *queue[T]) push(v T) {
	if q.head > 0 && q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 64 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, v)
}

// front returns a pointer to the oldest item; the queue must not be empty.
func (q *queue[T]) front() *T { return &q.items[q.head] }

func (q *queue[T]) at(i int) *T { return &q.items[q.head+i] }

func (q *queue[T]) pop() T {
	v := q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return v
}

// reset empties the queue and drops its storage.
func (q *queue[T]) reset() { q.items, q.head = nil, 0 }

// never is the deadline of nothing.
const never = int64(math.MaxInt64)

// owner is a socket or session with deadlines: expire fires what is due at
// now and returns its next deadline (never if none).
type owner interface {
	slot() *timerSlot
	expire(e *Engine, now int64) int64
}

// timerSlot is an owner's place in the timer heap: the deadline it is
// queued for, so that stale heap entries can be skipped.
type timerSlot struct {
	at     int64
	queued bool
}

func (s *timerSlot) slot() *timerSlot { return s }

type timerEntry struct {
	at int64
	o  owner
}

// timers is a min-heap of owners by deadline, with lazy deletion: an owner
// is in it at most once per distinct earlier deadline.
type timers []timerEntry

func (h timers) Len() int           { return len(h) }
func (h timers) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timers) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timers) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timers) Pop() any {
	old := *h
	n := len(old)
	v := old[n-1]
	old[n-1] = timerEntry{}
	*h = old[:n-1]
	return v
}

// schedule makes sure o's expire runs once now reaches at.
func (h *timers) schedule(o owner, at int64) {
	if at == never {
		return
	}
	s := o.slot()
	if s.queued && s.at <= at {
		return
	}
	s.at, s.queued = at, true
	heap.Push(h, timerEntry{at, o})
}

// next returns the earliest queued deadline.
func (h timers) next() int64 {
	if len(h) == 0 {
		return never
	}
	return h[0].at
}

// fire runs the owners whose deadline is at or before now.
func (h *timers) fire(e *Engine, now int64) {
	for len(*h) > 0 && (*h)[0].at <= now {
		x := heap.Pop(h).(timerEntry)
		s := x.o.slot()
		if !s.queued || s.at != x.at {
			continue // stale
		}
		s.queued = false
		h.schedule(x.o, x.o.expire(e, now))
	}
}

// hashSeed makes the 64-bit hashes of ids and payloads. Hashes only stand
// in for ids in bounded memory; a collision (about 2^-40 for a full
// window) could hide one duplicate.
var hashSeed = maphash.MakeSeed()

func hashBytes(b []byte) uint64 { return maphash.Bytes(hashSeed, b) }

// window is a set of recent 64-bit keys with a value each, forgetting the
// oldest beyond its capacity.
type window[V any] struct {
	m    map[uint64]V
	ring []uint64
	pos  int
	cap  int
}

func newWindow[V any](capacity int) window[V] {
	return window[V]{cap: capacity}
}

func (w *window[V]) get(k uint64) (V, bool) {
	v, ok := w.m[k]
	return v, ok
}

// add inserts k (which must not be present), evicting the oldest key when
// full.
func (w *window[V]) add(k uint64, v V) {
	if w.m == nil {
		w.m = make(map[uint64]V, min(w.cap, 256))
	}
	if len(w.ring) < w.cap {
		w.ring = append(w.ring, k)
	} else {
		delete(w.m, w.ring[w.pos])
		w.ring[w.pos] = k
		w.pos++
		if w.pos == len(w.ring) {
			w.pos = 0
		}
	}
	w.m[k] = v
}

func (w *window[V]) set(k uint64, v V) { w.m[k] = v }
