package wsframe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/flate"
)

// windowSize is the largest DEFLATE sliding window (2^15 bytes).
const windowSize = 32 << 10

// deflateTail is appended to a message's compressed payload before
// inflating: the 0x00 0x00 0xff 0xff that RFC 7692 7.2.2 says the sender
// removed, then an empty final stored block, so that a message that ends
// where it should ends the DEFLATE stream with io.EOF, and one that does
// not fails.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflater inflates the messages of one direction. With context takeover,
// it keeps the last 32 KiB of output and restarts its reader on it for each
// message, which is the same as keeping one DEFLATE stream alive.
type inflater struct {
	takeover bool
	fr       io.ReadCloser // a flate reader, also a flate.Resetter
	src      bytes.Reader
	out      []byte
	win      []byte // last windowSize bytes of output (context takeover)
	lost     bool   // win was lost by a failure and is not yet full again
}

func newInflater(contextTakeover bool) *inflater {
	return &inflater{takeover: contextTakeover}
}

// inflate inflates comp, a message's compressed payload with deflateTail
// appended, into a buffer that is reused by the next call. It returns the
// violation (ErrInflate or ErrMessageTooBig) and a detail when it fails,
// without ever holding more than limit+1 bytes of output, plus size-class
// slack.
func (z *inflater) inflate(comp []byte, limit int64) (out []byte, detail string, kind error) {
	if len(comp) == len(deflateTail) {
		// No compressed bytes at all. RFC 7692 7.2.3.6 sends 0x00 for an
		// empty message, but zlib-based peers also accept nothing.
		z.out = reuse(z.out)
		return z.out, "", nil
	}
	var dict []byte
	if z.takeover {
		dict = z.win
	}
	z.src.Reset(comp)
	if z.fr == nil {
		z.fr = flate.NewReaderDict(&z.src, dict)
	} else if err := z.fr.(flate.Resetter).Reset(&z.src, dict); err != nil {
		return nil, err.Error(), ErrInflate
	}
	out = reuse(z.out)
	for {
		if len(out) == cap(out) {
			want := min(int64(max(2*cap(out), 2*len(comp), 512)), limit+1)
			if want <= int64(len(out)) { // cannot happen: len(out) <= limit here
				want = int64(len(out)) + 1
			}
			out = slices.Grow(out, int(want)-len(out))
		}
		n, err := z.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			z.out = out
			z.forget()
			return nil, fmt.Sprintf("inflates to more than %d bytes", limit), ErrMessageTooBig
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			z.out = out
			detail := err.Error()
			if errors.Is(err, io.ErrUnexpectedEOF) {
				detail = "compressed data ends inside a DEFLATE block"
			}
			if z.lost {
				detail += " (the shared sliding window was lost by an earlier failure)"
			}
			z.forget()
			return nil, detail, ErrInflate
		}
	}
	z.out = out
	if z.src.Len() > len(deflateTail) {
		return nil, "data after a final DEFLATE block", ErrInflate
	}
	if z.takeover {
		z.remember(out)
	}
	return out, "", nil
}

// forget drops the window after a failure: the sender's window is unknown,
// so later messages that refer back into it fail to inflate instead of
// inflating to wrong bytes, and those that do not still inflate.
func (z *inflater) forget() {
	if z.takeover {
		z.win = z.win[:0]
		z.lost = true
	}
}

// remember appends p to the window, keeping at least its last windowSize
// bytes in a buffer of at most 2*windowSize.
func (z *inflater) remember(p []byte) {
	if len(p) >= windowSize {
		z.win = append(z.win[:0], p[len(p)-windowSize:]...)
	} else {
		if z.win == nil {
			z.win = make([]byte, 0, 2*windowSize)
		}
		if len(z.win)+len(p) > cap(z.win) {
			keep := windowSize - len(p)
			n := copy(z.win, z.win[len(z.win)-keep:])
			z.win = z.win[:n]
		}
		z.win = append(z.win, p...)
	}
	if len(z.win) >= windowSize {
		z.lost = false
	}
}

func (z *inflater) memSize() int {
	// The flate reader holds a 32 KiB window and fixed tables.
	return cap(z.out) + cap(z.win) + windowSize + 16<<10
}

// Compressor produces permessage-deflate payloads, for tests and for peers
// that must send compressed frames. With context takeover one DEFLATE
// stream runs across all messages (as browsers do by default); without it
// each message is compressed on its own. A Compressor is not safe for
// concurrent use.
type Compressor struct {
	w        *flate.Writer
	buf      bytes.Buffer
	takeover bool
}

// NewCompressor returns a Compressor using the given flate level
// (flate.BestSpeed ... flate.BestCompression, flate.DefaultCompression, ...).
func NewCompressor(level int, contextTakeover bool) (*Compressor, error) {
	c := &Compressor{takeover: contextTakeover}
	w, err := flate.NewWriter(&c.buf, level)
	if err != nil {
		return nil, fmt.Errorf("wsframe: new compressor: %w", err)
	}
	c.w = w
	return c, nil
}

// Reset discards the compression context: the next message starts a new
// DEFLATE stream.
func (c *Compressor) Reset() {
	c.buf.Reset()
	c.w.Reset(&c.buf)
}

// Compress appends to dst the compressed payload of message msg: DEFLATE
// data ended by a sync flush, with the trailing 0x00 0x00 0xff 0xff removed
// (RFC 7692 7.2.1). Send it with RSV1 set on the message's first frame.
func (c *Compressor) Compress(dst, msg []byte) ([]byte, error) {
	c.buf.Reset()
	if !c.takeover {
		c.w.Reset(&c.buf)
	}
	if _, err := c.w.Write(msg); err != nil {
		return dst, fmt.Errorf("wsframe: compress: %w", err)
	}
	if err := c.w.Flush(); err != nil {
		return dst, fmt.Errorf("wsframe: compress: %w", err)
	}
	b := c.buf.Bytes()
	if !bytes.HasSuffix(b, deflateTail[:4]) {
		return dst, errors.New("wsframe: compress: flush did not end with 0x00 0x00 0xff 0xff")
	}
	return append(dst, b[:len(b)-4]...), nil
}
