package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input to wsproxy inspect: an error naming the file and exit 2,
// before any terminal is touched.
func TestInspectBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.jsonl.zst")
	b := make([]byte, 4096)
	rand.Read(b)
	if err := os.WriteFile(garbage, b, 0o600); err != nil {
		t.Fatal(err)
	}
	notTrace := filepath.Join(dir, "other.jsonl")
	if err := os.WriteFile(notTrace, []byte(`{"hello":"world"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", filepath.Join(dir, "missing.jsonl.zst")}, "missing.jsonl.zst: no such file"},
		{[]string{"inspect", garbage}, "garbage.jsonl.zst"},
		{[]string{"inspect", notTrace}, `other.jsonl line 1: not a wsproxy trace`},
		{[]string{"inspect", empty}, "no .jsonl, .jsonl.zst, .jsonl.gz files"},
		{[]string{"inspect", "../../traces/sim-turn-approval.jsonl.zst", notTrace}, "other.jsonl line 1"},
		{[]string{"inspect"}, "no TRACE_OR_DIR given"},
		{[]string{"inspect", "-filter", "seq:x", "../../traces/sim-turn-approval.jsonl.zst"}, `term 1 "seq:x"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: stderr %q lacks %q", c.args, stderr.String(), c.want)
		}
	}
}
