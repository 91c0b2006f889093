package proxy

import (
	"crypto/rand"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lettadev/wsproxy/inject"
	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// endpoint is one side of a relayed connection as a destination: the relay
// of the other direction writes to it, and the proxy may inject a close
// frame into it, but only between frames.
type endpoint struct {
	mu         sync.Mutex
	c          net.Conn
	stall      time.Duration // bound on one write (0: none)
	mask       bool          // frames the proxy writes here must be masked (upstream)
	atBoundary bool          // bytes written so far end at a frame boundary
	closeSent  bool          // a close frame was written to it (relayed or injected)
	stalled    bool          // a write was given up while it accepted nothing
	deadline   time.Time     // the write deadline set on c
	closed     atomic.Bool
}

// watchEvery is how long a write may block before the relay looks at its
// own source (see relay.watch).
const watchEvery = 250 * time.Millisecond

// errSourceEnded abandons a blocked write: the relay's source ended (or
// sent its close frame) while its destination accepted nothing.
var errSourceEnded = errors.New("source ended while the write was blocked")

// write forwards relayed bytes; boundary tells whether they end a frame.
// While the peer accepts nothing, watch is called every watchEvery (it
// returns true to abandon the write, see relay.watch); a peer that accepts
// nothing for the stall timeout fails the write with
// os.ErrDeadlineExceeded.
func (e *endpoint) write(b []byte, boundary bool, watch func() bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return net.ErrClosed
	}
	if len(b) == 0 {
		return nil
	}
	var stallAt time.Time
	for {
		now := time.Now()
		deadline := now.Add(watchEvery)
		if e.stall > 0 {
			if stallAt.IsZero() {
				stallAt = now.Add(e.stall)
			}
			if stallAt.Before(deadline) {
				deadline = stallAt
			}
		}
		// Moving the deadline costs more than the write of a small frame:
		// keep the one set while it is still more than half a watch away.
		if e.deadline.Sub(now) < watchEvery/2 || deadline.Before(e.deadline) {
			e.c.SetWriteDeadline(deadline)
			e.deadline = deadline
		}
		n, err := e.c.Write(b)
		b = b[n:]
		if err == nil {
			e.atBoundary = boundary
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if n > 0 {
			stallAt = time.Time{} // progress: the peer is slow, not stalled
		} else if e.stall > 0 && !time.Now().Before(stallAt) {
			e.stalled = true
			return err
		}
		if watch != nil && watch() {
			e.stalled = n == 0
			return errSourceEnded
		}
	}
}

// injectClose writes a close frame of the proxy's own if the stream is
// between frames, no close was sent yet, and no write is in progress (a
// stalled peer must not hold up the proxy). It reports whether it did.
func (e *endpoint) injectClose(code uint16, reason string) bool {
	if !e.mu.TryLock() {
		return false
	}
	defer e.mu.Unlock()
	// A peer that just accepted nothing for a while gets no close frame:
	// the write would only wait out its deadline.
	if e.closed.Load() || e.closeSent || !e.atBoundary || e.stalled {
		return false
	}
	if len(reason) > 123 {
		reason = reason[:123]
	}
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Masked: e.mask}
	if e.mask {
		rand.Read(h.MaskKey[:])
	}
	frame := wsframe.AppendFrame(nil, h, wsframe.ClosePayload(code, reason))
	e.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := e.c.Write(frame)
	e.c.SetWriteDeadline(time.Time{})
	e.deadline = time.Time{}
	e.closeSent = true
	return err == nil
}

func (e *endpoint) markCloseSent() {
	e.mu.Lock()
	e.closeSent = true
	e.mu.Unlock()
}

// closeWrite half-closes the endpoint after a normal close handshake.
func (e *endpoint) closeWrite() {
	if e.closed.Load() {
		return
	}
	if cw, ok := e.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// close closes the socket at once, even while a write to it is blocked
// (which it ends).
func (e *endpoint) close() {
	if !e.closed.Swap(true) {
		e.c.Close()
	}
}

// conn is one relayed WebSocket connection.
type conn struct {
	p        *Proxy
	id       string
	client   *endpoint // what the client receives
	upstream *endpoint // what the upstream receives
	tap      *tap.Conn

	mu         sync.Mutex
	closes     int // sides that sent a close frame
	graceTimer *time.Timer
	causeBy    trace.Side // set when the proxy ended the connection
	causeCode  int
	causeWhy   string
	endOnce    sync.Once
	cutOnce    sync.Once
	done       chan struct{} // closed when both relays have returned

	faults *inject.Conn  // fault rules' state; nil: relay untouched
	cutCh  chan struct{} // closed when the connection is cut
}

func newConn(p *Proxy, id string, client, upstream net.Conn, t *tap.Conn) *conn {
	return &conn{
		p:        p,
		id:       id,
		client:   &endpoint{c: client, atBoundary: true, stall: p.opts.StallTimeout},
		upstream: &endpoint{c: upstream, mask: true, atBoundary: true, stall: p.opts.StallTimeout},
		tap:      t,
		done:     make(chan struct{}),
		cutCh:    make(chan struct{}),
	}
}

// run relays both directions until they end, then records the close. It
// uses its own goroutine for one direction and one more for the other.
func (c *conn) run(clientEarly, serverEarly []byte) {
	defer c.p.untrack(c)
	toUpstream := &relay{c: c, from: trace.Client, src: c.client.c, dst: c.upstream, early: clientEarly, tap: c.tap.Stream(trace.Client)}
	toClient := &relay{c: c, from: trace.Server, src: c.upstream.c, dst: c.client, early: serverEarly, tap: c.tap.Stream(trace.Server)}
	other := make(chan struct{})
	if c.faults != nil {
		go func() {
			defer close(other)
			toClient.runFaults(c.faults)
			c.relayDone()
		}()
		toUpstream.runFaults(c.faults)
	} else {
		go func() {
			defer close(other)
			toClient.run()
			c.relayDone()
		}()
		toUpstream.run()
	}
	c.relayDone()
	<-other
	c.mu.Lock()
	if c.graceTimer != nil {
		c.graceTimer.Stop()
	}
	c.mu.Unlock()
	close(c.done)
	c.cut()
	c.end()
}

// relayDone is called as each direction ends. Once one is over, the other
// gets CloseGrace to finish (the close handshake, a last frame) before
// the connection is cut.
func (c *conn) relayDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.graceTimer == nil {
		c.graceTimer = time.AfterFunc(c.p.opts.CloseGrace, c.cut)
	}
}

// sawClose notes a close frame relayed from one side. Once both sides
// have sent one, the close handshake is complete: the peers get
// CloseGrace to end the TCP connection themselves before it is cut.
func (c *conn) sawClose(from trace.Side) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closes++
	if c.closes == 2 && c.graceTimer == nil {
		c.graceTimer = time.AfterFunc(c.p.opts.CloseGrace, c.cut)
	}
}

// end records the connection's close once, when both relays are over. A
// close the proxy caused (see cause) wins over the peers' close frames.
func (c *conn) end() {
	c.endOnce.Do(func() {
		c.mu.Lock()
		by, code, reason := c.causeBy, c.causeCode, c.causeWhy
		c.mu.Unlock()
		c.p.emit(c.tap.Close(c.p.opts.Now(), by, code, reason))
	})
}

// cause notes that the proxy (or a vanished peer) ended the connection,
// unless something already did: a peer's close frame tells the story of
// a connection already closing.
func (c *conn) cause(by trace.Side, code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, _, _ := c.tap.FirstClose(); c.causeBy == "" && first == "" {
		c.causeBy, c.causeCode, c.causeWhy = by, code, reason
	}
}

// abort ends the connection because of the proxy or a vanished peer:
// close frames to both sides where the stream allows, then the sockets.
func (c *conn) abort(by trace.Side, code uint16, reason string) {
	c.cause(by, int(code), reason)
	c.client.injectClose(code, reason)
	c.upstream.injectClose(code, reason)
	c.cut()
}

// goingAway is the proxy shutting down: 1001 to both sides, a grace for
// the close handshakes, then the sockets are cut.
func (c *conn) goingAway() {
	c.cause(trace.Proxy, 1001, "proxy shutting down")
	c.client.injectClose(1001, "proxy shutting down")
	c.upstream.injectClose(1001, "proxy shutting down")
	t := time.NewTimer(c.p.opts.CloseGrace)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	c.cut()
}

// cut closes both sockets, which ends both relays.
func (c *conn) cut() {
	c.cutOnce.Do(func() {
		close(c.cutCh)
		c.client.close()
		c.upstream.close()
	})
}
