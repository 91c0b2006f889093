package recorder

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

var t0 = time.Date(2026, 11, 28, 17, 4, 18, 0, time.UTC)

// frameRecord returns the i-th frame of a synthetic session.
func frameRecord(i int) *trace.Record {
	p := fmt.Appendf(nil, `{"type":"stream_delta","delta":{"message_type":"assistant_message","content":"chunk %d of the answer"},"runtime":{"agent_id":"agent-1","conversation_id":"default"},"event_seq":%d,"emitted_at":"2026-11-28T17:04:18.522Z","idempotency_key":"stream_delta:%d:b6517117-0fdd-48ec-8162-39033498b5a9","seq":%d}`, i, i, i, i)
	return &trace.Record{Kind: trace.KindFrame, T: t0.Add(time.Duration(i) * time.Millisecond), Conn: "c1",
		From: trace.Server, Op: trace.OpText, Payload: p, Size: len(p)}
}

func writeTrace(t testing.TB, path string, n int, opts Options) {
	t.Helper()
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(trace.NewHeader("test", "0", trace.SourceSimulator, t0)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := w.Write(frameRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t testing.TB, r *Reader) []*trace.Record {
	t.Helper()
	var out []*trace.Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, rec)
	}
}

func TestWriteReadFormats(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		opts Options
	}{{"x.jsonl.zst", Options{}}, {"x.jsonl", Options{Compression: Plain}}} {
		path := filepath.Join(dir, c.name)
		writeTrace(t, path, 1000, c.opts)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", c.name, st.Mode().Perm())
		}
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Header().Source != trace.SourceSimulator || r.Header().Version != trace.Version {
			t.Errorf("header %+v", r.Header())
		}
		recs := readAll(t, r)
		r.Close()
		if len(recs) != 1000 || r.Truncated() {
			t.Fatalf("%s: %d records, truncated %v", c.name, len(recs), r.Truncated())
		}
		for i, rec := range recs {
			want := frameRecord(i + 1)
			if !bytes.Equal(rec.Payload, want.Payload) || rec.Line != int64(i+2) || !rec.T.Equal(want.T) {
				t.Fatalf("record %d: line %d payload %q", i, rec.Line, rec.Payload)
			}
		}
	}
}

// TestGzipAndRenamed checks that the format is told by content, not name.
func TestGzipAndRenamed(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "a.jsonl")
	writeTrace(t, plain, 10, Options{Compression: Plain})
	data, _ := os.ReadFile(plain)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	gzPath := filepath.Join(dir, "misnamed.jsonl.zst")
	os.WriteFile(gzPath, gz.Bytes(), 0o600)
	zstPath := filepath.Join(dir, "misnamed.jsonl")
	writeTrace(t, zstPath, 10, Options{})
	for _, p := range []string{gzPath, zstPath} {
		r, err := Open(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if n := len(readAll(t, r)); n != 10 {
			t.Errorf("%s: %d records", p, n)
		}
		r.Close()
	}
}

func TestRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	hdr := `{"kind":"header","t":"2026-11-28T17:04:18.000000000Z","format":"wsproxy-trace","version":"%s","tool":"t","tool_version":"0","source":"proxy"}` + "\n"
	cases := map[string]string{
		write("empty", ""):                        "empty",
		write("garbage", "\x89PNG\r\n\x1a\nxxxx"): "line 1",
		write("json", `{"hello":"world"}`+"\n"):   "line 1",
		write("noheader", `{"kind":"frame","t":"2026-11-28T17:04:18Z","conn":"c","from":"client","op":"text","size":0,"text":""}`+"\n"): "header",
		write("v2", fmt.Sprintf(hdr, "2.0")):                                                      `version "2.0"`,
		write("otherformat", strings.Replace(fmt.Sprintf(hdr, "1.0"), "wsproxy-trace", "har", 1)): "header",
	}
	for path, want := range cases {
		_, err := Open(path)
		if err == nil {
			t.Errorf("%s: no error", path)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Base(path)) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q lacks file name or %q", path, err, want)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
	// A newer minor version is fine.
	r, err := Open(write("v1.7", fmt.Sprintf(hdr, "1.7")))
	if err != nil {
		t.Fatalf("minor version refused: %v", err)
	}
	r.Close()
}

// TestBadLineInTheMiddle: a garbage line is reported with file and line,
// and the reader keeps going.
func TestBadLineInTheMiddle(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.jsonl")
	writeTrace(t, p, 3, Options{Compression: Plain})
	data, _ := os.ReadFile(p)
	lines := bytes.SplitAfter(data, []byte("\n"))
	var out []byte
	out = append(out, lines[0]...)
	out = append(out, lines[1]...)
	out = append(out, "this is not a record\n"...)
	out = append(out, lines[2]...)
	out = append(out, lines[3]...)
	os.WriteFile(p, out, 0o600)
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []int64
	var lineErrs []string
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		var le *LineError
		if errors.As(err, &le) {
			lineErrs = append(lineErrs, err.Error())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rec.Line)
	}
	if fmt.Sprint(got) != "[2 4 5]" || len(lineErrs) != 1 || !strings.Contains(lineErrs[0], "t.jsonl line 3") {
		t.Errorf("lines %v errors %v", got, lineErrs)
	}
}

// TestCutAnywhere cuts a trace at random bytes: every complete record
// before the cut is read back, the cut is reported, nothing else fails.
func TestCutAnywhere(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		opts Options
	}{{"z.jsonl.zst", Options{FlushInterval: time.Hour}}, {"p.jsonl", Options{Compression: Plain}}} {
		full := filepath.Join(dir, c.name)
		// Write with a flush every 50 records, as the timer would.
		w, err := Create(full, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(trace.NewHeader("test", "0", trace.SourceSimulator, t0))
		type mark struct{ size, records int }
		var marks []mark
		for i := 1; i <= 2000; i++ {
			w.Write(frameRecord(i))
			if i%50 == 0 {
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				st, _ := os.Stat(full)
				marks = append(marks, mark{int(st.Size()), i})
			}
		}
		w.Close()
		data, _ := os.ReadFile(full)
		rng := rand.New(rand.NewSource(7))
		for k := 0; k < 60; k++ {
			cut := 1 + rng.Intn(len(data)-1)
			if k == 0 {
				cut = len(data) - 1
			}
			// Records known to be complete before the cut.
			want := 0
			for _, m := range marks {
				if m.size <= cut {
					want = m.records
				}
			}
			if c.opts.Compression == Plain {
				want = bytes.Count(data[:cut], []byte("\n")) - 1
			}
			r, err := NewReader(bytes.NewReader(data[:cut]), c.name)
			if err != nil {
				if want <= 0 && strings.Contains(err.Error(), "cut before its first complete record") {
					continue // nothing complete before the cut
				}
				t.Fatalf("%s cut at %d: %v", c.name, cut, err)
			}
			n := 0
			for {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s cut at %d: %v", c.name, cut, err)
				}
				n++
				if !bytes.Equal(rec.Payload, frameRecord(n).Payload) {
					t.Fatalf("%s cut at %d: record %d differs", c.name, cut, n)
				}
			}
			if n < want {
				t.Errorf("%s cut at %d/%d: read %d records, want at least %d", c.name, cut, len(data), n, want)
			}
			if n < 2000 && !r.Truncated() && c.opts.Compression != Plain {
				t.Errorf("%s cut at %d: no truncation warning", c.name, cut)
			}
			for _, w := range r.Warnings() {
				if !strings.Contains(w.String(), c.name) {
					t.Errorf("warning %q does not name the file", w)
				}
			}
			r.Close()
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.jsonl.zst")
	w, err := Create(path, Options{BufferSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(trace.NewHeader("test", "0", trace.SourceProxy, t0))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				r := frameRecord(i)
				r.Conn = fmt.Sprintf("c%d", g)
				if err := w.Write(r); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Records != 4001 || s.Dropped != 0 || s.Written == 0 {
		t.Errorf("stats %+v", s)
	}
	r, _ := Open(path)
	defer r.Close()
	perConn := map[string]int{}
	for _, rec := range readAll(t, r) {
		// Each connection's records stay in their order.
		if !bytes.Equal(rec.Payload, frameRecord(perConn[rec.Conn]).Payload) {
			t.Fatalf("%s record %d out of order", rec.Conn, perConn[rec.Conn])
		}
		perConn[rec.Conn]++
	}
	if len(perConn) != 8 {
		t.Errorf("connections %v", perConn)
	}
}

// failingWriter fails after n bytes, like a full disk.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("no space left on device")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriteErrorIsReportedNotFatal(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	w, err := NewWriter(&failingWriter{n: 100}, "full.jsonl", Options{Compression: Plain, OnError: func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3000; i++ {
		w.Write(frameRecord(i)) // must never block forever or panic
	}
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), "full.jsonl") || !strings.Contains(err.Error(), "no space") {
		t.Errorf("Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 {
		t.Errorf("OnError called %d times", len(reported))
	}
	if s := w.Stats(); s.Dropped == 0 {
		t.Errorf("no dropped records counted: %+v", s)
	}
}

func TestTryWriteFull(t *testing.T) {
	pr, pw := io.Pipe() // nobody reads: the writer goroutine blocks
	w, err := NewWriter(pw, "pipe", Options{Compression: Plain, BufferSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	var full bool
	for i := 0; i < 10000 && !full; i++ {
		full = errors.Is(w.TryWrite(frameRecord(i)), ErrBufferFull)
	}
	if !full {
		t.Fatal("TryWrite never reported a full buffer")
	}
	go io.Copy(io.Discard, pr)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	if w.Stats().Dropped == 0 {
		t.Error("drop not counted")
	}
}
