package replay

import (
	"encoding/binary"
	"net"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/trace"
)

// sender writes one socket's frames. Only the goroutine replaying the
// session calls it.
type sender interface {
	message(op trace.Op, p []byte) error
	// pong answers a WebSocket ping.
	pong(p []byte) error
	// closeFrame sends a close frame; code 0 sends one without a status.
	closeFrame(code int, reason string) error
	flush() error
	// close drops the connection.
	close() error
	// expire makes reads fail after d, so that a reader waiting for a
	// close reply that never comes gives up.
	expire(d time.Duration)
}

// frameWriter writes unmasked server frames straight to the connection,
// batching the frames that are ready into one write. Each write holds
// whole frames only. The WebSocket library never writes on these
// connections: the Server routes pings and closes to the session, so the
// frame stream has one writer.
type frameWriter struct {
	c       net.Conn
	buf     []byte
	timeout time.Duration
	err     error
}

const (
	flushAt    = 64 << 10
	maxKeepBuf = 1 << 20
)

func newFrameWriter(c net.Conn, timeout time.Duration) *frameWriter {
	return &frameWriter{c: c, timeout: timeout, buf: make([]byte, 0, flushAt+4096)}
}

func appendFrameHeader(b []byte, opcode byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, 0x80|opcode, byte(n))
	case n <= 0xffff:
		return append(b, 0x80|opcode, 126, byte(n>>8), byte(n))
	}
	b = append(b, 0x80|opcode, 127)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func (w *frameWriter) message(op trace.Op, p []byte) error {
	if w.err != nil {
		return w.err
	}
	opcode := byte(websocket.TextMessage)
	if op == trace.OpBinary {
		opcode = websocket.BinaryMessage
	}
	w.buf = appendFrameHeader(w.buf, opcode, len(p))
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushAt {
		return w.flush()
	}
	return nil
}

func (w *frameWriter) control(opcode byte, p []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(p) > 125 {
		p = p[:125]
	}
	w.buf = appendFrameHeader(w.buf, opcode, len(p))
	w.buf = append(w.buf, p...)
	return w.flush()
}

func (w *frameWriter) pong(p []byte) error { return w.control(websocket.PongMessage, p) }

func (w *frameWriter) closeFrame(code int, reason string) error {
	return w.control(websocket.CloseMessage, closePayload(code, reason))
}

// closePayload is a close frame's body: the code and the reason cut to
// fit a control frame, or nothing for code 0.
func closePayload(code int, reason string) []byte {
	if code == 0 {
		return nil
	}
	if len(reason) > 123 {
		reason = reason[:123]
		for !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

func (w *frameWriter) flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	w.c.SetWriteDeadline(time.Now().Add(w.timeout))
	_, w.err = w.c.Write(w.buf)
	if cap(w.buf) > maxKeepBuf {
		w.buf = make([]byte, 0, flushAt+4096)
	}
	w.buf = w.buf[:0]
	return w.err
}

func (w *frameWriter) close() error { return w.c.Close() }

func (w *frameWriter) expire(d time.Duration) { w.c.SetReadDeadline(time.Now().Add(d)) }

// wsSender writes client frames through the WebSocket library (which
// masks them).
type wsSender struct {
	ws      *websocket.Conn
	timeout time.Duration
}

func (s *wsSender) message(op trace.Op, p []byte) error {
	mt := websocket.TextMessage
	if op == trace.OpBinary {
		mt = websocket.BinaryMessage
	}
	s.ws.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.ws.WriteMessage(mt, p)
}

func (s *wsSender) pong([]byte) error { return nil } // the library answers pings

func (s *wsSender) closeFrame(code int, reason string) error {
	return s.ws.WriteControl(websocket.CloseMessage, closePayload(code, reason), time.Now().Add(s.timeout))
}

func (s *wsSender) flush() error { return nil }

func (s *wsSender) close() error { return s.ws.Close() }

func (s *wsSender) expire(d time.Duration) { s.ws.NetConn().SetReadDeadline(time.Now().Add(d)) }

// sendableCode reports close codes a peer may put in a close frame
// (1005, 1006 and 1015 are reserved for reporting, and the WebSocket
// library refuses other unassigned ones).
func sendableCode(code int) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}

func deadline(d time.Duration) time.Time { return time.Now().Add(d) }
