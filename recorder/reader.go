package recorder

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/lettadev/wsproxy/trace"
)

// DefaultMaxLine bounds one line of a trace (a 16 MiB binary frame is
// about 22 MiB of base64).
const DefaultMaxLine = 64 << 20

// ErrNotTrace is wrapped by errors for files that are not wsproxy traces.
var ErrNotTrace = errors.New("not a wsproxy trace")

// LineError is a bad line: the reader skips it and can go on.
type LineError struct {
	File string
	Line int64
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s line %d: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Warning is a problem that loses no complete record, such as a file cut
// in the middle of a record or a compressed block.
type Warning struct {
	File string
	// Line is the number the cut record would have had.
	Line int64
	// Offset is the uncompressed byte offset where the cut record starts;
	// FileSize is the size of the file on disk (-1 if unknown).
	Offset   int64
	FileSize int64
	Msg      string
}

func (w Warning) String() string {
	s := fmt.Sprintf("%s line %d (byte %d of the decompressed stream): %s", w.File, w.Line, w.Offset, w.Msg)
	if w.FileSize >= 0 {
		s += fmt.Sprintf(" (file is %d bytes)", w.FileSize)
	}
	return s
}

// Reader streams the records of a trace in constant memory. It takes
// zstd, gzip or plain JSON Lines, told apart by their first bytes.
type Reader struct {
	name     string
	file     *os.File
	fileSize int64
	zdec     *zstd.Decoder
	marks    *markWatcher // the raw zstd stream, watched for the writer's marks
	gz       *gzip.Reader
	br       *bufio.Reader
	header   *trace.Header
	line     int64
	offset   int64 // uncompressed bytes consumed
	maxLine  int
	buf      []byte
	dec      trace.Decoder
	recs     []trace.Record // block that new records are carved from
	warnings []Warning
	done     bool
	err      error // terminal error (not io.EOF)
}

// Compression magic numbers.
var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// Open opens a trace file and reads its header.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open trace: %w", err)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			f.Close()
			return nil, fmt.Errorf("open trace %s: is a directory", path)
		}
		size = st.Size()
	}
	r, err := newReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file, r.fileSize = f, size
	return r, nil
}

// NewReader reads a trace from rd; name is used in messages. It reads the
// header before returning.
func NewReader(rd io.Reader, name string) (*Reader, error) {
	return newReader(rd, name)
}

func newReader(rd io.Reader, name string) (*Reader, error) {
	r := &Reader{name: name, fileSize: -1, maxLine: DefaultMaxLine}
	peek := bufio.NewReaderSize(rd, 64<<10)
	magic, _ := peek.Peek(4)
	var src io.Reader = peek
	switch {
	case bytes.HasPrefix(magic, zstdMagic):
		r.marks = &markWatcher{r: peek}
		dec, err := zstd.NewReader(r.marks, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", name, err)
		}
		r.zdec, src = dec, dec
	case bytes.HasPrefix(magic, gzipMagic):
		gz, err := gzip.NewReader(peek)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		r.gz, src = gz, gz
	}
	r.br = bufio.NewReaderSize(src, 256<<10)
	rec, err := r.Next()
	if err != nil {
		r.closeDecoders()
		if err == io.EOF && r.Truncated() {
			return nil, fmt.Errorf("%s: %w: the file is cut before its first complete record (%s)", name, ErrNotTrace, r.warnings[0].Msg)
		}
		if err == io.EOF {
			return nil, fmt.Errorf("%s: %w: the file is empty", name, ErrNotTrace)
		}
		var le *LineError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("%s line 1: %w: %v", name, ErrNotTrace, le.Err)
		}
		return nil, err
	}
	if rec.Kind != trace.KindHeader || rec.Header == nil || rec.Header.Format != trace.Format {
		r.closeDecoders()
		return nil, fmt.Errorf("%s line 1: %w: the first record is not a %q header", name, ErrNotTrace, trace.Format)
	}
	major, err := majorVersion(rec.Header.Version)
	if err != nil || major != trace.VersionMajor {
		r.closeDecoders()
		return nil, fmt.Errorf("%s line 1: unsupported trace format version %q (this tool reads %d.x)", name, rec.Header.Version, trace.VersionMajor)
	}
	r.header = rec.Header
	return r, nil
}

func majorVersion(v string) (int, error) {
	maj, _, _ := strings.Cut(v, ".")
	return strconv.Atoi(maj)
}

// Name returns the file name.
func (r *Reader) Name() string { return r.name }

// Header returns the trace's header.
func (r *Reader) Header() *trace.Header { return r.header }

// Warnings returns what the reader noticed without losing records: a cut
// at the end of the file.
func (r *Reader) Warnings() []Warning { return r.warnings }

// Truncated reports whether the trace ended inside a record or block, or
// without the writer's end mark (a file still being written, or cut off
// by a crash).
func (r *Reader) Truncated() bool { return len(r.warnings) > 0 }

// Next returns the next record. At the end it returns io.EOF. A line that
// is not a valid record gives a *LineError; calling Next again continues
// with the following line. A stream that cannot be read further gives an
// error that names the file and the last line.
func (r *Reader) Next() (*trace.Record, error) {
	rec := r.newRecord()
	for {
		if r.done {
			if r.err != nil {
				return nil, r.err
			}
			return nil, io.EOF
		}
		start := r.offset // where this line starts (readLine moves offset past skipped bytes)
		line, complete, readErr := r.readLine()
		r.offset += int64(len(line))
		done := r.line // complete lines before this one
		if len(line) > 0 || complete {
			r.line++
		}
		if readErr != nil {
			r.done = true
			if !errors.Is(readErr, io.EOF) && !errors.Is(readErr, io.ErrUnexpectedEOF) {
				where := fmt.Sprintf("after line %d", done)
				if done == 0 {
					where = "before its first line"
				}
				r.err = fmt.Errorf("read %s %s (byte %d of the decompressed stream): %w", r.name, where, start, readErr)
			}
			if readErr == io.EOF && r.marks != nil && r.marks.unclosed() {
				r.warn(r.line+1, r.offset, "trace ends without its end mark (the writer was killed, or is still writing); every record before it is complete")
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			if readErr != nil && errors.Is(readErr, io.ErrUnexpectedEOF) {
				r.warn(r.line+1, start, "trace ends inside a compressed block (file cut or still being written)")
			}
			continue
		}
		if err, ok := r.tooLong(line, start); ok {
			return nil, err
		}
		perr := r.dec.ParseLine(line, rec)
		if perr == nil {
			rec.Line = r.line
			if !complete && readErr != nil && !errors.Is(readErr, io.EOF) {
				// A complete record right at a cut: keep it, but say so.
				r.warn(r.line+1, r.offset, "trace ends inside a compressed block (file cut or still being written)")
			}
			return rec, nil
		}
		if !complete && readErr != nil {
			// The last line was cut: keep everything before it.
			r.warn(r.line, start, fmt.Sprintf("last record is incomplete (%d bytes), dropped", len(line)))
			continue
		}
		return nil, &LineError{File: r.name, Line: r.line, Err: perr}
	}
}

// recordBlock is how many records are allocated at a time.
const recordBlock = 128

// newRecord carves a record out of a block, so that reading allocates a
// block per recordBlock records rather than one per record. Records stay
// valid for as long as they are referenced.
func (r *Reader) newRecord() *trace.Record {
	if len(r.recs) == cap(r.recs) {
		r.recs = make([]trace.Record, 0, recordBlock)
	}
	r.recs = r.recs[:len(r.recs)+1]
	return &r.recs[len(r.recs)-1]
}

// tooLong reports a line over the bound.
func (r *Reader) tooLong(line []byte, start int64) (error, bool) {
	if len(line) <= r.maxLine {
		return nil, false
	}
	return &LineError{File: r.name, Line: r.line, Err: fmt.Errorf("line at byte %d is longer than %s", start, sizeName(r.maxLine))}, true
}

// sizeName writes a bound in MiB when it is a whole number of them.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (r *Reader) warn(line, offset int64, msg string) {
	r.warnings = append(r.warnings, Warning{File: r.name, Line: line, Offset: offset, FileSize: r.fileSize, Msg: msg})
}

// readLine returns the next line without its newline, whether it ended
// with one, and the read error that ended it (if any). A line longer than
// maxLine is returned cut to maxLine+1 bytes, its rest skipped.
func (r *Reader) readLine() ([]byte, bool, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(chunk) <= r.maxLine+1 {
			r.buf = append(r.buf, chunk...)
		} else if keep := r.maxLine + 1 - len(r.buf); keep > 0 {
			r.buf = append(r.buf, chunk[:keep]...)
			r.offset += int64(len(chunk) - keep)
		} else {
			r.offset += int64(len(chunk))
		}
		switch err {
		case nil:
			n := len(r.buf)
			if n > 0 && r.buf[n-1] == '\n' {
				r.offset++
				return r.buf[:n-1], true, nil
			}
			return r.buf, true, nil // a cut long line
		case bufio.ErrBufferFull:
			continue
		default:
			return r.buf, false, err
		}
	}
}

// Close releases the file and decoders.
func (r *Reader) Close() error {
	r.closeDecoders()
	if r.file != nil {
		return r.file.Close()
	}
	return nil
}

func (r *Reader) closeDecoders() {
	if r.zdec != nil {
		r.zdec.Close()
		r.zdec = nil
	}
	if r.gz != nil {
		r.gz.Close()
		r.gz = nil
	}
}

// markWatcher passes a zstd stream through and watches it for the
// Writer's marks (startMark anywhere, endMark at the very end).
type markWatcher struct {
	r      io.Reader
	framed bool // startMark seen
	seen   int  // bytes read
	carry  []byte
	tail   [16 + 8]byte // the last bytes read
}

func (m *markWatcher) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	b := p[:n]
	if !m.framed && n > 0 {
		m.carry = append(m.carry, b...)
		if bytes.Contains(m.carry, startMark) {
			m.framed, m.carry = true, nil
		} else if k := len(startMark) - 1; len(m.carry) > k {
			m.carry = append(m.carry[:0], m.carry[len(m.carry)-k:]...)
		}
	}
	if n >= len(m.tail) {
		copy(m.tail[:], b[n-len(m.tail):])
	} else if n > 0 {
		copy(m.tail[:], m.tail[n:])
		copy(m.tail[len(m.tail)-n:], b)
	}
	m.seen += n
	return n, err
}

// unclosed reports whether the stream read so far was written with marks
// but does not end with endMark.
func (m *markWatcher) unclosed() bool {
	return m.framed && (m.seen < len(m.tail) || !bytes.Equal(m.tail[:], endMark))
}
