package recorder

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// RotatorOptions configure a Rotator.
type RotatorOptions struct {
	// Path is the first file's name. Later parts insert ".partN" before
	// the extension: trace.jsonl.zst, trace.part2.jsonl.zst, ….
	Path string
	// MaxSize starts a new part once a file's compressed size reaches it;
	// 0 never rotates.
	MaxSize int64
	// Header is written at the top of every part (its Part is set).
	Header trace.Header
	// Writer configures each part's Writer.
	Writer Options
}

// Rotator is a Sink that writes one trace, split into parts of bounded
// size, each a complete trace file with its own header. It is safe for
// concurrent use.
type Rotator struct {
	opts  RotatorOptions
	mu    sync.Mutex
	w     *Writer
	part  int
	files []string
	err   error
}

// NewRotator creates the first part.
func NewRotator(opts RotatorOptions) (*Rotator, error) {
	r := &Rotator{opts: opts}
	if err := r.next(); err != nil {
		return nil, err
	}
	return r, nil
}

// PartPath returns the name of part n of a trace whose first file is path.
func PartPath(path string, n int) string {
	if n <= 1 {
		return path
	}
	dir, base := filepath.Split(path)
	name, ext := base, ""
	if i := strings.Index(base, ".jsonl"); i > 0 {
		name, ext = base[:i], base[i:]
	}
	return filepath.Join(dir, fmt.Sprintf("%s.part%d%s", name, n, ext))
}

func (r *Rotator) next() error {
	r.part++
	path := PartPath(r.opts.Path, r.part)
	w, err := Create(path, r.opts.Writer)
	if err != nil {
		return err
	}
	h := r.opts.Header
	if r.opts.MaxSize > 0 {
		h.Part = r.part
	}
	if h.Created.IsZero() {
		h.Created = time.Now().UTC()
	}
	if h.Format == "" {
		h.Format, h.Version = trace.Format, trace.Version
	}
	hdr := &trace.Record{Kind: trace.KindHeader, T: time.Now().UTC(), Header: &h}
	if err := w.Write(hdr); err != nil {
		w.Close()
		return err
	}
	r.w = w
	r.files = append(r.files, path)
	return nil
}

// Write writes a record to the current part, starting a new part first
// when the current one is full, and sets rec.Line to its line in that
// part (see Writer.Write).
func (r *Rotator) Write(rec *trace.Record) error {
	_, line, err := r.Append(rec)
	if err == nil {
		rec.Line = line
	}
	return err
}

// Append is Write for a record the caller may not modify: it returns the
// part's file name and the record's line in it instead.
func (r *Rotator) Append(rec *trace.Record) (file string, line int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return "", 0, ErrClosed
	}
	if r.opts.MaxSize > 0 && r.w.Stats().Written >= r.opts.MaxSize {
		if err := r.w.Close(); err != nil && r.err == nil {
			r.err = err
		}
		if err := r.next(); err != nil {
			r.w = nil
			return "", 0, fmt.Errorf("rotate trace: %w", err)
		}
	}
	line, err = r.w.Append(rec)
	return r.files[len(r.files)-1], line, err
}

// Flush flushes the current part.
func (r *Rotator) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return ErrClosed
	}
	return r.w.Flush()
}

// Current returns the name of the part being written.
func (r *Rotator) Current() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[len(r.files)-1]
}

// Files returns the parts written so far.
func (r *Rotator) Files() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.files...)
}

// Stats returns the current part's counters.
func (r *Rotator) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return Stats{}
	}
	return r.w.Stats()
}

// Close closes the current part and returns the first error any part had.
func (r *Rotator) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return r.err
	}
	err := r.w.Close()
	r.w = nil
	if r.err == nil {
		r.err = err
	}
	return r.err
}
