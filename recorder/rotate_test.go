package recorder

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/lettadev/wsproxy/trace"
)

func TestRotatorSplitsIntoCompleteParts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.jsonl.zst")
	r, err := NewRotator(RotatorOptions{Path: path, MaxSize: 20 << 10, Header: *trace.NewHeader("test", "0", trace.SourceProxy, t0).Header,
		Writer: Options{BufferSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	for i := 1; i <= n; i++ {
		if err := r.Write(frameRecord(i)); err != nil {
			t.Fatal(err)
		}
		if i%2000 == 0 {
			r.Flush() // as the timer would; sizes become visible
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	files := r.Files()
	if len(files) < 3 || files[1] != filepath.Join(filepath.Dir(path), "run.part2.jsonl.zst") {
		t.Fatalf("files %v", files)
	}
	next := 1
	for i, f := range files {
		rd, err := Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if rd.Header().Part != i+1 {
			t.Errorf("%s: part %d", f, rd.Header().Part)
		}
		for _, rec := range readAll(t, rd) {
			if !bytes.Equal(rec.Payload, frameRecord(next).Payload) {
				t.Fatalf("%s: record %d out of order", f, next)
			}
			next++
		}
		rd.Close()
	}
	if next != n+1 {
		t.Errorf("read %d records", next-1)
	}
}
