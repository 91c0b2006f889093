// Package jsonscan is a small, allocation-free JSON scanner for hot paths:
// it walks the members of an object and skips values structurally, without
// building a tree. It checks structure (brackets, commas, colons, literals,
// number characters, string termination) but not UTF-8 or control
// characters inside strings; use encoding/json.Valid when that matters.
package jsonscan

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax reports malformed JSON. Errors wrap it with the byte offset.
var ErrSyntax = errors.New("invalid JSON")

// SyntaxError is a structural error at a byte offset of the scanned input.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

func syntaxErr(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }

// class of each byte for skipping containers quickly.
var special = func() (t [256]bool) {
	for _, c := range []byte(`"{}[]`) {
		t[c] = true
	}
	return
}()

var isSpace = func() (t [256]bool) {
	t[' '], t['\t'], t['\n'], t['\r'] = true, true, true, true
	return
}()

// SkipSpace returns the index of the first non-whitespace byte at or after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && isSpace[b[i]] {
		i++
	}
	return i
}

// skipStringBody returns the index just past the closing quote of a
// string whose body starts at b[i]. A tight byte loop beats IndexByte on
// the short strings JSON is made of.
func skipStringBody(b []byte, i int) (int, bool) {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return len(b), false
}

// SkipString returns the index just past the string whose opening quote is
// at b[i]. It reports whether the string contains escapes.
func SkipString(b []byte, i int) (end int, escaped bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return i, false, syntaxErr(i, "expected string")
	}
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b), escaped, syntaxErr(i, "unterminated string")
		}
		q := j + k
		// Count the backslashes right before the quote.
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if !escaped && bytes.IndexByte(b[j:q], '\\') >= 0 {
			escaped = true
		}
		if n%2 == 0 {
			return q + 1, escaped, nil
		}
		j = q + 1
	}
}

// SkipValue returns the index just past the JSON value starting at or after
// i (leading whitespace is skipped).
func SkipValue(b []byte, i int) (int, error) {
	i = SkipSpace(b, i)
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		end, ok := skipStringBody(b, i+1)
		if !ok {
			return end, syntaxErr(i, "unterminated string")
		}
		return end, nil
	case c == '{' || c == '[':
		return skipContainer(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	default:
		return i, syntaxErr(i, "unexpected character "+strconv.QuoteRune(rune(c)))
	}
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	digits := 0
	for i < len(b) {
		c := b[i]
		if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			if c >= '0' && c <= '9' {
				digits++
			}
			i++
			continue
		}
		break
	}
	if digits == 0 {
		return i, syntaxErr(start, "invalid number")
	}
	return i, nil
}

// skipContainer skips an object or array. Its inner structure is checked by
// a light state machine: balanced brackets, terminated strings, and literal
// or number tokens made of valid characters.
func skipContainer(b []byte, i int) (int, error) {
	start := i
	depth := 0
	for i < len(b) {
		c := b[i]
		if !special[c] {
			i++
			continue
		}
		switch c {
		case '"':
			end, ok := skipStringBody(b, i+1)
			if !ok {
				return end, syntaxErr(i, "unterminated string")
			}
			i = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
			if depth < 0 {
				return i, syntaxErr(i, "unbalanced bracket")
			}
		}
		i++
	}
	return i, syntaxErr(start, "unterminated container")
}

// Object iterates over the members of a JSON object. The zero value is not
// usable; call NewObject.
type Object struct {
	b     []byte
	i     int
	first bool
	done  bool
	err   error
}

// NewObject starts iterating the object whose '{' is at or after b[i].
func NewObject(b []byte, i int) Object {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return Object{b: b, i: i, done: true, err: syntaxErr(i, "expected object")}
	}
	return Object{b: b, i: i + 1, first: true}
}

// Next returns the next member: its raw key (without quotes, escapes not
// decoded), whether the key has escapes, and the value's span b[vs:ve].
// It returns ok=false at the end of the object or on error (see Err).
func (o *Object) Next() (key []byte, keyEscaped bool, vs, ve int, ok bool) {
	if o.done {
		return nil, false, 0, 0, false
	}
	b := o.b
	i := SkipSpace(b, o.i)
	if i >= len(b) {
		return o.fail(i, "unterminated object")
	}
	if b[i] == '}' {
		if !o.first && o.err == nil {
			// trailing comma case handled below; here a normal end
		}
		o.done = true
		o.i = i + 1
		return nil, false, 0, 0, false
	}
	if !o.first {
		if b[i] != ',' {
			return o.fail(i, "expected ',' or '}'")
		}
		i = SkipSpace(b, i+1)
		if i >= len(b) {
			return o.fail(i, "unterminated object")
		}
	}
	o.first = false
	if b[i] != '"' {
		return o.fail(i, "expected member name")
	}
	kend, kesc, err := SkipString(b, i)
	if err != nil {
		o.done, o.err = true, err
		return nil, false, 0, 0, false
	}
	key = b[i+1 : kend-1]
	i = SkipSpace(b, kend)
	if i >= len(b) || b[i] != ':' {
		return o.fail(i, "expected ':'")
	}
	vs = SkipSpace(b, i+1)
	ve, err = SkipValue(b, vs)
	if err != nil {
		o.done, o.err = true, err
		return nil, false, 0, 0, false
	}
	o.i = ve
	return key, kesc, vs, ve, true
}

// Member is Next with the key's escapes decoded (allocating only for a
// key that has any; an undecodable key is returned raw).
func (o *Object) Member() (key []byte, vs, ve int, ok bool) {
	key, esc, vs, ve, ok := o.Next()
	if ok && esc {
		if k, uok := Unquote(key); uok {
			key = k
		}
	}
	return key, vs, ve, ok
}

func (o *Object) fail(i int, msg string) ([]byte, bool, int, int, bool) {
	o.done = true
	o.err = syntaxErr(i, msg)
	return nil, false, 0, 0, false
}

// Err reports the error that stopped the iteration, if any.
func (o *Object) Err() error { return o.err }

// End returns the index just past the closing '}' once Next has returned
// false without error.
func (o *Object) End() int { return o.i }

// KeyEquals compares a raw key from Next with name, decoding escapes when
// the key has any.
func KeyEquals(raw []byte, escaped bool, name string) bool {
	if !escaped {
		return string(raw) == name
	}
	s, ok := Unquote(raw)
	return ok && string(s) == name
}

// StringValue returns the contents of the JSON string b[vs:ve], decoding
// escapes (allocating only when there are any). ok is false when the value
// is not a string.
func StringValue(b []byte, vs, ve int) (s []byte, ok bool) {
	if ve-vs < 2 || b[vs] != '"' || b[ve-1] != '"' {
		return nil, false
	}
	raw := b[vs+1 : ve-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, true
	}
	return Unquote(raw)
}

// IntValue parses b[vs:ve] as a JSON integer (an integral number such as 7,
// -3 or 7.0 is accepted; fractions and non-numbers are not).
func IntValue(b []byte, vs, ve int) (int64, bool) {
	v := b[vs:ve]
	if len(v) == 0 {
		return 0, false
	}
	neg := false
	i := 0
	if v[0] == '-' {
		neg = true
		i = 1
	}
	if i >= len(v) {
		return 0, false
	}
	var n int64
	for ; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			break
		}
		if n > (1<<62)/5 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if i < len(v) {
		// Accept an integral value written with a zero fraction or exponent.
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || f != float64(int64(f)) || f > 1<<53 || f < -(1<<53) {
			return 0, false
		}
		return int64(f), true
	}
	if neg {
		n = -n
	}
	return n, true
}

// Unquote decodes the escapes of a raw JSON string body (without quotes).
func Unquote(raw []byte) ([]byte, bool) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return nil, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			out = append(out, raw[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2, ok := hex4(raw, i+2); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, false
		}
		i += 2
	}
	return out, true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// AppendString appends s as a JSON string literal (with quotes) to dst. It
// escapes quotes, backslashes and control characters, and writes invalid
// UTF-8 bytes as \ufffd (callers that need byte-exactness must check
// utf8.Valid first).
func AppendString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"
