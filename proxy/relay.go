package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// Read buffer sizes: small while a connection idles, growing while
// reads fill it.
const (
	minReadBuf = 2 << 10
	maxReadBuf = 64 << 10
)

// maxWatched bounds the bytes a relay reads from its source while its
// destination is blocked.
const maxWatched = 64 << 10

// relay copies one direction of a connection, byte for byte, and feeds
// the same bytes to the wire tap beside the copy.
type relay struct {
	c     *conn
	from  trace.Side
	src   net.Conn
	dst   *endpoint
	early []byte // bytes already read during the handshake
	tap   *tap.Stream

	buf        []byte // bytes read and not yet forwarded are buf[:held]
	closeNoted bool   // this side's close frame was passed to the conn
	batch      []*trace.Record

	// While dst is blocked, the source is still watched: bytes read then
	// (already tapped) wait in watched, and watchErr is how it ended.
	watched  []byte
	watchErr error
}

// run relays until the source ends or the connection is cut.
func (r *relay) run() {
	r.buf = make([]byte, max(minReadBuf, len(r.early)+minReadBuf))
	held := 0
	if len(r.early) > 0 {
		held = r.chunk(0, copy(r.buf, r.early))
		r.early = nil
		if held < 0 {
			return
		}
	}
	for {
		if held == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...) // a header cannot be longer, but be safe
		}
		n, err := r.src.Read(r.buf[held:])
		if n > 0 {
			full := held+n == len(r.buf)
			held = r.chunk(held, n)
			if held < 0 {
				return
			}
			if full && len(r.buf) < maxReadBuf {
				nb := make([]byte, len(r.buf)*2)
				copy(nb, r.buf[:held])
				r.buf = nb
			} else if !full && len(r.buf) > minReadBuf && held < minReadBuf {
				// The burst is over: give the big buffer back, so that an
				// idle connection holds little memory.
				nb := make([]byte, minReadBuf)
				copy(nb, r.buf[:held])
				r.buf = nb
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
func (r *relay) chunk(held, n int) int {
	base := r.tap.Offset() - int64(held) // stream offset of buf[0]
	r.feed(r.buf[held : held+n])
	total := held + n
	for {
		if stop := r.tap.Stop(); stop >= 0 {
			stopAt := min(max(stop-base, 0), int64(total))
			r.dst.write(r.buf[:stopAt], true, nil)
			r.c.abort(trace.Proxy, 1009, "message too big")
			return -1
		}
		keep := r.tap.PartialHeaderLen()
		fwd := total - keep
		forwardedTo := base + int64(fwd)
		err := r.dst.write(r.buf[:fwd], r.tap.FrameEnd(forwardedTo), r.watch)
		copy(r.buf, r.buf[fwd:total])
		total, base = keep, forwardedTo
		if r.tap.SawClose() && !r.closeNoted {
			r.closeNoted = true
			r.dst.markCloseSent()
			r.c.sawClose(r.from)
		}
		if errors.Is(err, errSourceEnded) {
			r.endedWhileBlocked()
			return -1
		}
		if err != nil {
			r.writeFailed(err)
			return -1
		}
		if len(r.watched) == 0 {
			return total
		}
		// Bytes read while the write was blocked follow the held ones.
		if need := total + len(r.watched); need > len(r.buf) {
			nb := make([]byte, need+minReadBuf)
			copy(nb, r.buf[:total])
			r.buf = nb
		}
		total += copy(r.buf[total:], r.watched)
		r.watched = r.watched[:0]
	}
}

// feed taps bytes of the source and emits the records they complete.
// Records go out before the bytes do, so that a trace never shows a reply
// ahead of the frame that caused it. Emitting waits while a lossless sink
// (the recorder) is behind: that is the backpressure.
func (r *relay) feed(b []byte) {
	r.batch = r.tap.Feed(r.batch[:0], r.c.p.opts.Now(), b)
	r.flush()
}

// watch runs while the destination accepts nothing: it reads what the
// source has (up to maxWatched, without waiting) and taps it, so that a
// source that ends or sends its close frame meanwhile is noticed. It
// returns true to abandon the blocked write.
func (r *relay) watch() bool {
	if r.watchErr != nil {
		return true
	}
	if len(r.watched) >= maxWatched || r.tap.Stop() >= 0 {
		return false
	}
	if cap(r.watched) == 0 {
		r.watched = make([]byte, 0, maxWatched)
	}
	r.src.SetReadDeadline(time.Now().Add(time.Millisecond))
	n, err := r.src.Read(r.watched[len(r.watched):cap(r.watched)])
	r.src.SetReadDeadline(time.Time{})
	if n > 0 {
		r.feed(r.watched[len(r.watched) : len(r.watched)+n])
		r.watched = r.watched[:len(r.watched)+n]
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		r.watchErr = err
		return true
	}
	return r.tap.SawClose()
}

// endedWhileBlocked: the source ended, or sent its close frame, while
// the destination accepted nothing: what it sent cannot be delivered.
func (r *relay) endedWhileBlocked() {
	peer, other := "client", "upstream"
	if r.from == trace.Client {
		peer, other = "upstream", "client"
	}
	what := "sent its close frame"
	if r.watchErr != nil {
		recs := r.tap.End(nil, r.c.p.opts.Now(), r.watchErr)
		r.c.p.emit(recs...)
		what = "ended the connection"
	}
	r.c.p.emit(&trace.Record{Kind: trace.KindError, T: r.c.p.opts.Now(), Conn: r.c.id,
		Message: fmt.Sprintf("%s stalled (accepted no bytes for %s) while the %s %s: the rest was not delivered; connection closed", peer, watchEvery, other, what)})
	r.c.abort(trace.Proxy, 1001, peer+" stalled")
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
		r.c.abort(trace.Proxy, 1001, "client stalled: accepted no bytes for "+r.c.p.opts.StallTimeout.String())
	case stalled:
		r.c.abort(trace.Proxy, 1011, "upstream stalled: accepted no bytes for "+r.c.p.opts.StallTimeout.String())
	case peer == "upstream":
		r.c.abort(trace.Proxy, 1011, "upstream connection lost")
	default:
		r.c.abort(trace.Proxy, 1001, "client went away")
	}
}
