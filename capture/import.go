package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// DefaultProgressMin is the capture size from which Import reports
// progress.
const DefaultProgressMin = 4 << 20

// ImportOptions configure Import.
type ImportOptions struct {
	Options
	// Out is where traces go: a directory (existing, or ending in a path
	// separator) gets NAME.jsonl.zst after the capture's name; anything
	// else is the trace file itself (".jsonl" for plain JSON Lines).
	// Empty means the current directory.
	Out string
	// Split writes one trace per connection: NAME-c1.jsonl.zst, ….
	Split bool
	// Progress, if set, gets a line at every tenth of a capture of at
	// least ProgressMin bytes (default DefaultProgressMin).
	Progress    io.Writer
	ProgressMin int64
	// Tool and ToolVersion name the importer in trace headers; Now is
	// the clock for their creation time (default time.Now).
	Tool, ToolVersion string
	Now               func() time.Time
}

// Import reads one capture and writes its WebSocket connections as
// traces. It returns the summary, and an error when the file could not be
// read as a capture at all (a *NotCaptureError, a *CutError in the file
// header) or a trace could not be written. A capture cut inside a packet
// is imported up to the cut (Summary.Cut says where).
func Import(path string, o ImportOptions) (*Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tool == "" {
		o.Tool = "wsproxy import"
	}
	if o.ProgressMin <= 0 {
		o.ProgressMin = DefaultProgressMin
	}
	pr, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	out, err := outputPath(path, o.Out)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(out); err == nil {
		if in, err := os.Stat(path); err == nil && os.SameFile(fi, in) {
			return nil, fmt.Errorf("%s: the output would overwrite the capture itself", path)
		}
	}
	hdr := trace.NewHeader(o.Tool, o.ToolVersion, trace.SourcePcap, o.Now())
	hdr.Header.Secrets = o.Redact.Secrets()
	var sink writerSink
	if o.Split {
		sink = &splitSink{base: out, hdr: hdr, open: map[string]*fileSink{}}
	} else {
		sink = &oneSink{path: out, hdr: hdr}
	}
	src := NewSource(pr, o.Options)
	next := int64(1)
	var werr error
	for {
		rec, err := src.Next()
		if o.Progress != nil && size >= o.ProgressMin {
			for done := pr.BytesRead(); next <= 9 && done >= size*next/10; next++ {
				fmt.Fprintf(o.Progress, "import: %s: %d%% (%s of %s, %d packets)\n", path, next*10, humanBytes(size*next/10), humanBytes(size), src.sum.Packets)
			}
		}
		if err != nil {
			if err != io.EOF && !errors.As(err, new(*CutError)) {
				src.sum.warn(fmt.Sprintf("reading stopped: %v", err))
			}
			break
		}
		if werr == nil {
			werr = sink.write(rec)
		}
	}
	sum := src.Summary()
	cerr := sink.close()
	sum.Outputs = sink.files()
	sum.Records = sink.records()
	if werr == nil {
		werr = cerr
	}
	return sum, werr
}

// outputPath returns the trace path for a capture: out itself, or a file
// in the directory out named after the capture.
func outputPath(capture, out string) (string, error) {
	if out == "" {
		out = "."
	}
	isDir := strings.HasSuffix(out, string(os.PathSeparator))
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		isDir = true
	}
	if !isDir {
		return out, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("output directory: %w", err)
	}
	base := filepath.Base(capture)
	for _, ext := range []string{".gz", ".pcapng", ".pcap", ".cap"} {
		base = strings.TrimSuffix(base, ext)
	}
	return filepath.Join(out, base+".jsonl.zst"), nil
}

// writerSink is where an import's records go.
type writerSink interface {
	write(r *trace.Record) error
	close() error
	files() []string
	records() int64
}

// fileSink is one trace file, numbering its records from 1.
type fileSink struct {
	path string
	w    *recorder.Writer
	n    int64
}

func createTrace(path string, hdr *trace.Record) (*fileSink, error) {
	opts := recorder.Options{}
	if strings.HasSuffix(path, ".jsonl") {
		opts.Compression = recorder.Plain
	}
	w, err := recorder.Create(path, opts)
	if err != nil {
		return nil, err
	}
	h := *hdr
	if err := w.Write(&h); err != nil {
		w.Close()
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	return &fileSink{path: path, w: w}, nil
}

func (f *fileSink) write(r *trace.Record) error {
	f.n++
	r.N = f.n
	if err := f.w.Write(r); err != nil {
		return fmt.Errorf("trace %s: %w", f.path, err)
	}
	return nil
}

func (f *fileSink) close() error {
	if err := f.w.Close(); err != nil {
		return fmt.Errorf("trace %s: %w", f.path, err)
	}
	return nil
}

// oneSink writes every record into one trace (created even when the
// capture holds no connection, so that the result of an import is always
// a trace).
type oneSink struct {
	path string
	hdr  *trace.Record
	f    *fileSink
	err  error
}

func (s *oneSink) ensure() error {
	if s.f == nil && s.err == nil {
		s.f, s.err = createTrace(s.path, s.hdr)
	}
	return s.err
}

func (s *oneSink) write(r *trace.Record) error {
	if err := s.ensure(); err != nil {
		return err
	}
	return s.f.write(r)
}

func (s *oneSink) close() error {
	if err := s.ensure(); err != nil {
		return err
	}
	return s.f.close()
}

func (s *oneSink) files() []string {
	if s.f == nil {
		return nil
	}
	return []string{s.path}
}

func (s *oneSink) records() int64 {
	if s.f == nil {
		return 0
	}
	return s.f.n
}

// splitSink writes one trace per connection, each closed after the
// connection's last record (its close or http record), so that open
// files are bounded by open connections.
type splitSink struct {
	base  string
	hdr   *trace.Record
	open  map[string]*fileSink
	paths []string
	n     int64
}

func (s *splitSink) path(conn string) string {
	b := s.base
	ext := ".jsonl.zst"
	for _, e := range []string{".jsonl.zst", ".jsonl.gz", ".jsonl"} {
		if strings.HasSuffix(b, e) {
			b, ext = strings.TrimSuffix(b, e), e
			break
		}
	}
	if ext == ".jsonl.gz" {
		ext = ".jsonl.zst"
	}
	return b + "-" + conn + ext
}

func (s *splitSink) write(r *trace.Record) error {
	f := s.open[r.Conn]
	if f == nil {
		var err error
		p := s.path(r.Conn)
		if f, err = createTrace(p, s.hdr); err != nil {
			return err
		}
		s.open[r.Conn] = f
		s.paths = append(s.paths, p)
	}
	s.n++
	if err := f.write(r); err != nil {
		return err
	}
	if r.Kind == trace.KindClose || r.Kind == trace.KindHTTP {
		delete(s.open, r.Conn)
		return f.close()
	}
	return nil
}

func (s *splitSink) close() error {
	var errs []error
	for _, p := range s.paths {
		for id, f := range s.open {
			if f.path == p {
				errs = append(errs, f.close())
				delete(s.open, id)
			}
		}
	}
	return errors.Join(errs...)
}

func (s *splitSink) files() []string { return s.paths }
func (s *splitSink) records() int64  { return s.n }
