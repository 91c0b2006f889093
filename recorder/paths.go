package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TraceSuffixes are the file name endings a directory argument is
// searched for.
var TraceSuffixes = []string{".jsonl", ".jsonl.zst", ".jsonl.gz"}

// IsTraceName reports whether name ends with one of TraceSuffixes.
func IsTraceName(name string) bool {
	for _, s := range TraceSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// ExpandPaths replaces each directory of paths by its trace files (see
// TraceSuffixes), sorted by name, so that the rotated parts of a run
// (t.jsonl.zst, t.part2.jsonl.zst, ..., t.part10.jsonl.zst) come in order. Other paths are
// kept as they are. A directory with no trace file is an error, returned
// alongside the rest.
func ExpandPaths(paths []string) ([]string, []error) {
	var out []string
	var errs []error
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var names []string
		for _, e := range ents {
			if !e.IsDir() && IsTraceName(e.Name()) {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			errs = append(errs, fmt.Errorf("%s: no %s files in the directory", p, strings.Join(TraceSuffixes, ", ")))
			continue
		}
		sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, errs
}

// naturalLess orders names as text, except that runs of digits compare
// by their numeric value: part2 before part10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		ca, cb := a[0], b[0]
		if isDigit(ca) && isDigit(cb) {
			na, ra := digits(a)
			nb, rb := digits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			a, b = ra, rb
			continue
		}
		if ca != cb {
			return ca < cb
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
