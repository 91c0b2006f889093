package load

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
)

// ServerOptions configure a Server. The zero value is usable.
type ServerOptions struct {
	// EventSize is the size of each streamed event in bytes (default 200).
	EventSize int
	// Window is how many sequenced frames may be unacked at once (default
	// 256): the server sends as fast as the client's acks allow.
	Window int64
	// MaxEvents bounds the events one connection may ask for (default
	// 10,000,000).
	MaxEvents int64
	// IdleTimeout closes a connection that sends nothing for this long
	// (default 2 minutes), so a vanished client cannot hold it.
	IdleTimeout time.Duration
}

// Server is the load upstream. A client connects to the status socket
// path /v1/environments/{id}/status/ws; the query parameter events=N asks
// for N stream_delta events, sent as fast as acks allow. It answers
// {"type":"ping"} with a pong and any command with a request_id with the
// command's reply (the protocol model's first accepted reply type).
type Server struct {
	o      ServerOptions
	up     websocket.Upgrader
	mux    *http.ServeMux
	mu     sync.Mutex
	conns  map[*websocket.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	srv    *http.Server
}

// NewServer returns a server; serve it with Serve.
func NewServer(o ServerOptions) *Server {
	if o.EventSize <= 0 {
		o.EventSize = 200
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 10_000_000
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	s := &Server{o: o, conns: map[*websocket.Conn]struct{}{}, mux: http.NewServeMux()}
	s.up = websocket.Upgrader{
		ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10,
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.mux.HandleFunc("GET /v1/environments/{id}/status/ws", s.status)
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// ServeHTTP serves the status socket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	var events int64
	if v := r.URL.Query().Get("events"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > s.o.MaxEvents {
			http.Error(w, fmt.Sprintf("events=%q: want 0..%d", v, s.o.MaxEvents), http.StatusBadRequest)
			return
		}
		events = n
	}
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	// http.Server runs each handler on its own goroutine: the connection
	// is served on it, and Close waits for it.
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	s.serve(c, events)
}

// reply is a frame the reader goroutine asks the writer to send.
type reply struct {
	typ, id string // a sequenced reply; typ "" is a pong
}

// serve runs one connection: this goroutine writes, a second reads.
func (s *Server) serve(c *websocket.Conn, events int64) {
	var acked atomic.Int64
	ackSig := make(chan struct{}, 1)
	replies := make(chan reply, 256)
	done := make(chan struct{})
	quit := make(chan struct{})
	defer func() { // end the reader and wait for it
		close(quit)
		c.Close()
		<-done
	}()
	go func() { // the reader: owned by serve, ends when the connection does
		defer close(done)
		for {
			c.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			env, err := protocol.Parse(p)
			if err != nil {
				continue
			}
			switch typ := string(env.Type); {
			case typ == "ack" && env.HasSeq:
				if env.Seq > acked.Load() {
					acked.Store(env.Seq)
				}
				select {
				case ackSig <- struct{}{}:
				default:
				}
			case typ == "ping":
				select {
				case replies <- reply{}:
				case <-quit:
					return
				}
			case env.RequestID != nil && env.Info != nil && len(env.Info.Replies) > 0:
				select {
				case replies <- reply{typ: env.Info.Replies[0], id: string(env.RequestID)}:
				case <-quit:
					return
				}
			}
		}
	}()
	var (
		seq  int64
		sent int64
		buf  []byte
	)
	write := func(b []byte) bool {
		c.SetWriteDeadline(time.Now().Add(s.o.IdleTimeout))
		return c.WriteMessage(websocket.TextMessage, b) == nil
	}
	send := func(r reply) bool {
		if r.typ == "" {
			return write([]byte(`{"type":"pong"}`))
		}
		seq++
		buf = appendReply(buf[:0], r.typ, r.id, seq)
		return write(buf)
	}
	for {
		if sent < events && seq-acked.Load() < s.o.Window {
			select {
			case r := <-replies:
				if !send(r) {
					return
				}
				continue
			default:
			}
			seq++
			sent++
			buf = appendEvent(buf[:0], sent, seq, s.o.EventSize)
			if !write(buf) {
				return
			}
			continue
		}
		select {
		case r := <-replies:
			if !send(r) {
				return
			}
		case <-ackSig:
		case <-done:
			return
		}
	}
}
