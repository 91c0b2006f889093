package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/protocol"
)

var errTimeout = errors.New("timed out")

// request is one command sent, with its reply once it comes.
type request struct {
	id       string
	typ      string
	info     *protocol.TypeInfo
	sess     *session
	scripted bool
	done     chan struct{}
	reply    *frame
	err      error
	finished bool
	timedOut bool
}

func (q *request) finish(f *frame, err error) {
	if q.finished {
		return
	}
	q.finished = true
	q.reply, q.err = f, err
	close(q.done)
}

// wantsRequestID reports whether a command is matched by request_id.
func wantsRequestID(info *protocol.TypeInfo) bool {
	return info.RepliesByRequestID()
}

// startRequest sends a command on the session's control socket (the
// only socket in single mode), filling in runtime and request_id. It runs
// on the loop.
func (r *run) startRequest(cmd map[string]any, kind string, scripted bool) (*request, error) {
	typ, _ := cmd["type"].(string)
	info := r.c.model().Lookup(typ)
	s := r.sess
	if s == nil || s.broken {
		return nil, errDisconnected
	}
	if info != nil && info.NeedsRuntime {
		if _, ok := cmd["runtime"]; !ok {
			cmd["runtime"] = map[string]any{"agent_id": r.agentID, "conversation_id": r.convID}
		}
	}
	q := &request{typ: typ, info: info, sess: s, scripted: scripted, done: make(chan struct{})}
	if wantsRequestID(info) {
		if id, ok := cmd["request_id"].(string); ok && id != "" {
			q.id = id
		} else {
			r.nreq++
			q.id = fmt.Sprintf("%s-%s-%d", kind, r.prefix, r.nreq)
			if scripted {
				r.scripted++
				if n := r.c.Inject.ReuseRequestIDEvery; n > 0 && r.scripted%n == 0 && r.lastScripted != "" {
					q.id = r.lastScripted
					r.addFault(Fault{Knob: KnobReuseRequestID, Rule: faults.RuleDuplicateRequestID, Subject: q.id,
						ConnectionID: s.control.connID, Channel: s.control.channel, Socket: s.control.ordinal,
						Detail: fmt.Sprintf("%s reuses the request_id of the previous request", typ)})
				}
			}
			cmd["request_id"] = q.id
		}
		if scripted {
			r.lastScripted = q.id
		}
	}
	data, err := marshalCommand(cmd)
	if err != nil {
		return nil, err
	}
	if q.id != "" {
		r.pending[q.id] = q
		r.used[q.id] = q
	}
	if err := r.sendOn(s.control, typ, data); err != nil {
		delete(r.pending, q.id)
		return nil, err
	}
	r.rep.RequestsSent++
	if q.id == "" {
		r.rep.NoReplyExpected++
	}
	r.commandTypes[typ] = true
	return q, nil
}

// marshalCommand writes type and request_id first, then the other fields
// sorted.
func marshalCommand(cmd map[string]any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	put := func(k string, v any) error {
		val, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("client: field %s: %w", k, err)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(val)
		return nil
	}
	keys := make([]string, 0, len(cmd))
	for k := range cmd {
		if k != "type" && k != "request_id" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	keys = append([]string{"type", "request_id"}, keys...)
	for _, k := range keys {
		v, ok := cmd[k]
		if !ok {
			continue
		}
		if err := put(k, v); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// onReply matches a reply (or an error event) to its request by
// request_id.
func (r *run) onReply(f *frame) {
	id := string(f.env.RequestID)
	q := r.pending[id]
	if q == nil {
		switch u := r.used[id]; {
		case u == nil:
			r.rep.Orphans = append(r.rep.Orphans, id)
			r.c.logf("client: orphan %s with request_id %q", f.typ, id)
		case u.timedOut || errors.Is(u.err, errDisconnected):
			r.rep.LateReplies = append(r.rep.LateReplies, id)
		default:
			r.rep.failf("second reply %s to request %s (%s)", f.typ, id, u.typ)
		}
		return
	}
	delete(r.pending, id)
	switch {
	case f.typ == "error":
		r.rep.DeviceErrors++
		q.finish(f, fmt.Errorf("device error: %s", errorText(f)))
		if !q.scripted {
			r.rep.failf("%s %s: device error: %s", q.typ, id, errorText(f))
		}
	case q.info != nil && q.info.Accepts(f.typ):
		r.rep.RepliesMatched++
		q.finish(f, nil)
		if !q.scripted {
			var v struct {
				Success  *bool  `json:"success"`
				Accepted *bool  `json:"accepted"`
				Error    string `json:"error"`
			}
			f.decode(&v)
			if (v.Success != nil && !*v.Success) || (v.Accepted != nil && !*v.Accepted) {
				r.rep.failf("%s %s refused: %s", q.typ, id, v.Error)
			}
		}
	default:
		r.rep.WrongReplies++
		err := fmt.Errorf("reply %s is not an accepted reply to %s", f.typ, q.typ)
		r.rep.failf("%s %s: %v", q.typ, id, err)
		q.finish(f, err)
	}
}

// await waits for a request's reply, failing it after timeout.
func (r *run) await(q *request, timeout time.Duration) (*frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
		if err := r.exec(func() {
			if !q.finished {
				q.timedOut = true
				delete(r.pending, q.id)
				q.finish(nil, errTimeout)
			}
		}); err != nil {
			return nil, err
		}
		<-q.done
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	}
	return q.reply, q.err
}

// waitFor registers a waiter (on the loop) and returns it.
func (r *run) addWaiter(match func(*frame) bool) *waiter {
	w := &waiter{match: match, ch: make(chan *frame, 1)}
	r.waiters = append(r.waiters, w)
	return w
}

func (r *run) dropWaiter(w *waiter) {
	r.exec(func() {
		for i, x := range r.waiters {
			if x == w {
				r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
				return
			}
		}
	})
}

// wait waits for a waiter's frame, the session's loss, or the timeout.
func (r *run) wait(w *waiter, s *session, timeout time.Duration) (*frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f := <-w.ch:
		return f, nil
	case <-s.lost:
		r.dropWaiter(w)
		return nil, errDisconnected
	case <-t.C:
		r.dropWaiter(w)
		select {
		case f := <-w.ch:
			return f, nil
		default:
		}
		return nil, errTimeout
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	}
}

// barrier fences the session: a ping on each socket in turn (control
// first), each waiting for its pong. The relay answers a ping after
// everything it sent on that socket before, and the device carries out a
// command before reading the next frame, so afterwards every frame caused
// by earlier commands has arrived. Without pings it waits for GapGrace.
func (r *run) barrier() error {
	if r.c.Inject.NeverPing {
		return sleepCtx(r.ctx, r.c.gapGrace())
	}
	s := r.current()
	if s == nil {
		return errDisconnected
	}
	for _, k := range s.socks {
		ch := make(chan struct{})
		ok := false
		r.exec(func() { ok = r.ping(k, func() { close(ch) }) })
		if !ok {
			return errDisconnected
		}
		t := time.NewTimer(r.c.requestTimeout())
		select {
		case <-ch:
		case <-s.lost:
			t.Stop()
			return errDisconnected
		case <-t.C:
			r.exec(func() { r.rep.failf("no pong on %s within %v", k.name(), r.c.requestTimeout()) })
		case <-r.ctx.Done():
			t.Stop()
			return r.ctx.Err()
		}
		t.Stop()
	}
	return nil
}

// drain waits until the effects of the syncs the loop sent on its own
// (after attaching, after gaps) have arrived, which each sync's fence
// tells. Steps then start from a settled session, which keeps a run's
// message sequence reproducible. Without pings it waits for GapGrace.
func (r *run) drain() error {
	ch := make(chan struct{})
	gen := 0
	var s *session
	r.exec(func() {
		gen, s = r.syncGen, r.sess
		if s == nil || s.unsettled == 0 {
			close(ch)
		} else {
			r.drainWait = append(r.drainWait, ch)
		}
	})
	if r.c.Inject.NeverPing {
		if gen == r.drained {
			return nil
		}
		r.drained = gen
		return sleepCtx(r.ctx, r.c.gapGrace())
	}
	if s == nil {
		return nil
	}
	t := time.NewTimer(r.c.requestTimeout())
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return nil
	case <-s.lost:
		return errDisconnected
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}
