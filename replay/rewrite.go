package replay

import (
	"strconv"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// span is the position of a JSON value inside a payload.
type span struct{ vs, ve int }

// splice appends p to dst with each span (in order, not overlapping)
// replaced by the JSON string literal of its new value.
func splice(dst, p []byte, spans []span, values []string) []byte {
	at := 0
	for i, s := range spans {
		dst = append(dst, p[at:s.vs]...)
		dst = jsonscan.AppendString(dst, []byte(values[i]))
		at = s.ve
	}
	return append(dst, p[at:]...)
}

// rewriteStrings returns p with every string value (not member names),
// at any depth, that m maps replaced by its new value. It returns p
// itself when nothing changes or p is not valid JSON.
func rewriteStrings(p []byte, m map[string]string) []byte {
	if len(m) == 0 {
		return p
	}
	var spans []span
	var values []string
	if _, err := walkStrings(p, jsonscan.SkipSpace(p, 0), func(vs, ve int) {
		s, ok := jsonscan.StringValue(p, vs, ve)
		if !ok {
			return
		}
		if nv, ok := m[string(s)]; ok {
			spans = append(spans, span{vs, ve})
			values = append(values, nv)
		}
	}); err != nil || len(spans) == 0 {
		return p
	}
	return splice(make([]byte, 0, len(p)+16*len(spans)), p, spans, values)
}

// walkStrings calls f for every string value inside the JSON value at
// p[i] and returns the index just past it.
func walkStrings(p []byte, i int, f func(vs, ve int)) (int, error) {
	if i >= len(p) {
		return i, jsonscan.ErrSyntax
	}
	switch p[i] {
	case '"':
		end, _, err := jsonscan.SkipString(p, i)
		if err == nil {
			f(i, end)
		}
		return end, err
	case '{':
		o := jsonscan.NewObject(p, i)
		for {
			_, _, vs, _, ok := o.Next()
			if !ok {
				break
			}
			if _, err := walkStrings(p, vs, f); err != nil {
				return 0, err
			}
		}
		return o.End(), o.Err()
	case '[':
		j := jsonscan.SkipSpace(p, i+1)
		if j < len(p) && p[j] == ']' {
			return j + 1, nil
		}
		for {
			end, err := walkStrings(p, j, f)
			if err != nil {
				return 0, err
			}
			j = jsonscan.SkipSpace(p, end)
			if j >= len(p) {
				return j, jsonscan.ErrSyntax
			}
			if p[j] == ']' {
				return j + 1, nil
			}
			if p[j] != ',' {
				return j, jsonscan.ErrSyntax
			}
			j = jsonscan.SkipSpace(p, j+1)
		}
	}
	return jsonscan.SkipValue(p, i)
}

// replaceTopInt appends p to dst with the value of its top-level member
// name replaced by the integer n; false (and dst unchanged) when p has no
// such member.
func replaceTopInt(dst, p []byte, name string, n int64) ([]byte, bool) {
	o := jsonscan.NewObject(p, 0)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			return dst, false
		}
		if jsonscan.KeyEquals(key, esc, name) {
			dst = append(dst, p[:vs]...)
			dst = strconv.AppendInt(dst, n, 10)
			return append(dst, p[ve:]...), true
		}
	}
}
