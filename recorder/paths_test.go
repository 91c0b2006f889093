package recorder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A directory's rotated parts come in part order, also past part 9.
func TestExpandPathsPartOrder(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for n := 1; n <= 12; n++ {
		name := PartPath("run.jsonl.zst", n)
		os.WriteFile(filepath.Join(dir, name), nil, 0o600)
		want = append(want, filepath.Join(dir, name))
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600)
	got, errs := ExpandPaths([]string{dir, "x.jsonl"})
	if len(errs) != 0 || !slices.Equal(got, append(want, "x.jsonl")) {
		t.Fatalf("got %v %v\nwant %v", got, errs, want)
	}
	if _, errs := ExpandPaths([]string{t.TempDir()}); len(errs) != 1 {
		t.Fatal("an empty directory is not an error")
	}
	for _, c := range [][2]string{{"a2", "a10"}, {"a", "a1"}, {"a01", "a2"}, {"b", "c"}} {
		if !naturalLess(c[0], c[1]) || naturalLess(c[1], c[0]) {
			t.Errorf("naturalLess(%q, %q)", c[0], c[1])
		}
	}
}
