package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/lettadev/wsproxy/trace"
)

// ErrBufferFull is returned by TryWrite when the writer's buffer is full.
var ErrBufferFull = errors.New("recorder buffer full")

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("recorder closed")

// Compression of a trace file.
type Compression int

// Compressions.
const (
	// Zstd is the default: .jsonl.zst.
	Zstd Compression = iota
	// Plain writes uncompressed JSON Lines.
	Plain
)

// Options configure a Writer. The zero value is usable.
type Options struct {
	// Compression defaults to Zstd.
	Compression Compression
	// Level is the zstd level (default zstd.SpeedDefault).
	Level zstd.EncoderLevel
	// FlushInterval bounds how long a record may stay unreadable in the
	// file after Write returns (default 500ms). What is queued is written
	// as complete zstd frames of whole lines on this timer and on Close,
	// so that after a crash every record older than the interval can be
	// read back, by this package and by the zstd tool.
	FlushInterval time.Duration
	// BufferSize bounds the encoded bytes waiting to be written (default
	// 8 MiB). Write blocks and TryWrite fails while it is full.
	BufferSize int
	// OnError, if set, is called (from the writer's goroutine) the first
	// time writing to the file fails. Records written after a failure are
	// counted as dropped.
	OnError func(error)
}

// Stats are a writer's counters.
type Stats struct {
	Records int64 // records accepted
	Bytes   int64 // uncompressed bytes accepted
	Written int64 // bytes written to the file (compressed)
	Dropped int64 // records lost after a write error or refused by TryWrite
}

// Writer writes records to a trace file. It is safe for concurrent use.
// Records are encoded in the caller's goroutine and written by a
// background goroutine, so callers never wait for the disk unless the
// bounded buffer is full.
type Writer struct {
	name string
	opts Options

	mu      sync.Mutex
	space   *sync.Cond // signalled when pending shrinks
	pending []byte
	spare   []byte
	closed  bool
	err     error // first write error (sticky)
	stats   Stats

	kick      chan struct{} // a block's worth is waiting
	threshold int           // pending bytes that make a block worth writing
	done      chan struct{} // background goroutine exited

	file     io.Closer
	out      *countingWriter
	enc      *zstd.Encoder // EncodeAll only: one frame per unit
	encOut   []byte        // one unit's frame (and marks), written in one call
	units    int64         // units written
	maxBlock int           // bytes of lines per unit: at most the encoder's block size
	flush    chan chan error
}

// Create creates (or truncates) a trace file with mode 0600 and returns a
// writer for it. The caller writes the header record first.
func Create(path string, opts Options) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create trace: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("create trace %s: %w", path, err)
	}
	w, err := newWriter(f, path, f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// NewWriter returns a writer onto w; name is used in error messages.
// Closing the Writer does not close w.
func NewWriter(w io.Writer, name string, opts Options) (*Writer, error) {
	return newWriter(w, name, nil, opts)
}

func newWriter(w io.Writer, name string, closer io.Closer, opts Options) (*Writer, error) {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 500 * time.Millisecond
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 8 << 20
	}
	if opts.Level == 0 {
		opts.Level = zstd.SpeedDefault
	}
	wr := &Writer{
		name:  name,
		opts:  opts,
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		flush: make(chan chan error),
		file:  closer,
		out:   &countingWriter{w: w},
	}
	wr.space = sync.NewCond(&wr.mu)
	wr.maxBlock = encoderBlockSize(opts.Level)
	wr.threshold = min(wr.maxBlock, opts.BufferSize/2)
	switch opts.Compression {
	case Zstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(opts.Level), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("trace %s: zstd: %w", name, err)
		}
		wr.enc = enc
	case Plain:
	default:
		return nil, fmt.Errorf("trace %s: unknown compression %d", name, opts.Compression)
	}
	go wr.run()
	return wr, nil
}

// Name returns the file name the writer was created with.
func (w *Writer) Name() string { return w.name }

// Write encodes r and queues it, blocking while the buffer is full, and
// sets r.Line to the line the record will have in the file (the first
// record written is line 1), so that sinks after the recorder can name
// it. It returns the first write error the file has had (the record is
// then counted as dropped), or ErrClosed.
func (w *Writer) Write(r *trace.Record) error {
	line, err := w.write(r, true)
	if err == nil {
		r.Line = line
	}
	return err
}

// Append is Write for a record the caller may not modify (one shared with
// other sinks): it returns the record's line instead of setting r.Line.
func (w *Writer) Append(r *trace.Record) (line int64, err error) { return w.write(r, true) }

// TryWrite is Write that never blocks: when the buffer is full it drops
// the record, counts it, and returns ErrBufferFull.
func (w *Writer) TryWrite(r *trace.Record) error {
	line, err := w.write(r, false)
	if err == nil {
		r.Line = line
	}
	return err
}

func (w *Writer) write(r *trace.Record, block bool) (int64, error) {
	w.mu.Lock()
	for {
		if w.closed {
			w.mu.Unlock()
			return 0, ErrClosed
		}
		if w.err != nil {
			w.stats.Dropped++
			err := w.err
			w.mu.Unlock()
			return 0, err
		}
		if len(w.pending) < w.opts.BufferSize {
			break
		}
		if !block {
			w.stats.Dropped++
			w.mu.Unlock()
			return 0, ErrBufferFull
		}
		select {
		case w.kick <- struct{}{}:
		default:
		}
		w.space.Wait()
	}
	// Encode straight into the buffer (one record may take it past its
	// bound): no intermediate copy.
	start := len(w.pending)
	var err error
	w.pending, err = trace.AppendLine(w.pending, r)
	if err != nil {
		w.pending = w.pending[:start]
		w.mu.Unlock()
		return 0, fmt.Errorf("trace %s: encode %s record: %w", w.name, r.Kind, err)
	}
	w.stats.Records++
	w.stats.Bytes += int64(len(w.pending) - start)
	line := w.stats.Records
	full := len(w.pending) >= w.threshold
	w.mu.Unlock()
	if full {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return line, nil
}

// Flush writes everything queued so far to the file as complete frames,
// waiting until it is done.
func (w *Writer) Flush() error {
	ch := make(chan error, 1)
	select {
	case w.flush <- ch:
		return <-ch
	case <-w.done:
		return w.Err()
	}
}

// Err returns the first error writing to the file, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Written = w.out.n.Load()
	return s
}

// Close writes everything queued and the end mark, and closes the file
// if the writer opened it. It returns the first error met.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return w.Err()
	}
	w.closed = true
	w.space.Broadcast()
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	<-w.done
	return w.Err()
}

// encoderBlockSize is zstd's block size as klauspost/compress's encoder
// uses it at a level with the default window: a unit up to this size is
// one block. TestBlocksEndAtLineBoundaries checks the files at every
// level with the zstd tool.
func encoderBlockSize(l zstd.EncoderLevel) int {
	if l == zstd.SpeedFastest {
		return 64 << 10
	}
	return 128<<10 - 64 // room for a literal block's headers (lineFrame)
}

// lineFrame appends src as one zstd frame. A frame of one raw block
// (what the encoder makes of input it cannot compress, such as a single
// short line with no history) would be written out by decoders byte by
// byte as it arrives, so a cut inside it would give half a line: such a
// unit is stored instead as a compressed block of raw literals, which
// decoders write out only once it is whole.
func lineFrame(enc *zstd.Encoder, src, dst []byte) []byte {
	start := len(dst)
	dst = enc.EncodeAll(src, dst)
	if len(src) <= encoderBlockSize(zstd.SpeedDefault) && rawSingleBlock(dst[start:]) {
		dst = appendLiteralFrame(dst[:start], src)
	}
	return dst
}

// rawSingleBlock reports whether a zstd frame (RFC 8878) is a single raw
// block.
func rawSingleBlock(f []byte) bool {
	if len(f) < 5 {
		return false
	}
	fhd := f[4]
	n := 5 + []int{0, 1, 2, 4}[fhd&3]
	if fhd&0x20 == 0 {
		n++ // window descriptor
	}
	switch fcs := fhd >> 6; {
	case fcs == 0 && fhd&0x20 != 0:
		n++
	case fcs == 1:
		n += 2
	case fcs == 2:
		n += 4
	case fcs == 3:
		n += 8
	}
	if len(f) < n+3 {
		return false
	}
	last, typ := f[n]&1 != 0, f[n]>>1&3
	return last && typ == 0
}

// appendLiteralFrame appends src (at most 128 KiB less 8 bytes) as a
// zstd frame of one compressed block holding src as raw literals and no
// sequences, without checksum.
func appendLiteralFrame(dst, src []byte) []byte {
	n := len(src)
	// Frame header: a 128 KiB window (so the block may be a few bytes
	// larger than its content), 4-byte content size, no checksum.
	dst = append(dst, 0x28, 0xb5, 0x2f, 0xfd, 0x80, 7<<3, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	// Raw literals section header (type 0), 1, 2 or 3 bytes.
	var lh []byte
	switch {
	case n < 32:
		lh = []byte{byte(n << 3)}
	case n < 4096:
		lh = []byte{byte(1<<2 | n<<4), byte(n >> 4)}
	default:
		lh = []byte{byte(3<<2 | n<<4), byte(n >> 4), byte(n >> 12)}
	}
	size := len(lh) + n + 1 // + the sequences section: 0 sequences
	bh := uint32(1) | 2<<1 | uint32(size)<<3
	dst = append(dst, byte(bh), byte(bh>>8), byte(bh>>16))
	dst = append(dst, lh...)
	dst = append(dst, src...)
	return append(dst, 0)
}

// The writer's marks are zstd skippable frames (which every zstd decoder
// skips): startMark follows the first frame and says that the file is
// written as one frame per unit of lines; endMark ends a closed file. A
// file with the first but not the second was not closed: its writer was
// killed or is still writing.
var (
	startMark = skippable("wsproxy frames 1")
	endMark   = skippable("wsproxy closed 1")
)

func skippable(content string) []byte {
	b := []byte{0x5a, 0x2a, 0x4d, 0x18, byte(len(content)), 0, 0, 0}
	return append(b, content...)
}

// run is the writer's goroutine: it writes what is pending, in frames
// of whole lines, when a block's worth is waiting (the writers kick
// it), on the flush timer, on request and on Close.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	for {
		var flushReq chan error
		select {
		case <-w.kick:
		case <-tick.C:
		case flushReq = <-w.flush:
		}
		closing := w.drain()
		if flushReq != nil {
			flushReq <- w.Err()
		}
		if closing {
			w.fail(w.finish())
			return
		}
	}
}

// drain writes everything pending as units of whole lines and reports
// whether the writer is closing. A unit is as many whole lines as fit in
// one zstd block, or one line longer than a block. Each unit is a
// complete zstd frame (a single block unless its one line is longer),
// written to the file with one write call, so a process killed at any
// moment leaves complete frames only.
//
// Why frames and not blocks of one frame: the zstd tool decodes a block
// into its own buffer and writes it out in pieces as its 128 KiB output
// buffer drains; when the input ends right after a block, it stops with
// the rest of that block unwritten, mid-line. At the end of a frame it
// writes out everything first. One frame per unit costs compression only
// when units are small (little traffic): measured by BenchmarkFraming. The pending buffer
// is swapped with a spare one, so writers go on while it writes and
// neither buffer is reallocated once it has grown to the traffic.
func (w *Writer) drain() bool {
	w.mu.Lock()
	closing := w.closed
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return closing
	}
	buf := w.pending
	w.pending, w.spare = w.spare[:0], nil
	failed := w.err != nil
	w.mu.Unlock()

	rest := buf
	for len(rest) > 0 && !failed {
		n := len(rest)
		if n > w.maxBlock {
			// Cut after the last newline within the block; a single line
			// longer than a block is a unit by itself.
			n = bytes.LastIndexByte(rest[:w.maxBlock], '\n') + 1
			if n == 0 {
				n = bytes.IndexByte(rest, '\n') + 1
				if n == 0 {
					n = len(rest)
				}
			}
		}
		err := w.writeBlock(rest[:n])
		w.fail(err)
		failed = err != nil
		rest = rest[n:]
	}

	w.mu.Lock()
	if failed {
		// Accepted before the failure, but never written.
		w.stats.Dropped += int64(bytes.Count(rest, []byte{'\n'}))
	}
	w.spare = buf[:0]
	w.space.Broadcast()
	w.mu.Unlock()
	return closing
}

// writeBlock writes one unit of whole lines to the file in one write
// call: plain, or as one zstd frame (the first followed by startMark).
func (w *Writer) writeBlock(b []byte) error {
	if w.enc == nil {
		_, err := w.out.Write(b)
		return err
	}
	w.encOut = lineFrame(w.enc, b, w.encOut[:0])
	if w.units == 0 {
		w.encOut = append(w.encOut, startMark...)
	}
	w.units++
	_, err := w.out.Write(w.encOut)
	return err
}

func (w *Writer) finish() error {
	var err error
	if w.Err() == nil && w.enc != nil && w.units > 0 {
		_, err = w.out.Write(endMark)
	}
	if w.file != nil {
		if cerr := w.file.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	return err
}

// fail records the first write error and reports it once.
func (w *Writer) fail(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	first := w.err == nil
	if first {
		w.err = fmt.Errorf("write trace %s: %w", w.name, err)
	}
	e := w.err
	w.space.Broadcast()
	w.mu.Unlock()
	if first && w.opts.OnError != nil {
		w.opts.OnError(e)
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
