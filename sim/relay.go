package sim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/protocol"
)

// socket is one client WebSocket: the relay's side of it. The relay adds
// a transport seq to every frame it sends (except its own pongs), tracks
// the client's acks and answers the client's pings.
type socket struct {
	srv     *Server
	env     *environment
	conn    *websocket.Conn
	connID  string // connectionId at accept time
	channel string // control, stream or single
	ordinal int
	agentID string // "" = every runtime of the connection
	convID  string

	wmu  sync.Mutex    // held while writing a frame; guards the end of writes
	wake chan struct{} // writer wake-up, cap 1
	kick chan struct{} // drop-monitor wake-up, cap 1
	stop chan struct{} // closed when the socket ends

	mu       sync.Mutex
	queue    [][]byte
	seq      int64 // last transport seq assigned
	acked    int64 // highest seq acked
	gone     bool  // no more frames are sent (closed, dropped or failed)
	dropped  bool  // half-closed by the drop fault: draining
	lastRecv time.Time
	sent     int // sequenced frames sent
	pings    int // device pings without a pong since the last pong

	stopOnce sync.Once
}

// serveSocket upgrades and runs one socket on the handler goroutine until
// it ends. The socket is attached to its environment before the upgrade
// completes, so that no event emitted after the client sees the handshake
// misses it.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request, e *environment, channel, agentID, convID string) {
	k := &socket{
		srv: s, env: e, channel: channel, agentID: agentID, convID: convID,
		wake: make(chan struct{}, 1), kick: make(chan struct{}, 1), stop: make(chan struct{}),
		lastRecv: time.Now(),
	}
	key := ""
	s.mu.Lock()
	e.mu.Lock()
	k.connID = e.id
	key = e.id + "#" + channel
	s.ordinals[key]++
	k.ordinal = s.ordinals[key]
	e.sockets = append(e.sockets, k)
	e.mu.Unlock()
	s.mu.Unlock()
	detach := func() {
		e.mu.Lock()
		for i, x := range e.sockets {
			if x == k {
				e.sockets = append(e.sockets[:i], e.sockets[i+1:]...)
				break
			}
		}
		e.mu.Unlock()
	}

	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.logf("sim: upgrade: %v", err)
		detach()
		s.mu.Lock()
		if s.ordinals[key] == k.ordinal { // not accepted: give the ordinal back
			s.ordinals[key]--
		}
		s.mu.Unlock()
		return
	}
	limit := s.ReadLimit
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	conn.SetReadLimit(limit)
	conn.SetCloseHandler(k.onClose)
	k.mu.Lock()
	k.conn = conn
	gone := k.gone
	k.mu.Unlock()

	s.mu.Lock()
	s.lmu.Lock()
	closing := s.closed
	s.lmu.Unlock()
	if !closing {
		s.sockets[k] = struct{}{}
	}
	s.mu.Unlock()
	if closing || gone || !s.goAdd() { // goAdd: the writer
		detach()
		conn.Close()
		return
	}
	s.logf("sim: %s socket %s#%d open (agent %q, conversation %q)", k.connID, channel, k.ordinal, agentID, convID)

	go k.writeLoop()
	if s.Inject.DropAfterFrames > 0 && s.goAdd() {
		go k.dropMonitor()
	}
	if s.DevicePingInterval > 0 && s.goAdd() {
		go k.devicePings(s.DevicePingInterval)
	}
	k.signal() // frames queued during the upgrade

	k.readLoop()

	k.finish()
	detach()
	s.mu.Lock()
	delete(s.sockets, k)
	s.mu.Unlock()
	s.logf("sim: %s socket %s#%d closed", k.connID, channel, k.ordinal)
}

func (k *socket) name() string { return fmt.Sprintf("%s#%d", k.channel, k.ordinal) }

// matches reports whether the socket receives events of runtime key.
func (k *socket) matches(key rtKey) bool {
	return (k.agentID == "" || k.agentID == key.agent) && (k.convID == "" || k.convID == key.conv)
}

// carries reports whether the socket carries messages of channel ch.
func (k *socket) carries(ch protocol.Channel) bool {
	switch k.channel {
	case protocol.ChannelNameControl:
		return ch != protocol.ChannelStream
	case protocol.ChannelNameStream:
		return ch == protocol.ChannelStream
	}
	return true
}

func (k *socket) alive() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.gone
}

// send queues a device frame, adding the next transport seq. It returns
// the seq, or 0 when the socket no longer sends.
func (k *socket) send(frame []byte) int64 {
	k.mu.Lock()
	if k.gone {
		k.mu.Unlock()
		return 0
	}
	k.seq++
	seq := k.seq
	k.sent++
	k.queue = append(k.queue, withSeq(frame, seq))
	k.mu.Unlock()
	k.signal()
	return seq
}

// sendUnsequenced queues a relay frame without seq (pong).
func (k *socket) sendUnsequenced(frame []byte) {
	k.mu.Lock()
	if k.gone {
		k.mu.Unlock()
		return
	}
	k.queue = append(k.queue, frame)
	k.mu.Unlock()
	k.signal()
}

func (k *socket) signal() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// withSeq inserts "seq":n after the leading "type" member of a frame the
// simulator built (or at the front).
func withSeq(frame []byte, seq int64) []byte {
	ins := []byte(`"seq":` + strconv.FormatInt(seq, 10))
	const prefix = `{"type":"`
	if len(frame) > len(prefix) && string(frame[:len(prefix)]) == prefix {
		for i := len(prefix); i < len(frame); i++ {
			if frame[i] == '\\' {
				break
			}
			if frame[i] == '"' {
				out := make([]byte, 0, len(frame)+len(ins)+1)
				out = append(out, frame[:i+1]...)
				out = append(out, ',')
				out = append(out, ins...)
				return append(out, frame[i+1:]...)
			}
		}
	}
	out := make([]byte, 0, len(frame)+len(ins)+1)
	out = append(out, '{')
	out = append(out, ins...)
	if len(frame) > 2 {
		out = append(out, ',')
	}
	return append(out, frame[1:]...)
}

func (k *socket) writeLoop() {
	defer k.srv.wg.Done()
	for {
		select {
		case <-k.wake:
		case <-k.stop:
			return
		}
		k.mu.Lock()
		batch := k.queue
		k.queue = nil
		gone := k.gone
		k.mu.Unlock()
		if gone {
			continue
		}
		for _, f := range batch {
			k.wmu.Lock()
			k.mu.Lock()
			gone := k.gone
			k.mu.Unlock()
			if gone {
				k.wmu.Unlock()
				break
			}
			k.conn.SetWriteDeadline(time.Now().Add(k.srv.writeTimeout()))
			err := k.conn.WriteMessage(websocket.TextMessage, f)
			k.wmu.Unlock()
			if err != nil {
				k.srv.logf("sim: %s write: %v", k.name(), err)
				k.mu.Lock()
				k.gone = true
				k.mu.Unlock()
				k.conn.Close()
				break
			}
		}
	}
}

// readLoop reads frames until the socket fails or closes.
func (k *socket) readLoop() {
	for {
		mt, data, err := k.conn.ReadMessage()
		if err != nil {
			k.readError(err)
			return
		}
		k.mu.Lock()
		k.lastRecv = time.Now()
		dropped := k.dropped
		k.mu.Unlock()
		if dropped {
			k.drained(data)
		} else {
			k.handle(mt, data)
		}
		select {
		case k.kick <- struct{}{}:
		default:
		}
	}
}

func (k *socket) readError(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		k.srv.logf("sim: %s closed by client: %d %q", k.name(), ce.Code, ce.Text)
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has sent close 1009; read what the client still sends so
		// that it gets the close frame rather than a reset.
		k.srv.logf("sim: %s frame over the read limit: closed with 1009", k.name())
		k.drainRaw()
	default:
		k.srv.logf("sim: %s read: %v", k.name(), err)
	}
}

// drainRaw discards incoming bytes for a short while after a protocol
// close, so that the peer reads our close frame.
func (k *socket) drainRaw() {
	nc := k.conn.NetConn()
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.Copy(io.Discard, nc)
}

// handle routes one client frame: relay messages here, the rest to the
// device.
func (k *socket) handle(mt int, data []byte) {
	if mt == websocket.BinaryMessage {
		k.sendError("", "", "binary_frame", "binary frames are not supported: send JSON text frames")
		return
	}
	env, err := protocol.Parse(data)
	if err != nil {
		k.sendError("", "", "invalid_json", fmt.Sprintf("frame is not a JSON object: %v", err))
		return
	}
	switch string(env.Type) {
	case "ack":
		if env.HasSeq {
			k.mu.Lock()
			if env.Seq > k.acked && env.Seq <= k.seq {
				k.acked = env.Seq
			}
			k.mu.Unlock()
		}
		return
	case "ping":
		f := o("type", "pong", "timestamp", time.Now().UnixMilli())
		if env.RequestID != nil {
			f = f.set("request_id", string(env.RequestID))
		}
		k.sendUnsequenced(mustJSON(f))
		return
	case "pong":
		// The device expects pongs on control: a pong answers the pings of
		// every socket of the session.
		k.env.mu.Lock()
		for _, x := range k.env.sockets {
			if x.agentID == k.agentID && x.convID == k.convID {
				x.mu.Lock()
				x.pings = 0
				x.mu.Unlock()
			}
		}
		k.env.mu.Unlock()
		return
	}
	k.env.handleCommand(k, &env, data)
}

// drained handles a frame received after the socket was dropped: nothing
// is carried out; a request that can no longer be answered is ground truth.
func (k *socket) drained(data []byte) {
	env, err := protocol.Parse(data)
	if err != nil {
		return
	}
	if string(env.Type) == "ack" && env.HasSeq {
		k.mu.Lock()
		if env.Seq > k.acked && env.Seq <= k.seq {
			k.acked = env.Seq
		}
		k.mu.Unlock()
		return
	}
	if env.RequestID != nil && env.Info.NeedsReply() {
		k.srv.record(Fault{Knob: KnobDrop, Rule: faults.RuleUnmatchedRequest, Subject: string(env.RequestID),
			ConnectionID: k.connID, Channel: k.channel, Socket: k.ordinal,
			Detail: fmt.Sprintf("%s arrived after the socket was dropped", env.Type)})
	}
}

func (k *socket) sendError(requestID, command, code, msg string) {
	f := o("type", "error", "message", msg, "code", code)
	if command != "" {
		f = f.set("command", command)
	}
	if requestID != "" {
		f = f.set("request_id", requestID)
	}
	k.send(mustJSON(f))
}

// onClose handles the client's close frame: no frame is sent after it,
// then the close is echoed (as gorilla's default handler does).
func (k *socket) onClose(code int, text string) error {
	k.stopSending()
	msg := []byte{}
	if code != websocket.CloseNoStatusReceived {
		msg = websocket.FormatCloseMessage(code, "")
	}
	k.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	return nil
}

// stopSending ends the socket's sending: queued frames are dropped and a
// frame being written completes first.
func (k *socket) stopSending() {
	k.wmu.Lock()
	k.mu.Lock()
	k.gone = true
	k.queue = nil
	k.mu.Unlock()
	k.wmu.Unlock()
}

// closeWith sends a close frame and closes the socket shortly after; the
// reader ends when the peer answers or the deadline passes.
func (k *socket) closeWith(code int, reason string) {
	k.stopSending()
	k.mu.Lock()
	conn := k.conn
	k.mu.Unlock()
	if conn == nil {
		return // still upgrading: serveSocket sees gone and closes
	}
	k.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	k.conn.SetReadDeadline(time.Now().Add(time.Second))
}

// finish stops the socket's goroutines and closes the connection.
func (k *socket) finish() {
	k.mu.Lock()
	k.gone = true
	k.mu.Unlock()
	k.stopOnce.Do(func() { close(k.stop) })
	k.conn.Close()
}

// devicePings sends the device's heartbeat and drops the socket after
// three pings without a pong.
func (k *socket) devicePings(every time.Duration) {
	defer k.srv.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-k.stop:
			return
		case <-k.srv.ctx.Done():
			return
		}
		k.mu.Lock()
		missed := k.pings
		k.pings++
		k.mu.Unlock()
		if missed >= 3 {
			k.srv.logf("sim: %s missed three pongs: dropping", k.name())
			k.conn.Close()
			return
		}
		k.send([]byte(`{"type":"ping"}`))
	}
}

// dropMonitor waits for the drop fault's quiet point on this socket.
func (k *socket) dropMonitor() {
	defer k.srv.wg.Done()
	var timer *time.Timer
	var tc <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-k.kick:
		case <-tc:
		case <-k.stop:
			return
		case <-k.srv.ctx.Done():
			return
		}
		wait, done := k.env.tryDrop(k)
		if done {
			return
		}
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tc = timer.C
		} else {
			tc = nil
		}
	}
}

// halfClose ends the socket abruptly: no close frame, the write side of
// the TCP connection is shut; the read side drains what the client still
// sends.
func (k *socket) halfClose() {
	k.stopSending()
	k.mu.Lock()
	k.dropped = true
	k.mu.Unlock()
	nc := k.conn.NetConn()
	if hc, ok := nc.(interface{ CloseWrite() error }); ok {
		hc.CloseWrite()
	} else {
		nc.Close()
	}
	k.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
}
