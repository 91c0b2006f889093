// Package memnet is an in-memory network for tests: stream connections
// that behave like loopback TCP (buffered in both directions, read and
// write deadlines, half-close) and a listener to dial them through.
//
// It makes no system call, so a goroutine blocked on a memnet connection is
// durably blocked in the sense of testing/synctest: code that talks over a
// network (the simulator's HTTP server, the reference client's WebSocket
// dialer) runs inside a synctest bubble, on the bubble's fake clock. Its
// timeouts then fire in virtual time, when everything else has run, so a
// test's outcome no longer depends on how busy the machine is.
package memnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DefaultBuffer is the bytes a connection buffers in each direction before
// a write waits for the peer to read, about what loopback TCP holds.
const DefaultBuffer = 1 << 20

// Network is the net.Addr network name of memnet addresses.
const Network = "memnet"

// Addr is a memnet address: a host:port string that means nothing outside
// the Listener it names.
type Addr string

// Network returns "memnet".
func (Addr) Network() string { return Network }

// String returns the address.
func (a Addr) String() string { return string(a) }

// deadline is one direction's deadline on a buffer.
type deadline struct {
	at    time.Time
	timer *time.Timer
}

func (d *deadline) passed() bool { return !d.at.IsZero() && !time.Now().Before(d.at) }

// buffer carries one direction of a connection. Every state change is
// broadcast on cond, which waiting readers and writers recheck.
type buffer struct {
	mu     sync.Mutex
	cond   sync.Cond
	data   []byte
	limit  int
	eof    bool // the writer shut its side: reads drain, then io.EOF
	broken bool // the reader closed: writes fail
	// The writer's write deadline and the reader's read deadline.
	wdl, rdl deadline
}

func newBuffer(limit int) *buffer {
	b := &buffer{limit: limit}
	b.cond.L = &b.mu
	return b
}

// set moves deadline d (of b) to t, waking whoever waits so that a
// deadline in the past takes effect at once.
func (b *buffer) set(d *deadline, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.at = t
	if wait := time.Until(t); !t.IsZero() && wait > 0 {
		d.timer = time.AfterFunc(wait, func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
	}
	b.cond.Broadcast()
}

func (b *buffer) stopTimers() {
	for _, d := range []*deadline{&b.wdl, &b.rdl} {
		if d.timer != nil {
			d.timer.Stop()
			d.timer = nil
		}
	}
}

// Conn is one end of an in-memory stream connection. It is safe for
// concurrent use, like a net.TCPConn.
type Conn struct {
	in, out       *buffer
	local, remote Addr

	mu     sync.Mutex
	closed bool
}

var _ net.Conn = (*Conn)(nil)

// Pipe returns the two ends of a new connection that buffers up to limit
// bytes in each direction (DefaultBuffer when limit ≤ 0). a's local
// address is la, b's is lb.
func Pipe(la, lb Addr, limit int) (a, b *Conn) {
	if limit <= 0 {
		limit = DefaultBuffer
	}
	ab, ba := newBuffer(limit), newBuffer(limit)
	return &Conn{in: ba, out: ab, local: la, remote: lb}, &Conn{in: ab, out: ba, local: lb, remote: la}
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: Network, Source: c.local, Addr: c.remote, Err: err}
}

// Read reads what the peer wrote, waiting for it; io.EOF once the peer
// closed or shut its write side and everything it wrote was read.
func (c *Conn) Read(p []byte) (int, error) {
	b := c.in
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		switch {
		case c.isClosed():
			return 0, c.opError("read", net.ErrClosed)
		case len(b.data) > 0:
			n := copy(p, b.data)
			b.data = b.data[n:]
			if len(b.data) == 0 {
				b.data = nil
			}
			b.cond.Broadcast()
			return n, nil
		case len(p) == 0:
			return 0, nil
		case b.eof:
			return 0, io.EOF
		case b.rdl.passed():
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		b.cond.Wait()
	}
}

// Write writes all of p, waiting while the peer's buffer is full; it fails
// once the peer closed (EPIPE), after CloseWrite, or at the write deadline
// with what it wrote so far.
func (c *Conn) Write(p []byte) (int, error) {
	b := c.out
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for {
		switch {
		case c.isClosed():
			return n, c.opError("write", net.ErrClosed)
		case b.eof:
			return n, c.opError("write", errors.New("write after CloseWrite"))
		case b.broken:
			return n, c.opError("write", syscall.EPIPE)
		case b.wdl.passed():
			return n, c.opError("write", os.ErrDeadlineExceeded)
		case n == len(p):
			return n, nil
		}
		if room := b.limit - len(b.data); room > 0 {
			k := min(room, len(p)-n)
			b.data = append(b.data, p[n:n+k]...)
			n += k
			b.cond.Broadcast()
			continue
		}
		b.cond.Wait()
	}
}

// CloseWrite shuts the write side: the peer reads what is buffered, then
// io.EOF; this end can still read.
func (c *Conn) CloseWrite() error {
	if c.isClosed() {
		return c.opError("close", net.ErrClosed)
	}
	b := c.out
	b.mu.Lock()
	b.eof = true
	b.cond.Broadcast()
	b.mu.Unlock()
	return nil
}

// Close closes the connection: this end's pending and later reads and
// writes fail, the peer reads what was buffered and then io.EOF, and the
// peer's writes fail.
func (c *Conn) Close() error {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if already {
		return c.opError("close", net.ErrClosed)
	}
	in, out := c.in, c.out
	in.mu.Lock()
	in.broken = true
	in.data = nil
	in.stopTimers()
	in.cond.Broadcast()
	in.mu.Unlock()
	out.mu.Lock()
	out.eof = true
	out.stopTimers()
	out.cond.Broadcast()
	out.mu.Unlock()
	return nil
}

// LocalAddr returns this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline (zero: none).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.in.set(&c.in.rdl, t)
	return nil
}

// SetWriteDeadline sets the write deadline (zero: none).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.out.set(&c.out.wdl, t)
	return nil
}

// Listener accepts the connections dialled to its address. Create one
// with Listen.
type Listener struct {
	addr  Addr
	limit int
	conns chan *Conn
	done  chan struct{}
	once  sync.Once

	mu    sync.Mutex
	dials int
}

var _ net.Listener = (*Listener)(nil)

// Listen returns a listener at addr, a host:port such as "sim.test:80"
// (the address URLs name and dialers are asked for). Its connections
// buffer DefaultBuffer bytes each way.
func Listen(addr string) *Listener {
	return &Listener{addr: Addr(addr), limit: DefaultBuffer, conns: make(chan *Conn), done: make(chan struct{})}
}

// Accept waits for the next dialled connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: Network, Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close stops accepting: pending and later dials are refused. Accepted
// connections stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.addr }

// Dial connects to the listener, waiting until it accepts. It has the
// signature of net.Dialer.DialContext (for http.Transport.DialContext and
// websocket.Dialer.NetDialContext); address must be the listener's,
// anything else is refused, as a closed listener is.
func (l *Listener) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	refused := func() error {
		return &net.OpError{Op: "dial", Net: network, Addr: Addr(address), Err: syscall.ECONNREFUSED}
	}
	if address != string(l.addr) {
		return nil, refused()
	}
	l.mu.Lock()
	l.dials++
	local := Addr("memnet-client:" + strconv.Itoa(l.dials))
	l.mu.Unlock()
	a, b := Pipe(local, l.addr, l.limit)
	select {
	case l.conns <- b:
		return a, nil
	case <-l.done:
		return nil, refused()
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: network, Addr: Addr(address), Err: ctx.Err()}
	}
}
