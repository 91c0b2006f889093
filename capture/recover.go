package capture

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/wsframe"
)

// maxRecoverScan bounds the bytes of one direction buffered while looking
// for a frame boundary in a connection whose handshake is not in the
// capture.
const maxRecoverScan = 256 << 10

// chainResult is what a candidate frame boundary looks like.
type chainResult uint8

const (
	chainUndecided chainResult = iota // too few bytes yet
	chainValid
	chainInvalid
)

// chain checks whether b starts with a run of plausible WebSocket frames:
// valid headers with minimal lengths, no reserved opcodes or bits, control
// frames whole and short, one masking for all, no continuation before a
// message started; it accepts two frames, or one that ends exactly where
// the bytes do. It reports the masking and whether RSV1 (compression) was
// seen.
func chain(b []byte, maxMessage int64) (res chainResult, masked, rsv1 bool) {
	pos, frames, inMsg, mask := int64(0), 0, false, -1
	for pos < int64(len(b)) && frames < 16 {
		h, _, err := wsframe.ParseHeader(b[pos:])
		if errors.Is(err, wsframe.ErrShortHeader) {
			break
		}
		if err != nil || h.RSV2 || h.RSV3 || h.PayloadLen > maxMessage {
			return chainInvalid, false, false
		}
		if h.Len != minimalHeaderLen(h.PayloadLen, h.Masked) {
			return chainInvalid, false, false
		}
		switch h.Opcode {
		case wsframe.OpContinuation:
			if !inMsg || h.RSV1 {
				return chainInvalid, false, false
			}
			inMsg = !h.Fin
		case wsframe.OpText, wsframe.OpBinary:
			if inMsg {
				return chainInvalid, false, false
			}
			inMsg = !h.Fin
		case wsframe.OpClose, wsframe.OpPing, wsframe.OpPong:
			if !h.Fin || h.RSV1 || h.PayloadLen > wsframe.MaxControlPayload || (h.Opcode == wsframe.OpClose && h.PayloadLen == 1) {
				return chainInvalid, false, false
			}
		default:
			return chainInvalid, false, false
		}
		m := 0
		if h.Masked {
			m = 1
		}
		if mask >= 0 && mask != m {
			return chainInvalid, false, false
		}
		mask = m
		rsv1 = rsv1 || h.RSV1
		end := pos + h.WireSize()
		if frames == 0 && end == int64(len(b)) && h.Opcode == wsframe.OpText && !h.RSV1 && !plausibleText(b[pos+int64(h.Len):end], h) {
			return chainInvalid, false, false
		}
		frames++
		pos = end
	}
	switch {
	case frames >= 2 || (frames == 1 && pos == int64(len(b))):
		return chainValid, mask == 1, rsv1
	}
	return chainUndecided, false, false
}

// plausibleText reports whether a lone text frame's payload is UTF-8.
func plausibleText(p []byte, h wsframe.Header) bool {
	if h.Masked {
		q := make([]byte, len(p))
		for i := range p {
			q[i] = p[i] ^ h.MaskKey[i&3]
		}
		p = q
	}
	return utf8.Valid(p)
}

func minimalHeaderLen(n int64, masked bool) int {
	l := 2
	switch {
	case n > 0xffff:
		l = 10
	case n > 125:
		l = 4
	}
	if masked {
		l += 4
	}
	return l
}

// recovery is one direction's search for a frame boundary.
type recovery struct {
	tried  int // chunks ruled out
	synced bool
	giveUp bool
	start  int // offset in buf of the boundary found
	masked bool
	rsv1   bool
	chunkT []time.Time
}

// tryRecover looks for frame boundaries at the starts of the chunks
// buffered in each direction; once one direction has one, the connection
// is opened as recovered, the side that masks its frames being the client.
func (c *conn) tryRecover() {
	for d := 0; d < 2; d++ {
		r := &c.rec[d]
		if r.synced || r.giveUp {
			continue
		}
		for r.tried < len(c.chunks[d]) {
			off := c.chunks[d][r.tried]
			res, masked, rsv1 := chain(c.buf[d][off:], c.s.opts.MaxMessage)
			if res == chainUndecided {
				break
			}
			if res == chainValid {
				r.synced, r.start, r.masked, r.rsv1 = true, off, masked, rsv1
				break
			}
			r.tried++
		}
		if !r.synced && len(c.buf[d]) > maxRecoverScan {
			r.giveUp = true
		}
	}
	if c.tc == nil {
		c.openRecovered()
		return
	}
	for d := 0; d < 2; d++ {
		c.flushRecovered(d)
	}
}

func (c *conn) openRecovered() {
	d := -1
	for i := 0; i < 2; i++ {
		if c.rec[i].synced {
			d = i
			break
		}
	}
	if d < 0 {
		if c.rec[0].giveUp && c.rec[1].giveUp || c.rec[0].giveUp && len(c.buf[1]) == 0 || c.rec[1].giveUp && len(c.buf[0]) == 0 {
			c.skipConn(c.recoverFailure())
		}
		return
	}
	if c.rec[d].masked {
		c.client = d
	} else {
		c.client = 1 - d
	}
	if c.rec[1-d].synced && c.rec[1-d].masked == c.rec[d].masked {
		c.skipConn("capture started mid-session: both directions' frames are " + maskWord(c.rec[d].masked) + ", so client and server cannot be told apart")
		return
	}
	c.recovered = true
	c.s.nextID++
	c.num = c.s.nextID
	c.id = fmt.Sprintf("c%d", c.num)
	opts := c.tapOptions()
	opts.Recovered = true
	if c.rec[0].rsv1 || c.rec[1].rsv1 {
		// The negotiated parameters are unknown: assume none keeps its
		// window (messages that refer to an earlier one fail to inflate
		// and are reported).
		opts.Deflate = &wsframe.DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}
	}
	tc, recs := tap.Open(tap.Handshake{Conn: c.id, Start: c.first, Upstream: "ws://" + c.addr[1-c.client]}, opts)
	c.tc = tc
	c.st = stateOpen
	c.emit(recs...)
	for i := 0; i < 2; i++ {
		c.flushRecovered(i)
	}
}

func maskWord(m bool) string {
	if m {
		return "masked"
	}
	return "unmasked"
}

// flushRecovered feeds a direction's buffered bytes from its boundary on,
// chunk by chunk with their times, once it has one; or ends it with an
// error record when it has given up.
func (c *conn) flushRecovered(d int) {
	r := &c.rec[d]
	switch {
	case r.synced && c.chunks[d] != nil:
		if r.start > 0 {
			c.recoverNote = append(c.recoverNote, fmt.Sprintf("%s: %d bytes before the first frame boundary skipped", c.side(d), r.start))
		}
		offs := c.chunks[d]
		for i := r.tried; i < len(offs); i++ {
			from, to := offs[i], len(c.buf[d])
			if i+1 < len(offs) {
				to = offs[i+1]
			}
			if i == r.tried {
				from = r.start
			}
			c.feed(d, r.chunkT[i], c.buf[d][from:to])
		}
		c.buf[d], c.chunks[d], r.chunkT = nil, nil, nil
	case r.giveUp && !c.lost[d]:
		c.lost[d] = true
		msg := fmt.Sprintf("capture started mid-session: no frame boundary found in the first %d bytes of the %s's stream; nothing of this direction is decoded", len(c.buf[d]), c.side(d))
		c.emit(errorRecord(c, d, c.lastT, msg))
		c.lostNote = append(c.lostNote, msg)
		c.buf[d], c.chunks[d], r.chunkT = nil, nil, nil
	}
}

func (c *conn) recoverFailure() string {
	n := len(c.buf[0]) + len(c.buf[1])
	return fmt.Sprintf("capture started mid-session (no handshake) and no WebSocket frame boundary was found at the start of any of the segments seen (%d bytes): not WebSocket, or not resynchronisable", n)
}
