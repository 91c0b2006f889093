package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/protocol"
)

// csock is one status WebSocket of a session.
type csock struct {
	conn    *websocket.Conn
	connID  string
	channel string // control, stream or single
	ordinal int
	sess    *session
	wmu     sync.Mutex
	closing atomic.Bool
	done    chan struct{} // closed when the reader exits

	// Owned by the loop.
	pings, pongs int
	lastEvent    int64
	barriers     []barrierWait
}

type barrierWait struct {
	target int
	fn     func()
}

func (k *csock) name() string { return k.channel + "#" + strconv.Itoa(k.ordinal) }

func (k *csock) write(data []byte, timeout time.Duration) error {
	k.wmu.Lock()
	defer k.wmu.Unlock()
	k.conn.SetWriteDeadline(time.Now().Add(timeout))
	return k.conn.WriteMessage(websocket.TextMessage, data)
}

// session is one attachment: a socket per channel.
type session struct {
	n       int
	socks   []*csock
	control *csock // where commands go
	lost    chan struct{}
	broken  bool
	// unsettled counts the loop's syncs whose fence has not completed.
	unsettled int
	code      int
	text      string
}

// dialError carries the HTTP status of a refused handshake.
type dialError struct {
	status int
	err    error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dialAll opens one socket per channel; on failure it closes the ones it
// opened.
func (r *run) dialAll() ([]*csock, error) {
	var socks []*csock
	fail := func(err error) ([]*csock, error) {
		for _, k := range socks {
			k.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "attach failed"),
				time.Now().Add(time.Second))
			k.conn.Close()
			r.track(k, false)
		}
		return nil, err
	}
	for _, ch := range r.c.channels() {
		u := r.statusURL(ch)
		conn, resp, err := r.dialer().DialContext(r.ctx, u, r.header())
		if err != nil {
			status, body := 0, ""
			if resp != nil {
				status = resp.StatusCode
				body = bodyStart(resp.Body)
				resp.Body.Close()
			}
			return fail(&dialError{status, fmt.Errorf("client: dial %s: %w%s", redact(u), err, body)})
		}
		name := ch
		if name == "" {
			name = protocol.ChannelNameSingle
		}
		key := r.connID + "#" + name
		r.ordinals[key]++
		k := &csock{conn: conn, connID: r.connID, channel: name, ordinal: r.ordinals[key], done: make(chan struct{})}
		r.track(k, true)
		socks = append(socks, k)
	}
	return socks, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attach dials the session's sockets with retries and backoff, then
// installs it: readers, heartbeat, sync.
func (r *run) attach(reconnect bool) error {
	max := r.c.MaxReconnects
	if max <= 0 {
		max = 5
	}
	backoff := r.c.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	backoffMax := r.c.BackoffMax
	if backoffMax <= 0 {
		backoffMax = 30 * time.Second
	}
	var delay time.Duration
	for failures := 0; ; failures++ {
		if err := sleepCtx(r.ctx, delay); err != nil {
			return err
		}
		socks, err := r.dialAll()
		if err == nil {
			return r.install(socks, reconnect)
		}
		var de *dialError
		if errors.As(err, &de) {
			switch de.status {
			case http.StatusUnauthorized, http.StatusForbidden:
				return fmt.Errorf("%w: %w", err, ErrGaveUp)
			case http.StatusNotFound:
				if rerr := r.resolve(true); rerr != nil {
					return fmt.Errorf("%w (after %w)", rerr, err)
				}
			}
		}
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		r.c.logf("client: attach failed (%d): %v", failures+1, err)
		if failures+1 >= max {
			return fmt.Errorf("client: %d attach attempts failed, last: %w: %w", failures+1, err, ErrGaveUp)
		}
		if delay == 0 {
			delay = backoff
		} else {
			delay = min(2*delay, backoffMax)
		}
	}
}

// install makes socks the current session.
func (r *run) install(socks []*csock, reconnect bool) error {
	return r.exec(func() {
		r.attaches++
		s := &session{n: r.attaches, socks: socks, control: socks[0], lost: make(chan struct{})}
		for _, k := range socks {
			k.sess = s
			if k.channel == protocol.ChannelNameControl {
				s.control = k
			}
		}
		if r.gaps.connID != r.connID {
			r.gaps = gapTracker{connID: r.connID}
			r.keys = map[string]uint64{}
		}
		r.gaps.barrier = false
		r.sess = s
		r.answered = map[string]bool{}
		r.rep.ConnectionID = r.connID
		if reconnect {
			r.rep.Reconnects++
		}
		for _, k := range socks {
			r.wg.Add(1)
			go r.read(k)
		}
		r.c.logf("client: attached session %d to %s (%d sockets)", s.n, r.connID, len(socks))
		if r.c.Inject.NeverPing {
			for _, k := range socks {
				r.addFault(Fault{Knob: KnobNeverPing, Rule: faults.RuleMissingHeartbeat, ConnectionID: r.connID,
					Channel: k.channel, Socket: k.ordinal, Detail: "socket never sends a ping"})
			}
		} else if r.pingTicker == nil {
			r.pingTicker = time.NewTicker(r.c.pingInterval())
		}
		// The sync's fence pings every socket: the heartbeat on attach.
		if r.c.Inject.NoSync {
			r.addFault(Fault{Knob: KnobNoSync, Rule: faults.RuleNoSyncOnAttach, ConnectionID: r.connID,
				Channel: s.control.channel, Socket: s.control.ordinal, Detail: fmt.Sprintf("attach %d sent no sync", s.n)})
			for _, k := range socks {
				r.ping(k, nil)
			}
		} else {
			r.sendSync("attach")
		}
	})
}

// read is a socket's reader goroutine: it acks every sequenced frame on
// the socket that delivered it, then hands the frame to the loop.
func (r *run) read(k *csock) {
	defer r.wg.Done()
	defer close(k.done)
	for {
		mt, data, err := k.conn.ReadMessage()
		if err != nil {
			r.deliver(inbound{sock: k, err: err})
			return
		}
		env, perr := r.c.model().Parse(data)
		if perr == nil && env.HasSeq {
			switch {
			case k.closing.Load():
				knob, why := "late-frame", "frame arrived after the client sent its close frame"
				if r.c.Inject.NeverPing {
					knob, why = KnobNeverPing, why+" (no ping barrier to wait for it)"
				}
				r.addFault(Fault{Knob: knob, Rule: faults.RuleUnackedSeq, Subject: strconv.FormatInt(env.Seq, 10),
					ConnectionID: k.connID, Channel: k.channel, Socket: k.ordinal, Detail: why})
			case r.skipAck(k, env.Seq):
				r.addFault(Fault{Knob: KnobSkipAck, Rule: faults.RuleUnackedSeq, Subject: strconv.FormatInt(env.Seq, 10),
					ConnectionID: k.connID, Channel: k.channel, Socket: k.ordinal,
					Detail: fmt.Sprintf("%s not acked", env.TypeString())})
			default:
				ack := []byte(`{"type":"ack","seq":` + strconv.FormatInt(env.Seq, 10) + `}`)
				if err := k.write(ack, r.c.requestTimeout()); err == nil {
					r.rmu.Lock()
					r.rep.AcksSent++
					r.rmu.Unlock()
				}
			}
		}
		r.deliver(inbound{sock: k, mt: mt, data: data, env: env, perr: perr})
	}
}

func (r *run) skipAck(k *csock, seq int64) bool {
	f := &r.c.Inject
	if f.SkipAckChannel != "" && f.SkipAckChannel != k.channel {
		return false
	}
	if f.SkipAckEvery > 0 && seq%int64(f.SkipAckEvery) == 0 {
		return true
	}
	for _, s := range f.SkipAckSeqs {
		if s == seq {
			return true
		}
	}
	return false
}

func (r *run) deliver(x inbound) {
	select {
	case r.in <- x:
	case <-r.ctx.Done():
	}
}

// current returns the current session (nil when none).
func (r *run) current() *session {
	var s *session
	r.exec(func() { s = r.sess })
	return s
}

// closeSession closes the current session's sockets with 1000. With
// quiesce it first fences them with ping barriers so that no sequenced
// frame is still on its way (and so unacked) when the close frame goes.
func (r *run) closeSession(quiesce bool) {
	s := r.current()
	if s == nil {
		return
	}
	if _, broken := r.sessionState(); quiesce && !broken {
		r.settleGaps()
		err := r.drain()
		if err == nil {
			err = r.barrier()
		}
		if err == nil {
			err = r.drain()
		}
		if err != nil {
			r.c.logf("client: close barrier: %v", err)
		}
	}
	for _, k := range s.socks {
		k.closing.Store(true)
		k.wmu.Lock()
		k.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "client done"),
			time.Now().Add(time.Second))
		k.wmu.Unlock()
	}
	for _, k := range s.socks {
		t := time.NewTimer(2 * time.Second)
		select {
		case <-k.done:
		case <-t.C:
		}
		t.Stop()
		k.conn.Close()
		r.track(k, false)
	}
	r.exec(func() {
		if r.sess == s {
			r.sess = nil
		}
	})
}

// track records the sockets that are open, so that a run ended early
// (context cancelled) still closes every one.
func (r *run) track(k *csock, open bool) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if open {
		r.live[k] = true
	} else {
		delete(r.live, k)
	}
}

// closeAll closes whatever sockets are still open.
func (r *run) closeAll() {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	for k := range r.live {
		k.closing.Store(true)
		k.conn.Close()
		delete(r.live, k)
	}
}

// recover re-attaches after the session was lost: 1008 means the
// environment re-registered under a new connectionId (look it up again),
// 1000 "Replaced by new connection" means stop; anything else reconnects
// with backoff.
func (r *run) recover() error {
	s := r.current()
	if s == nil {
		return r.attach(true)
	}
	code, text := s.code, s.text
	r.closeSession(false)
	switch {
	case code == websocket.ClosePolicyViolation:
		r.c.logf("client: closed with 1008 (%s): looking the environment up again", text)
		if err := r.resolve(true); err != nil {
			return err
		}
	case code == websocket.CloseNormalClosure && strings.Contains(strings.ToLower(text), "replaced by new connection"):
		return fmt.Errorf("client: replaced by a new connection: %w", ErrGaveUp)
	}
	return r.attach(true)
}

// finish ends the run's session.
func (r *run) finish(quiesce bool) {
	r.closeSession(quiesce)
	r.exec(func() {
		if r.pingTicker != nil {
			r.pingTicker.Stop()
		}
		if r.graceTimer != nil {
			r.graceTimer.Stop()
		}
	})
}
