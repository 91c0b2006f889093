package load

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Relay is a plain TCP relay: for each accepted connection it dials the
// target and copies bytes both ways with two io.Copy goroutines. It is
// the floor for any proxy hop.
type Relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewRelay relays connections accepted on ln to target (a loopback
// host:port).
func NewRelay(ln net.Listener, target string) (*Relay, error) {
	if err := loopbackHost(target); err != nil {
		return nil, fmt.Errorf("relay target: %w", err)
	}
	return &Relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}, nil
}

// Addr is the address the relay listens on.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// Serve accepts connections until Close.
func (r *Relay) Serve() error {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("relay: accept: %w", err)
		}
		if !r.track(c) {
			c.Close()
			return nil
		}
		r.wg.Add(1)
		go r.relay(c) // owned by r: Close closes c and waits
	}
}

func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

func (r *Relay) relay(client net.Conn) {
	defer r.wg.Done()
	defer r.untrack(client)
	up, err := net.DialTimeout("tcp", r.target, 10*time.Second)
	if err != nil {
		return
	}
	if !r.track(up) {
		up.Close()
		return
	}
	defer r.untrack(up)
	done := make(chan struct{})
	go func() { // client → upstream; ends when either side does
		io.Copy(up, client)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		close(done)
	}()
	io.Copy(client, up)
	if tc, ok := client.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	<-done
}

// Close stops accepting, closes every connection and waits for the
// relaying goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	err := r.ln.Close()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}
