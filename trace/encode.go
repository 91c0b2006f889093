package trace

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// AppendLine appends r as one JSON line (with its trailing newline) to dst.
// Field order is fixed: kind, t, conn, then the kind's fields.
func AppendLine(dst []byte, r *Record) ([]byte, error) {
	dst = append(dst, `{"kind":`...)
	dst = jsonscan.AppendString(dst, []byte(r.Kind))
	dst = append(dst, `,"t":"`...)
	dst = AppendTime(dst, r.T)
	dst = append(dst, '"')
	if r.Conn != "" {
		dst = appendStringField(dst, "conn", r.Conn)
	}
	if r.N > 0 {
		dst = appendIntField(dst, "n", r.N)
	}
	var err error
	switch r.Kind {
	case KindHeader:
		dst, err = appendHeader(dst, r)
	case KindOpen:
		dst, err = appendJSONFields(dst, r.Open, "open")
	case KindFrame:
		dst = appendFrame(dst, r)
	case KindClose:
		dst = appendStringField(dst, "by", string(r.By))
		dst = appendClose(dst, r)
	case KindError:
		if r.From != "" {
			dst = appendStringField(dst, "from", string(r.From))
		}
		dst = appendStringField(dst, "message", r.Message)
	case KindHTTP:
		dst, err = appendHTTP(dst, r)
	case KindLoss:
		if r.From != "" {
			dst = appendStringField(dst, "from", string(r.From))
		}
		dst = appendIntField(dst, "count", r.Count)
		if r.Message != "" {
			dst = appendStringField(dst, "message", r.Message)
		}
	case KindFault:
		dst = appendFault(dst, r)
	default:
		err = fmt.Errorf("unknown record kind %q", r.Kind)
	}
	if err != nil {
		return dst, err
	}
	if r.Redacted && r.Kind != KindFrame {
		dst = appendBoolField(dst, "redacted")
	}
	return append(dst, '}', '\n'), nil
}

func appendStringField(dst []byte, name, v string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return jsonscan.AppendString(dst, []byte(v))
}

func appendIntField(dst []byte, name string, v int64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}

func appendBoolField(dst []byte, name string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	return append(dst, `":true`...)
}

func appendFrame(dst []byte, r *Record) []byte {
	dst = appendStringField(dst, "from", string(r.From))
	dst = appendStringField(dst, "op", string(r.Op))
	dst = appendIntField(dst, "size", int64(r.Size))
	if r.WireFrames > 1 {
		dst = appendIntField(dst, "wire_frames", int64(r.WireFrames))
	}
	if r.WireSize > 0 {
		dst = appendIntField(dst, "wire_size", int64(r.WireSize))
	}
	if r.Compressed {
		dst = appendBoolField(dst, "compressed")
	}
	if r.Redacted {
		dst = appendBoolField(dst, "redacted")
	}
	if r.Op == OpClose {
		dst = appendClose(dst, r)
	}
	return appendPayload(dst, "", r.Op, r.Payload, r.Form)
}

func appendClose(dst []byte, r *Record) []byte {
	if r.Code != 0 {
		dst = appendIntField(dst, "code", int64(r.Code))
	}
	if r.Reason != "" || r.Kind == KindClose {
		dst = appendStringField(dst, "reason", r.Reason)
	}
	return dst
}

// appendPayload writes the payload under msg, text or data (prefixed by
// prefix, e.g. "response_"). An empty non-text payload is omitted.
func appendPayload(dst []byte, prefix string, op Op, p []byte, form Form) []byte {
	// A form set by FormOf or read from a file is trusted, after a cheap
	// check of the shape (FormOf's full JSON validation is the costly part
	// of writing a record, and it was done once already).
	if form == FormAuto || (form == FormMsg && !looksEmbeddable(p)) || (form == FormText && !validText(p)) {
		form = FormOf(op, p)
	}
	switch form {
	case FormMsg:
		dst = append(dst, ',', '"')
		dst = append(dst, prefix...)
		dst = append(dst, `msg":`...)
		return append(dst, p...)
	case FormText:
		dst = append(dst, ',', '"')
		dst = append(dst, prefix...)
		dst = append(dst, `text":`...)
		return jsonscan.AppendString(dst, p)
	default:
		if len(p) == 0 {
			return dst
		}
		dst = append(dst, ',', '"')
		dst = append(dst, prefix...)
		dst = append(dst, `data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, p)
		return append(dst, '"')
	}
}

func appendHeader(dst []byte, r *Record) ([]byte, error) {
	if r.Header == nil {
		return dst, fmt.Errorf("header record without header")
	}
	return appendJSONFields(dst, r.Header, "header")
}

// appendJSONFields marshals v (a struct) and splices its members into the
// line being built.
func appendJSONFields(dst []byte, v any, what string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep URLs readable: & not \u0026
	if err := enc.Encode(v); err != nil {
		return dst, fmt.Errorf("encode %s: %w", what, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if string(b) == "null" {
		return dst, fmt.Errorf("%s record without %s fields", what, what)
	}
	if len(b) > 2 {
		dst = append(dst, ',')
		dst = append(dst, b[1:len(b)-1]...)
	}
	return dst, nil
}

func appendHTTP(dst []byte, r *Record) ([]byte, error) {
	h := r.HTTP
	if h == nil {
		return dst, fmt.Errorf("http record without http fields")
	}
	dst, err := appendJSONFields(dst, h, "http")
	if err != nil {
		return dst, err
	}
	if h.Duration > 0 {
		dst = append(dst, `,"duration_ms":`...)
		dst = strconv.AppendFloat(dst, float64(h.Duration)/float64(time.Millisecond), 'f', 3, 64)
	}
	dst = appendBody(dst, "request_", h.RequestBody)
	dst = appendBody(dst, "response_", h.ResponseBody)
	return dst, nil
}

func appendBody(dst []byte, prefix string, b *Body) []byte {
	if b == nil {
		return dst
	}
	dst = appendIntField(dst, prefix+"size", b.Size)
	if b.Truncated {
		dst = appendBoolField(dst, prefix+"truncated")
	}
	op := OpText
	if b.Form == FormData {
		op = OpBinary
	}
	if len(b.Data) == 0 {
		return dst
	}
	return appendPayload(dst, prefix, op, b.Data, b.Form)
}

func appendFault(dst []byte, r *Record) []byte {
	if r.From != "" {
		dst = appendStringField(dst, "from", string(r.From))
	}
	dst = appendStringField(dst, "rule", r.Rule)
	dst = appendStringField(dst, "action", r.Action)
	if r.Frame > 0 {
		dst = appendIntField(dst, "frame", r.Frame)
	}
	if r.Code != 0 {
		dst = appendIntField(dst, "code", int64(r.Code))
	}
	if r.Message != "" {
		dst = appendStringField(dst, "message", r.Message)
	}
	if r.Payload != nil {
		op := r.Op
		if op == "" {
			op = OpText
		}
		dst = appendStringField(dst, "op", string(op))
		dst = appendPayload(dst, "", op, r.Payload, r.Form)
	}
	return dst
}
