package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// writeGrowing writes n frame records (numbered 1..n) with the real
// writer, flushing (a frame of its own) every `every` records, and returns
// the file's bytes.
func writeGrowing(t testing.TB, path string, c Compression, n, every int) []byte {
	t.Helper()
	w, err := Create(path, Options{Compression: c, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&trace.Record{Kind: trace.KindHeader, T: time.Unix(0, 0), Header: &trace.Header{Format: trace.Format, Version: trace.Version}}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		p := fmt.Sprintf(`{"type":"stream_delta","seq":%d,"delta":{"content":%q}}`, i, strings.Repeat("x", i%50))
		r := &trace.Record{Kind: trace.KindFrame, T: time.Unix(int64(i), 0), N: int64(i), Conn: "c1", From: trace.Server,
			Op: trace.OpText, Payload: []byte(p), Form: trace.FormMsg, Size: len(p)}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if i%every == 0 {
			w.Flush()
		}
	}
	w.Close()
	b, _ := os.ReadFile(path)
	return b
}

// A Tail following a growing file returns each record once, in order,
// with its line, whatever the byte the file ends at when it looks: a
// frame, a block or a line cut anywhere is waited for, never an error.
func TestTailFollowsAGrowingFile(t *testing.T) {
	for name, c := range map[string]Compression{"zstd": Zstd, "plain": Plain} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			final := writeGrowing(t, filepath.Join(dir, "w"), c, 300, 37)
			path := filepath.Join(dir, "follow")
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			tl, err := OpenTail(path)
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			var got []int64
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			defer f.Close()
			// Grow the file by odd steps, reading after each.
			for off := 0; off < len(final); {
				step := min(len(final)-off, 1+off%97)
				f.Write(final[off : off+step])
				off += step
				if err := tl.ReadUpTo(1<<62, func(r *trace.Record) {
					if r.Kind == trace.KindFrame {
						if want := int64(len(got) + 1); r.N != want || r.Line != want+1 {
							t.Fatalf("record n=%d line %d, want n=%d line %d", r.N, r.Line, want, want+1)
						}
						got = append(got, r.N)
					}
				}); err != nil {
					t.Fatalf("at byte %d: %v", off, err)
				}
			}
			if len(got) != 300 {
				t.Fatalf("followed %d records, want 300", len(got))
			}
		})
	}
}

// ReadUpTo stops at its limit and goes on from there next time.
func TestTailLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl.zst")
	writeGrowing(t, path, Zstd, 50, 10)
	tl, err := OpenTail(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	var ns []int64
	collect := func(r *trace.Record) {
		if r.N > 0 {
			ns = append(ns, r.N)
		}
	}
	tl.ReadUpTo(5, collect)
	if fmt.Sprint(ns) != "[1 2 3 4 5]" {
		t.Fatalf("up to 5: %v", ns)
	}
	ns = nil
	tl.ReadUpTo(5, collect)
	if len(ns) != 0 {
		t.Fatalf("again up to 5: %v", ns)
	}
	tl.ReadUpTo(8, collect)
	if fmt.Sprint(ns) != "[6 7 8]" {
		t.Fatalf("up to 8: %v", ns)
	}
}

func TestTailRefusesGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl.gz")
	os.WriteFile(path, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, 0o600)
	tl, err := OpenTail(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	if err := tl.ReadUpTo(10, func(*trace.Record) {}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("gzip: %v", err)
	}
}

// FuzzTail: no file content panics the follower or makes it loop.
func FuzzTail(f *testing.F) {
	dir := f.TempDir()
	f.Add(writeGrowing(f, filepath.Join(dir, "z"), Zstd, 5, 2))
	f.Add(writeGrowing(f, filepath.Join(dir, "p"), Plain, 5, 2))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x07, 0xff})
	f.Add([]byte{0x5a, 0x2a, 0x4d, 0x18, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "t")
		os.WriteFile(path, b, 0o600)
		tl, err := OpenTail(path)
		if err != nil {
			t.Fatal(err)
		}
		defer tl.Close()
		tl.ReadUpTo(1<<62, func(*trace.Record) {})
	})
}
