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
	// file after Write returns (default 500ms). Complete zstd blocks are
	// flushed on this timer and on Close, so that after a crash every
	// record older than the interval can be read back.
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

	file  io.Closer
	out   *countingWriter
	enc   *zstd.Encoder
	flush chan chan error
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
	wr.threshold = min(blockSize, opts.BufferSize/2)
	switch opts.Compression {
	case Zstd:
		enc, err := zstd.NewWriter(wr.out, zstd.WithEncoderLevel(opts.Level), zstd.WithEncoderConcurrency(1))
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

// Flush writes everything queued so far and flushes a complete block to
// the file, waiting until it is done.
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

// Close writes everything queued, ends the zstd frame, and closes the file
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

// blockSize bounds the bytes written between two encoder flushes. It is
// below zstd's 128 KiB block size, so the encoder never emits a block on
// its own: every block ends at a line boundary and a crash can only lose
// whole records, never leave half a line that other tools choke on.
const blockSize = 120 << 10

// run is the writer's goroutine: it writes what is pending, in
// line-aligned blocks, when a block's worth is waiting (the writers kick
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

// drain writes everything pending as line-aligned blocks, each flushed to
// the file, and reports whether the writer is closing. The pending buffer
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
		if n > blockSize {
			// Cut after the last newline within the block; a single line
			// longer than a block is written whole.
			n = bytes.LastIndexByte(rest[:blockSize], '\n') + 1
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

// writeBlock writes whole lines and flushes them to the file.
func (w *Writer) writeBlock(b []byte) error {
	if w.enc == nil {
		_, err := w.out.Write(b)
		return err
	}
	if _, err := w.enc.Write(b); err != nil {
		return err
	}
	return w.enc.Flush()
}

func (w *Writer) finish() error {
	var err error
	if w.Err() == nil && w.enc != nil {
		err = w.enc.Close()
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
