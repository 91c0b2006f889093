package protocol

// Pending pairs replies with the commands they answer, as the model says:
// a command answered by request_id (TypeInfo.RepliesByRequestID) waits,
// per connection, until a reply of one of its accepted types echoes its
// request_id. Latency statistics (wsproxy stats, the inspector) are built
// on it; the checker's rules (timeouts, alternatives, optional replies)
// are analysis's. K names a connection, T is what the caller keeps per
// request (a time, a row). The zero value is not usable: call NewPending.
type Pending[K comparable, T any] struct {
	max int
	m   map[pendingKey[K]]PendingRequest[T]
}

// PendingRequest is a command waiting for its reply.
type PendingRequest[T any] struct {
	Info *TypeInfo // the command's row in the model
	Data T
}

type pendingKey[K comparable] struct {
	conn K
	id   string
}

// NewPending returns an empty Pending remembering at most limit requests at
// once (0: no bound).
func NewPending[K comparable, T any](limit int) *Pending[K, T] {
	return &Pending[K, T]{max: limit, m: map[pendingKey[K]]PendingRequest[T]{}}
}

// Command notes a message the client sent on conn. It reports whether the
// message is a command that waits for a reply (tracked is false when the
// bound is reached: the caller may count it as unanswered), and the
// request it replaces when the request_id was still waiting (reused).
func (p *Pending[K, T]) Command(conn K, e *Envelope, data T) (waits, tracked bool, replaced *PendingRequest[T]) {
	if !e.Info.RepliesByRequestID() || len(e.RequestID) == 0 {
		return false, false, nil
	}
	k := pendingKey[K]{conn, string(e.RequestID)}
	if old, ok := p.m[k]; ok {
		replaced = &old
	} else if p.max > 0 && len(p.m) >= p.max {
		return true, false, nil
	}
	p.m[k] = PendingRequest[T]{Info: e.Info, Data: data}
	return true, true, replaced
}

// Reply notes a message the server sent on conn: when it answers a
// waiting command (same request_id, an accepted reply type), that request
// is returned and no longer waits.
func (p *Pending[K, T]) Reply(conn K, e *Envelope) (PendingRequest[T], bool) {
	if len(e.RequestID) == 0 {
		return PendingRequest[T]{}, false
	}
	k := pendingKey[K]{conn, string(e.RequestID)}
	q, ok := p.m[k]
	if !ok || !q.Info.Accepts(e.TypeString()) {
		return PendingRequest[T]{}, false
	}
	delete(p.m, k)
	return q, true
}

// Close forgets conn's waiting requests, passing each to f (nil: just
// forget): the connection ended, they were never answered.
func (p *Pending[K, T]) Close(conn K, f func(PendingRequest[T])) {
	for k, q := range p.m {
		if k.conn == conn {
			if f != nil {
				f(q)
			}
			delete(p.m, k)
		}
	}
}

// Each passes every waiting request to f.
func (p *Pending[K, T]) Each(f func(PendingRequest[T])) {
	for _, q := range p.m {
		f(q)
	}
}

// Len returns how many requests wait.
func (p *Pending[K, T]) Len() int { return len(p.m) }
