package filter

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are *Error
// pointing inside the input, and that a parsed filter matches records
// without panicking and re-parses from its String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "type:stream_delta from:client", "conn:c2 req:rf-1 rule:unacked-seq",
		"seq:3 event_seq:4-9", `-"a b" -type:ping`, `"unterminated`, "foo:bar", "rule:*", "kind:loss op:close",
		"line:1-", `req:"a\"b"`, "-", ": :", "type:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := Parse(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not *Error", err)
			}
			if pe.Offset < 0 || pe.Offset > len(s) || pe.Index < 1 {
				t.Fatalf("bad error position %+v for %q", pe, s)
			}
			return
		}
		for _, r := range all {
			flt.Match(r, Facts{Rules: []string{"unacked-seq"}})
		}
		if _, err := Parse(flt.String()); err != nil {
			t.Fatalf("String %q of %q does not parse: %v", flt.String(), s, err)
		}
	})
}
