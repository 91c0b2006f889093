package model

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// Files are trace files opened for loading: each has been checked to be
// a trace (its header read). Load reads them.
type Files struct {
	files []*openFile
	total int64
}

type openFile struct {
	name   string
	f      *os.File
	count  *countReader
	r      *recorder.Reader
	header *trace.Header
}

type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Open expands directories (like wsproxy check) and opens every trace,
// reading its header. A missing file, a directory without traces, or a
// file that is not a trace is an error naming it; nothing is left open
// then.
func Open(paths []string) (*Files, error) {
	if len(paths) == 0 {
		return nil, errors.New("no trace given")
	}
	names, errs := analysis.ExpandPaths(paths)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	fs := &Files{}
	for _, name := range names {
		of, err := openOne(name)
		if err != nil {
			fs.Close()
			return nil, err
		}
		fs.files = append(fs.files, of)
	}
	return fs, nil
}

func openOne(name string) (*openFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open trace: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open trace: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open trace %s: is a directory", name)
	}
	cr := &countReader{r: f}
	r, err := recorder.NewReader(cr, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &openFile{name: name, f: f, count: cr, r: r, header: r.Header()}, nil
}

// Names returns the files' names in load order.
func (fs *Files) Names() []string {
	out := make([]string, len(fs.files))
	for i, f := range fs.files {
		out[i] = f.name
	}
	return out
}

// Close closes every file not yet loaded.
func (fs *Files) Close() {
	for _, f := range fs.files {
		if f.f != nil {
			f.r.Close()
			f.f.Close()
			f.f = nil
		}
	}
}

// loadBatch is how many records the reading goroutine hands over at once.
const loadBatch = 1024

type loadMsg struct {
	file  int
	recs  []*trace.Record
	bad   []string
	end   bool
	warns []recorder.Warning
	err   error
}

// Load reads every file into m on three goroutines: one decodes lines,
// this one builds rows (the model grows while it loads; Progress says how
// far), and one runs the checker over the same records and attaches its
// findings after each batch. Consecutive rotated parts form one checker
// stream, as in wsproxy check. Load returns when everything is loaded and
// checked, or early when stop is closed; it closes the files.
func (m *Model) Load(fs *Files, stop <-chan struct{}) {
	defer fs.Close()
	m.mu.Lock()
	m.progress.Files = len(fs.files)
	for _, f := range fs.files {
		if st, err := f.f.Stat(); err == nil {
			m.progress.Total += st.Size()
		}
	}
	m.buffering = true
	m.mu.Unlock()

	ch := make(chan loadMsg, 4)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		for i, f := range fs.files {
			if !readFile(i, f, ch, done) {
				return
			}
		}
	}()
	checks := make(chan loadMsg, 8)
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		m.check(fs, checks)
	}()
	defer func() {
		close(done)
		for range ch {
		}
		close(checks)
		<-checked
		m.mu.Lock()
		m.buffering = false
		m.store.seal()
		m.progress.Done = true
		m.progress.Bytes = m.progress.Total
		m.mu.Unlock()
	}()

	var base int64 // bytes of the files already read
	cur, prevPart := -1, -1
	for {
		var msg loadMsg
		var ok bool
		select {
		case <-stop:
			return
		case msg, ok = <-ch:
		}
		if !ok {
			return
		}
		f := fs.files[msg.file]
		m.mu.Lock()
		if msg.file != cur {
			cur = msg.file
			// Rotated parts continue their stream, as for the checker.
			part := f.header.Part
			m.beginFile(f.name, !(prevPart >= 1 && part == prevPart+1))
			prevPart = part
			m.progress.File = msg.file + 1
		}
		for _, r := range msg.recs {
			m.addLocked(r, true)
		}
		for _, b := range msg.bad {
			m.warnings = append(m.warnings, b)
		}
		if msg.end {
			for _, w := range msg.warns {
				m.warnings = append(m.warnings, "cut trace: "+w.String())
			}
			if msg.err != nil {
				m.warnings = append(m.warnings, msg.err.Error())
				prevPart = -1
			}
			base += f.count.n.Load()
			m.progress.Bytes = base
		} else {
			m.progress.Bytes = base + f.count.n.Load()
		}
		m.mu.Unlock()
		select {
		case checks <- msg:
		case <-stop:
			return
		}
	}
}

// check runs the checker over the batches whose rows are in (on its own
// goroutine, which owns the engine while loading) and attaches the
// findings of each batch.
func (m *Model) check(fs *Files, in <-chan loadMsg) {
	prevPart, open, cur := -1, false, -1
	flush := func() {
		if len(m.found) == 0 {
			return
		}
		m.mu.Lock()
		for _, f := range m.found {
			m.attach(f)
		}
		m.mu.Unlock()
		m.found = m.found[:0]
	}
	for msg := range in {
		f := fs.files[msg.file]
		if msg.file != cur {
			cur = msg.file
			part := f.header.Part
			if open && !(prevPart >= 1 && part == prevPart+1) {
				m.engine.Finish(timeZero)
			}
			open, prevPart = true, part
			m.engine.SetFile(f.name)
		}
		for _, r := range msg.recs {
			m.engine.Write(r)
		}
		if msg.end && msg.err != nil {
			prevPart = -1
		}
		flush()
	}
	if open {
		m.engine.Finish(timeZero)
	}
	flush()
}

// readFile sends the records of one file in batches. It returns false
// when done was closed.
func readFile(i int, f *openFile, ch chan<- loadMsg, done <-chan struct{}) bool {
	defer func() {
		f.r.Close()
		f.f.Close()
		f.f = nil
	}()
	send := func(msg loadMsg) bool {
		select {
		case ch <- msg:
			return true
		case <-done:
			return false
		}
	}
	msg := loadMsg{file: i, recs: make([]*trace.Record, 0, loadBatch)}
	for {
		rec, err := f.r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *recorder.LineError
			if errors.As(err, &le) {
				msg.bad = append(msg.bad, "skipped bad line: "+le.Error())
				continue
			}
			msg.err = err
			break
		}
		msg.recs = append(msg.recs, rec)
		if len(msg.recs) == loadBatch {
			if !send(msg) {
				return false
			}
			msg = loadMsg{file: i, recs: make([]*trace.Record, 0, loadBatch)}
		}
	}
	msg.end, msg.warns = true, f.r.Warnings()
	return send(msg)
}

// LoadAll opens paths and loads them, for tools and tests that need no
// progress.
func LoadAll(paths []string, cfg analysis.Config) (*Model, error) {
	fs, err := Open(paths)
	if err != nil {
		return nil, err
	}
	m := New(cfg)
	m.Load(fs, nil)
	return m, nil
}
