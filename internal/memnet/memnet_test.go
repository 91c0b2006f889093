package memnet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/nettest"

	"github.com/lettadev/wsproxy/internal/memnet"
)

// The connections pass the standard net.Conn conformance tests
// (deadlines, close unblocking reads and writes, concurrent use, data
// integrity under load).
func TestConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := memnet.Pipe("a:1", "b:1", 0)
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

// A small buffer backpressures the writer until the reader catches up,
// and nothing is lost or reordered.
func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := memnet.Pipe("a:1", "b:1", 8)
		defer a.Close()
		defer b.Close()
		msg := []byte(strings.Repeat("0123456789", 10))
		wrote := make(chan error, 1)
		go func() {
			_, err := a.Write(msg)
			wrote <- err
		}()
		synctest.Wait()
		select {
		case err := <-wrote:
			t.Fatalf("a 100-byte write into an 8-byte buffer returned (%v) with no reader", err)
		default:
		}
		got, err := io.ReadAll(io.LimitReader(b, int64(len(msg))))
		if err != nil || string(got) != string(msg) {
			t.Fatalf("read %q, %v", got, err)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	})
}

// Deadlines fire on the bubble's clock, at the time they name.
func TestDeadlineInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := memnet.Pipe("a:1", "b:1", 0)
		defer a.Close()
		defer b.Close()
		start := time.Now()
		a.SetReadDeadline(start.Add(300 * time.Millisecond))
		_, err := a.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("not a timeout: %v", err)
		}
		if d := time.Since(start); d != 300*time.Millisecond {
			t.Fatalf("the deadline fired after %v, want 300ms", d)
		}
	})
}

// CloseWrite is a half-close: the peer drains then reads EOF, and can
// still write back.
func TestCloseWrite(t *testing.T) {
	a, b := memnet.Pipe("a:1", "b:1", 0)
	defer a.Close()
	defer b.Close()
	a.Write([]byte("last words"))
	if err := a.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("write after CloseWrite succeeded")
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if _, err := b.Write([]byte("reply")); err != nil {
		t.Fatalf("the peer cannot write back after a half-close: %v", err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "reply" {
		t.Fatalf("half-closed end read %q, %v", buf, err)
	}
	b.Close()
	if _, err := a.Read(buf); err != io.EOF {
		t.Fatalf("after the peer closed: %v, want EOF", err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("write to a closed peer succeeded")
	}
}

func TestListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memnet.Listen("srv.test:80")
		if _, err := l.Dial(context.Background(), "tcp", "other.test:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial to another address: %v", err)
		}
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}()
		c, err := l.Dial(context.Background(), "tcp", "srv.test:80")
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("echo"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "echo" {
			t.Fatalf("echo: %q %v", buf, err)
		}
		c.Close()
		l.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v", err)
		}
		if _, err := l.Dial(context.Background(), "tcp", "srv.test:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial after close: %v", err)
		}
	})
}

// An HTTP server and a WebSocket client run over memnet in a bubble: the
// server's handler waits 10 seconds of virtual time, which pass at once.
func TestWebSocketInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memnet.Listen("ws.test:80")
		up := websocket.Upgrader{}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			time.Sleep(10 * time.Second)
			c.WriteMessage(websocket.TextMessage, append([]byte("late "), msg...))
		})}
		done := make(chan struct{})
		go func() { defer close(done); srv.Serve(l) }()
		d := websocket.Dialer{NetDialContext: l.Dial}
		start := time.Now()
		c, _, err := d.Dial("ws://ws.test/", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.WriteMessage(websocket.TextMessage, []byte("hello"))
		_, msg, err := c.ReadMessage()
		if err != nil || string(msg) != "late hello" {
			t.Fatalf("%q %v", msg, err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Fatalf("virtual time passed: %v, want 10s", d)
		}
		c.Close()
		srv.Close()
		<-done
	})
}
