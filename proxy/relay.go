package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// Read buffer sizes: small while a connection idles, growing while
// reads fill it.
const (
	minReadBuf = 4 << 10
	maxReadBuf = 64 << 10
)

// relay copies one direction of a connection, byte for byte, and feeds
// the same bytes to the wire tap beside the copy.
type relay struct {
	c     *conn
	from  trace.Side
	src   net.Conn
	dst   *endpoint
	early []byte // bytes already read during the handshake
	tap   *tap.Stream

	closeNoted bool // this side's close frame was passed to the conn
	batch      []*trace.Record
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
			} else if held == 0 && !full && len(buf) > minReadBuf {
				// The burst is over: give the big buffer back, so that an
				// idle connection holds little memory.
				buf = make([]byte, minReadBuf)
			}
		}
		if err != nil {
			r.ended(err)
			return
		}
	}
}

// chunk taps and forwards buf[held:held+n]; buf[:held] are the held
// bytes of a partial frame header fed before. It returns how many bytes
// are held for the next read, or -1 when the relay must stop.
func (r *relay) chunk(buf []byte, held, n int) int {
	base := r.tap.Offset() - int64(held)
	r.batch = r.tap.Feed(r.batch[:0], r.c.p.opts.Now(), buf[held:held+n])
	total := held + n
	// Records go out before the bytes do, so that a trace never shows a
	// reply ahead of the frame that caused it. Emitting waits while a
	// lossless sink (the recorder) is behind: that is the backpressure.
	r.flush()
	if stop := r.tap.Stop(); stop >= 0 {
		stopAt := min(max(stop-base, 0), int64(total))
		r.dst.write(buf[:stopAt], true)
		r.c.abort(trace.Proxy, 1009, "message too big")
		return -1
	}
	keep := r.tap.PartialHeaderLen()
	fwd := total - keep
	forwardedTo := r.tap.Offset() - int64(keep)
	err := r.dst.write(buf[:fwd], r.tap.FrameEnd(forwardedTo))
	copy(buf, buf[fwd:total])
	if r.tap.SawClose() && !r.closeNoted {
		r.closeNoted = true
		r.dst.markCloseSent()
		r.c.sawClose(r.from)
	}
	if err != nil {
		r.writeFailed(err)
		return -1
	}
	return keep
}

func (r *relay) flush() {
	if len(r.batch) > 0 {
		r.c.p.emit(r.batch...)
		clear(r.batch)
	}
}

// ended handles the source's end: after a close frame it is the normal
// end of the close handshake; before one the peer vanished.
func (r *relay) ended(err error) {
	if errors.Is(err, net.ErrClosed) {
		return // the proxy cut the connection
	}
	recs := r.tap.End(nil, r.c.p.opts.Now(), err)
	if r.tap.SawClose() {
		r.c.p.emit(recs...)
		r.dst.closeWrite() // the close handshake's end: pass the FIN on
		return
	}
	r.c.p.emit(recs...)
	if r.from == trace.Server {
		r.c.abort(trace.Proxy, 1011, "upstream connection lost")
	} else {
		r.c.abort(trace.Proxy, 1001, "client went away")
	}
}

// writeFailed handles a write to the other side that failed: the peer is
// gone, or it accepted no bytes for the stall timeout.
func (r *relay) writeFailed(err error) {
	if errors.Is(err, net.ErrClosed) {
		return
	}
	peer := "upstream"
	if r.dst == r.c.client {
		peer = "client"
	}
	stalled := errors.Is(err, os.ErrDeadlineExceeded)
	msg := fmt.Sprintf("%s: write: %v", peer, err)
	if stalled {
		msg = fmt.Sprintf("%s stalled: it accepted no bytes for %s (-stall-timeout): connection closed", peer, r.c.p.opts.StallTimeout)
	}
	r.c.p.emit(&trace.Record{Kind: trace.KindError, T: r.c.p.opts.Now(), Conn: r.c.id, Message: msg})
	switch {
	case stalled && peer == "client":
		r.c.abort(trace.Proxy, 1008, "client stalled: accepted no bytes for "+r.c.p.opts.StallTimeout.String())
	case stalled:
		r.c.abort(trace.Proxy, 1011, "upstream stalled: accepted no bytes for "+r.c.p.opts.StallTimeout.String())
	case peer == "upstream":
		r.c.abort(trace.Proxy, 1011, "upstream connection lost")
	default:
		r.c.abort(trace.Proxy, 1001, "client went away")
	}
}
