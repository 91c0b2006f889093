package inject

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any text gives a rule or an *Error pointing inside it, never
// a panic; a parsed rule parses again from its own text to the same rule.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"drop from=server has=event_seq nth=50", "close=1011 nth=200", "delay=1s p=0.5", "reorder=2 count=1", "drop tpye=x", "inject=f.json type=a", "", "=", "p="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%q: error %T", s, err)
			}
			if pe.Offset < 0 || pe.Offset > len(pe.Rule) || pe.Rule != strings.TrimSpace(s) {
				t.Fatalf("%q: offset %d in rule %q", s, pe.Offset, pe.Rule)
			}
			_ = err.Error()
			return
		}
		if r.Action == 0 || r.P <= 0 || r.P > 1 {
			t.Fatalf("%q: rule %+v", s, r)
		}
		again, err := Parse(r.Text)
		if err != nil || *again != *r {
			t.Fatalf("%q: reparse of %q: %+v, %v", s, r.Text, again, err)
		}
	})
}
