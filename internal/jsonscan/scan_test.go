package jsonscan

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestSkipValue(t *testing.T) {
	ok := []string{`"a\"b"`, `{"a":[1,2,{"b":null}],"c":"}"}`, `-1.5e3`, `true`, `false`, `null`, `[]`, `{}`, `"\\\\"`}
	for _, s := range ok {
		end, err := SkipValue([]byte(s+" rest"), 0)
		if err != nil || end != len(s) {
			t.Errorf("SkipValue(%q) = %d, %v", s, end, err)
		}
	}
	bad := []string{``, `"abc`, `{"a":1`, `tru`, `-`, `]`, `{"a":"}`}
	for _, s := range bad {
		if _, err := SkipValue([]byte(s), 0); !errors.Is(err, ErrSyntax) {
			t.Errorf("SkipValue(%q): %v", s, err)
		}
	}
}

func TestObjectIteration(t *testing.T) {
	b := []byte(` { "a" : 1 , "b\u0063" : {"x":[1]}, "d":"e" } `)
	o := NewObject(b, 0)
	var keys []string
	for {
		k, esc, vs, ve, ok := o.Next()
		if !ok {
			break
		}
		if esc {
			u, _ := Unquote(k)
			k = u
		}
		keys = append(keys, string(k)+"="+string(b[vs:ve]))
	}
	if o.Err() != nil || len(keys) != 3 || keys[1] != `bc={"x":[1]}` || keys[2] != `d="e"` {
		t.Errorf("keys %v err %v", keys, o.Err())
	}
}

func TestIntValue(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "42": 42, "-7": -7, "7.0": 7, "1e3": 1000} {
		if n, ok := IntValue([]byte(in), 0, len(in)); !ok || n != want {
			t.Errorf("IntValue(%s) = %d %v", in, n, ok)
		}
	}
	for _, in := range []string{"1.5", `"3"`, "null", "99999999999999999999"} {
		if _, ok := IntValue([]byte(in), 0, len(in)); ok {
			t.Errorf("IntValue(%s) accepted", in)
		}
	}
}

// FuzzStringRoundTrip: AppendString then StringValue gives back valid
// UTF-8 input, and encoding/json agrees on the decoded value.
func FuzzStringRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t nul\x00", "é😀\u2028", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		q := AppendString(nil, []byte(s))
		var ref string
		if err := json.Unmarshal(q, &ref); err != nil || ref != s {
			t.Fatalf("encoding/json reads %s as %q (%v), want %q", q, ref, err, s)
		}
		got, ok := StringValue(q, 0, len(q))
		if !ok || string(got) != s {
			t.Fatalf("StringValue(%s) = %q", q, got)
		}
	})
}
