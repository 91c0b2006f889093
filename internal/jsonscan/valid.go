package jsonscan

// Valid reports whether b is exactly one JSON value (with optional
// surrounding whitespace), by the grammar of RFC 8259, as
// encoding/json.Valid does: bytes of strings are not checked for UTF-8
// validity. It is a single pass with an explicit stack, several times
// faster than encoding/json on the small objects of the protocol.
func Valid(b []byte) bool {
	i := SkipSpace(b, 0)
	end, ok := validValue(b, i)
	return ok && SkipSpace(b, end) == len(b)
}

// MaxDepth bounds the nesting Valid checks, like encoding/json's 10000:
// deeper JSON is not valid to Valid, and TooDeep tells that case apart.
const MaxDepth = 10000

const maxValidDepth = MaxDepth

// TooDeep reports whether b nests arrays and objects deeper than MaxDepth
// (outside strings), the one reason Valid rejects JSON that may be valid.
func TooDeep(b []byte) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, ok := skipStringBody(b, i+1)
			if !ok {
				return false
			}
			i = end - 1
		case '{', '[':
			if depth++; depth > MaxDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// validValue checks the value at b[i] and returns the index after it.
func validValue(b []byte, i int) (int, bool) {
	// stack holds, per open container, '{' or '['.
	var stackBuf [64]byte
	stack := stackBuf[:0]
	for {
		// Expect a value at i.
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; {
		case c == '"':
			end, ok := validString(b, i+1)
			if !ok {
				return i, false
			}
			i = end
		case c == '{':
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == '}' {
				i++
				break
			}
			if len(stack) >= maxValidDepth {
				return i, false
			}
			stack = append(stack, '{')
			var ok bool
			if i, ok = validMemberName(b, i); !ok {
				return i, false
			}
			continue
		case c == '[':
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == ']' {
				i++
				break
			}
			if len(stack) >= maxValidDepth {
				return i, false
			}
			stack = append(stack, '[')
			continue
		case c == 't':
			if len(b)-i < 4 || string(b[i:i+4]) != "true" {
				return i, false
			}
			i += 4
		case c == 'f':
			if len(b)-i < 5 || string(b[i:i+5]) != "false" {
				return i, false
			}
			i += 5
		case c == 'n':
			if len(b)-i < 4 || string(b[i:i+4]) != "null" {
				return i, false
			}
			i += 4
		case c == '-' || (c >= '0' && c <= '9'):
			end, ok := validNumber(b, i)
			if !ok {
				return i, false
			}
			i = end
		default:
			return i, false
		}
		// After a value: close containers or move to the next element.
		for {
			if len(stack) == 0 {
				return i, true
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			top := stack[len(stack)-1]
			c := b[i]
			if c == ',' {
				i = SkipSpace(b, i+1)
				if top == '{' {
					var ok bool
					if i, ok = validMemberName(b, i); !ok {
						return i, false
					}
				}
				break // a value follows
			}
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return i, false
		}
	}
}

// validMemberName checks a member name and its ':' at b[i] and returns
// the index of the value that follows.
func validMemberName(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	end, ok := validString(b, i+1)
	if !ok {
		return i, false
	}
	i = SkipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return SkipSpace(b, i+1), true
}

// validString checks a string body starting at b[i] (after the opening
// quote) and returns the index after the closing quote.
func validString(b []byte, i int) (int, bool) {
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++
		}
	}
	return i, false
}

// validNumber checks a JSON number at b[i] and returns the index after it.
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	return i, true
}
