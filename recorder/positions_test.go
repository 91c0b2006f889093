package recorder

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const headerLine = `{"kind":"header","t":"2026-11-28T17:00:00Z","format":"wsproxy-trace","version":"1.1","created":"2026-11-28T17:00:00Z","tool":"test","tool_version":"0","source":"proxy"}` + "\n"

// A line over the bound is reported at the byte where it starts, not
// where the reader stopped skipping it.
func TestLongLineNamesItsStart(t *testing.T) {
	long := `{"kind":"frame","conn":"c1","from":"client","op":"text","text":"` + strings.Repeat("x", 500) + `"}` + "\n"
	next := `{"kind":"frame","t":"2026-11-28T17:00:01Z","conn":"c1","from":"client","op":"text","msg":{"type":"ping"}}` + "\n"
	data := headerLine + long + next
	r, err := NewReader(strings.NewReader(data), "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	r.maxLine = 150
	_, err = r.Next()
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Fatalf("want a LineError at line 2, got %v", err)
	}
	want := "line at byte 169 is longer than 150 bytes"
	if len(headerLine) != 169 || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %q, want it to contain %q (header is %d bytes)", err, want, len(headerLine))
	}
	rec, err := r.Next()
	if err != nil || rec.Line != 3 {
		t.Fatalf("the next line: %v %v", rec, err)
	}
	if sizeName(DefaultMaxLine) != "64 MiB" {
		t.Fatal(sizeName(DefaultMaxLine))
	}
}

// A compressed file that is corrupt from its start is reported as such,
// not "after line -1".
func TestCorruptCompressedNamesThePlace(t *testing.T) {
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf)
	w.Write([]byte(headerLine + strings.Repeat(`{"kind":"frame","conn":"c1","from":"client","op":"text","msg":{"type":"ping"}}`+"\n", 200)))
	w.Close()
	good := buf.Bytes()
	// Damage the first block's content, past the frame header.
	bad := append([]byte(nil), good...)
	for i := 12; i < len(bad) && i < 40; i++ {
		bad[i] ^= 0xff
	}
	_, err := NewReader(bytes.NewReader(bad), "t.jsonl.zst")
	if err == nil {
		t.Fatal("no error for a corrupt file")
	}
	if strings.Contains(err.Error(), "line -1") || !strings.Contains(err.Error(), "t.jsonl.zst") {
		t.Fatalf("error %q", err)
	}
	if !strings.Contains(err.Error(), "before its first line (byte 0") {
		t.Fatalf("error %q does not say where", err)
	}
}
