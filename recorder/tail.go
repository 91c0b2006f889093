package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"

	"github.com/lettadev/wsproxy/trace"
)

// Tail follows a trace file while the recorder writes it: each ReadUpTo
// returns the records completed since the last call, continuing where that
// one stopped, so following a growing file costs what was appended, not
// the whole file again. It reads what this package's writer writes: zstd
// as whole frames (it walks frame and block headers, RFC 8878, and
// decodes a frame once it is complete) or plain JSON Lines (once a line
// ends). A gzip trace is not followed (the writer never writes one).
type Tail struct {
	path string
	f    *os.File
	kind tailKind
	dec  *zstd.Decoder
	raw  []byte // file bytes read and not yet consumed (a partial frame or line)
	text []byte // decoded lines not yet returned
	pd   trace.Decoder
	line int64
	held *trace.Record // read past the last limit, returned first next time
}

type tailKind uint8

const (
	tailUnknown tailKind = iota
	tailZstd
	tailPlain
)

// errUnfollowable reports a file Tail cannot follow.
var errUnfollowable = errors.New("not a zstd or plain JSON Lines trace")

// OpenTail opens path for following; nothing is read yet.
func OpenTail(path string) (*Tail, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("follow trace: %w", err)
	}
	return &Tail{path: path, f: f}, nil
}

// Close closes the file.
func (t *Tail) Close() error {
	if t.dec != nil {
		t.dec.Close()
	}
	return t.f.Close()
}

// ReadUpTo calls fn with every record now complete in the file whose
// number n is at most limit (records without n, such as the header, are
// passed too), in file order. A record past limit stays for the next call.
// Lines that are not records are skipped; the error is for the file (it
// cannot be read, or is not a trace this can follow).
func (t *Tail) ReadUpTo(limit int64, fn func(*trace.Record)) error {
	for {
		if t.held != nil {
			if t.held.N > limit {
				return nil
			}
			fn(t.held)
			t.held = nil
		}
		rec, err := t.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		t.held = rec
	}
}

// next returns the next complete record, io.EOF when there is none yet.
func (t *Tail) next() (*trace.Record, error) {
	for {
		if i := bytes.IndexByte(t.text, '\n'); i >= 0 {
			line := t.text[:i+1]
			t.text = t.text[i+1:]
			t.line++
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			rec := &trace.Record{}
			if t.pd.ParseLine(line, rec) != nil {
				continue
			}
			rec.Line = t.line
			return rec, nil
		}
		if err := t.fill(); err != nil {
			return nil, err
		}
	}
}

// fill decodes the next complete unit (a zstd frame, or the plain bytes up
// to the last complete line) into text; io.EOF when the file holds none.
func (t *Tail) fill() error {
	for {
		if t.kind == tailUnknown && len(t.raw) >= 4 {
			switch {
			case bytes.HasPrefix(t.raw, zstdMagic):
				t.kind = tailZstd
				dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
				if err != nil {
					return fmt.Errorf("follow %s: zstd: %w", t.path, err)
				}
				t.dec = dec
			case bytes.HasPrefix(t.raw, gzipMagic):
				return fmt.Errorf("follow %s: gzip: %w", t.path, errUnfollowable)
			default:
				t.kind = tailPlain
			}
		}
		switch t.kind {
		case tailZstd:
			n, skip, err := zstdFrameLen(t.raw)
			if err != nil {
				return fmt.Errorf("follow %s: %w", t.path, err)
			}
			if n > 0 {
				frame := t.raw[:n]
				t.raw = t.raw[n:]
				if skip {
					continue // the writer's marks
				}
				text, err := t.dec.DecodeAll(frame, t.text)
				if err != nil {
					return fmt.Errorf("follow %s: zstd frame: %w", t.path, err)
				}
				t.text = text
				return nil
			}
		case tailPlain:
			if i := bytes.LastIndexByte(t.raw, '\n'); i >= 0 {
				t.text = append(t.text, t.raw[:i+1]...)
				t.raw = t.raw[i+1:]
				return nil
			}
		}
		if err := t.read(); err != nil {
			return err
		}
	}
}

// read appends what the file has beyond what was read; io.EOF when it
// has nothing more yet.
func (t *Tail) read() error {
	if len(t.raw) == cap(t.raw) {
		t.raw = append(t.raw, make([]byte, max(64<<10, len(t.raw)))...)[:len(t.raw)]
	}
	n, err := t.f.Read(t.raw[len(t.raw):cap(t.raw)])
	t.raw = t.raw[:len(t.raw)+n]
	if n > 0 {
		return nil
	}
	if err == nil || err == io.EOF {
		return io.EOF
	}
	return fmt.Errorf("follow %s: %w", t.path, err)
}

// zstdFrameLen returns the length of the complete zstd frame (or
// skippable frame, skip set) at the start of b; 0 when b holds only part
// of one.
func zstdFrameLen(b []byte) (n int, skip bool, err error) {
	if len(b) < 4 {
		return 0, false, nil
	}
	magic := binary.LittleEndian.Uint32(b)
	if magic&0xFFFFFFF0 == 0x184D2A50 {
		if len(b) < 8 {
			return 0, true, nil
		}
		size := 8 + int(binary.LittleEndian.Uint32(b[4:]))
		if len(b) < size {
			return 0, true, nil
		}
		return size, true, nil
	}
	if magic != 0xFD2FB528 {
		return 0, false, fmt.Errorf("bad zstd frame magic %#x", magic)
	}
	if len(b) < 5 {
		return 0, false, nil
	}
	fhd := b[4]
	i := 5
	single := fhd&0x20 != 0
	if !single {
		i++ // window descriptor
	}
	i += []int{0, 1, 2, 4}[fhd&3] // dictionary id
	switch fcs := fhd >> 6; {
	case fcs == 0 && single:
		i++
	case fcs == 1:
		i += 2
	case fcs == 2:
		i += 4
	case fcs == 3:
		i += 8
	}
	for {
		if len(b) < i+3 {
			return 0, false, nil
		}
		h := int(b[i]) | int(b[i+1])<<8 | int(b[i+2])<<16
		i += 3
		last, typ, size := h&1 != 0, (h>>1)&3, h>>3
		switch typ {
		case 1: // RLE: one byte stands for size
			i++
		case 3:
			return 0, false, errors.New("reserved zstd block type")
		default:
			i += size
		}
		if last {
			break
		}
	}
	if fhd&0x04 != 0 {
		i += 4 // content checksum
	}
	if len(b) < i {
		return 0, false, nil
	}
	return i, false, nil
}
