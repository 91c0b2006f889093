package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// Read buffer sizes: small while a connection idles, growing while
// reads fill it.
const (
	minReadBuf = 4 << 10
	maxReadBuf = 64 << 10
)

// relay copies one direction of a connection, byte for byte, and decodes
// it beside the copy into records.
type relay struct {
	c     *conn
	from  trace.Side
	src   net.Conn
	dst   *endpoint
	early []byte // bytes already read during the handshake
	dec   *wsframe.Decoder

	frameStart int64 // stream offset of the last frame whose header was seen
	frameEnd   int64 // stream offset just past that frame
	sawClose   bool  // this side sent a close frame
	batch      []*trace.Record
	recs       []trace.Record // block new records are carved from
	slab       []byte         // block small payloads are copied into
}

// run relays until the source ends or the connection is cut.
func (r *relay) run() {
	buf := make([]byte, minReadBuf)
	held := 0
	if len(r.early) > 0 {
		if len(r.early) > len(buf) {
			buf = make([]byte, len(r.early)+minReadBuf)
		}
		held = r.chunk(buf, 0, copy(buf, r.early))
		r.early = nil
		if held < 0 {
			return
		}
	}
	for {
		if held == len(buf) {
			buf = append(buf, make([]byte, len(buf))...) // a header cannot be longer, but be safe
		}
		n, err := r.src.Read(buf[held:])
		if n > 0 {
			full := held+n == len(buf)
			held = r.chunk(buf, held, n)
			if held < 0 {
				return
			}
			if full && len(buf) < maxReadBuf {
				nb := make([]byte, len(buf)*2)
				copy(nb, buf[:held])
				buf = nb
			}
		}
		if err != nil {
			r.ended(err)
			return
		}
	}
}

// chunk decodes and forwards buf[held:held+n]; buf[:held] are the held
// bytes of a partial frame header fed before. It returns how many bytes
// are held for the next read, or -1 when the relay must stop.
func (r *relay) chunk(buf []byte, held, n int) int {
	now := r.c.p.opts.Now()
	base := r.dec.Offset() - int64(held)
	r.dec.Feed(buf[held : held+n])
	stopAt := -1
	for stopAt < 0 && r.dec.Next() {
		ev := r.dec.Event()
		switch ev.Kind {
		case wsframe.FrameEvent:
			if ev.Header.PayloadLen > r.c.p.opts.MaxFrame || ev.Header.PayloadLen < 0 {
				stopAt = int(ev.Offset - base)
				r.batch = append(r.batch, r.errorRecord(now, fmt.Sprintf("%s frame at offset %d declares %d payload bytes, over the %d-byte limit: connection closed with 1009",
					r.from, ev.Offset, ev.Header.PayloadLen, r.c.p.opts.MaxFrame)))
				break
			}
			r.frameStart, r.frameEnd = ev.Offset, ev.Offset+ev.Header.WireSize()
		case wsframe.MessageEvent:
			r.batch = append(r.batch, r.frameRecord(now, &ev.Message))
		case wsframe.ErrorEvent:
			if errors.Is(ev.Err, wsframe.ErrFrameTooBig) || errors.Is(ev.Err, wsframe.ErrBadLength) {
				continue // reported from the frame header above
			}
			if errors.Is(ev.Err, wsframe.ErrMessageTooBig) {
				// Stop before the frame that made the message too big, if
				// it starts in this chunk; else forward nothing more.
				stopAt = 0
				if r.frameStart >= base {
					stopAt = int(r.frameStart - base)
				}
				r.batch = append(r.batch, r.errorRecord(now, fmt.Sprintf("%s message: %v, over the %d-byte limit: connection closed with 1009", r.from, ev.Err, r.c.p.opts.MaxFrame)))
				break
			}
			// A violation is recorded and relayed anyway: a debugging
			// proxy does not fix or hide its peers' errors.
			r.batch = append(r.batch, r.errorRecord(now, fmt.Sprintf("%s stream: %v", r.from, ev.Err)))
		}
	}
	total := held + n
	// Records go out before the bytes do, so that a trace never shows a
	// reply ahead of the frame that caused it. Emitting never blocks.
	r.flush()
	if stopAt >= 0 {
		if stopAt > total {
			stopAt = total
		}
		r.dst.write(buf[:stopAt], true)
		r.c.abort(trace.Proxy, 1009, "message too big")
		return -1
	}
	keep := r.dec.PartialHeaderLen()
	fwd := total - keep
	forwardedTo := r.dec.Offset() - int64(keep)
	err := r.dst.write(buf[:fwd], forwardedTo == r.frameEnd)
	copy(buf, buf[fwd:total])
	if r.sawClose {
		r.dst.markCloseSent()
	}
	if err != nil {
		r.writeFailed(err)
		return -1
	}
	return keep
}

// frameRecord turns a decoded message into a record (payload copied).
// Secrets are redacted later, on the sink goroutine, off the relay's path.
func (r *relay) frameRecord(now time.Time, m *wsframe.Message) *trace.Record {
	rec := r.newRecord()
	*rec = trace.Record{Kind: trace.KindFrame, T: now, Conn: r.c.id, From: r.from, Op: opName(m.Opcode),
		Size: len(m.Payload), WireFrames: m.Frames, WireSize: int(m.WireSize), Compressed: m.Compressed,
		Payload: r.copyPayload(m.Payload)}
	if m.Opcode == wsframe.OpClose {
		if m.HasCloseCode {
			rec.Code, rec.Reason = int(m.CloseCode), m.CloseReason
		}
		if !r.sawClose {
			r.sawClose = true
			r.c.sawClose(r.from, rec.Code, rec.Reason)
		}
	}
	return rec
}

// Records and small payloads are carved out of blocks, a few allocations
// per thousand frames instead of two per frame. The sinks never modify a
// payload in place, and a block lives as long as any record in it.
const (
	recordBlock  = 64
	payloadBlock = 32 << 10
	maxInBlock   = 2 << 10
)

func (r *relay) newRecord() *trace.Record {
	if len(r.recs) == cap(r.recs) {
		r.recs = make([]trace.Record, 0, recordBlock)
	}
	r.recs = r.recs[:len(r.recs)+1]
	return &r.recs[len(r.recs)-1]
}

func (r *relay) copyPayload(p []byte) []byte {
	if len(p) > maxInBlock {
		return append([]byte(nil), p...)
	}
	if cap(r.slab)-len(r.slab) < len(p) {
		r.slab = make([]byte, 0, payloadBlock)
	}
	start := len(r.slab)
	r.slab = append(r.slab, p...)
	return r.slab[start:len(r.slab):len(r.slab)]
}

func (r *relay) errorRecord(now time.Time, msg string) *trace.Record {
	return &trace.Record{Kind: trace.KindError, T: now, Conn: r.c.id, Message: msg}
}

func (r *relay) flush() {
	if len(r.batch) > 0 {
		r.c.p.emit(r.batch...)
		r.batch = r.batch[:0:0]
	}
}

// ended handles the source's end: after a close frame it is the normal
// end of the close handshake; before one the peer vanished.
func (r *relay) ended(err error) {
	if errors.Is(err, net.ErrClosed) {
		return // the proxy cut the connection
	}
	if r.sawClose {
		r.dst.closeWrite() // the close handshake's end: pass the FIN on
		return
	}
	what := "closed the connection without a close frame"
	if err != io.EOF {
		what = err.Error()
	}
	if terr := r.dec.End(); terr != nil {
		what += " (" + terr.Error() + ")"
	}
	now := r.c.p.opts.Now()
	if r.from == trace.Server {
		r.c.p.emit(r.errorRecord(now, "upstream: "+what))
		r.c.abort(trace.Proxy, 1011, "upstream connection lost")
	} else {
		r.c.p.emit(r.errorRecord(now, "client: "+what))
		r.c.abort(trace.Proxy, 1001, "client went away")
	}
}

func (r *relay) writeFailed(err error) {
	if errors.Is(err, net.ErrClosed) {
		return
	}
	peer := "upstream"
	if r.dst == r.c.client {
		peer = "client"
	}
	r.c.p.emit(r.errorRecord(r.c.p.opts.Now(), fmt.Sprintf("%s: write: %v", peer, err)))
	if peer == "upstream" {
		r.c.abort(trace.Proxy, 1011, "upstream connection lost")
	} else {
		r.c.abort(trace.Proxy, 1001, "client went away")
	}
}

func opName(op wsframe.Opcode) trace.Op {
	switch op {
	case wsframe.OpText:
		return trace.OpText
	case wsframe.OpBinary:
		return trace.OpBinary
	case wsframe.OpPing:
		return trace.OpPing
	case wsframe.OpPong:
		return trace.OpPong
	case wsframe.OpClose:
		return trace.OpClose
	}
	return trace.Op(op.String())
}
