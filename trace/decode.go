package trace

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// ErrNotRecord is wrapped by errors for lines that are not trace records.
var ErrNotRecord = errors.New("not a trace record")

// ParseLine decodes one line (without or with its trailing newline) into r,
// which is reset first. The record owns its payload: nothing aliases line.
// Unknown fields are ignored; unknown kinds are returned as they are, so
// that readers of a newer minor version can skip them.
func ParseLine(line []byte, r *Record) error {
	var d Decoder
	return d.ParseLine(line, r)
}

// Decoder is ParseLine with memory: it interns connection names, so that
// reading a long trace does not allocate a string per record for them,
// and it carves small payloads out of shared blocks instead of allocating
// each on its own. A record's payload stays valid for as long as the
// record is referenced (a retained payload keeps its block, at most
// slabSize bytes, alive). The zero value is ready to use; a Decoder is not
// safe for concurrent use.
type Decoder struct {
	conns map[string]string
	slab  []byte
}

// Payload blocks: payloads up to maxSlabbed bytes share slabSize blocks.
const (
	slabSize   = 32 << 10
	maxSlabbed = 2 << 10
)

// alloc returns a zero-length slice with room for n bytes.
func (d *Decoder) alloc(n int) []byte {
	if d == nil || n > maxSlabbed {
		return make([]byte, 0, n)
	}
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]byte, 0, slabSize)
	}
	start := len(d.slab)
	d.slab = d.slab[:start+n]
	return d.slab[start : start : start+n]
}

// maxInterned bounds the connection names a Decoder remembers.
const maxInterned = 1 << 12

func (d *Decoder) conn(b []byte) string {
	if s, ok := d.conns[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.conns == nil {
		d.conns = make(map[string]string)
	}
	if len(d.conns) < maxInterned {
		d.conns[s] = s
	}
	return s
}

// ParseLine is the package's ParseLine.
func (d *Decoder) ParseLine(line []byte, r *Record) error {
	*r = Record{}
	var (
		haveKind, haveT bool
		payloadField    string
		needStruct      bool
		body            [2]*Body // request, response
	)
	o := jsonscan.NewObject(line, 0)
	for {
		key, vs, ve, ok := o.Member()
		if !ok {
			break
		}
		switch string(key) {
		case "kind":
			s, ok := jsonscan.StringValue(line, vs, ve)
			if !ok {
				return fieldErr("kind", "not a string")
			}
			r.Kind, haveKind = kindOf(s), true
		case "t":
			s, ok := jsonscan.StringValue(line, vs, ve)
			if !ok {
				return fieldErr("t", "not a string")
			}
			t, err := ParseTime(s)
			if err != nil {
				return fieldErr("t", err.Error())
			}
			r.T, haveT = t, true
		case "conn":
			s, _ := jsonscan.StringValue(line, vs, ve)
			r.Conn = d.conn(s)
		case "n":
			n, err := intField(line, vs, ve, "n")
			if err != nil {
				return err
			}
			r.N = n
		case "count":
			n, err := intField(line, vs, ve, "count")
			if err != nil {
				return err
			}
			r.Count = n
		case "from":
			r.From = sideOf(line, vs, ve)
		case "by":
			r.By = sideOf(line, vs, ve)
		case "op":
			r.Op = opOf(line, vs, ve)
		case "size":
			n, err := intField(line, vs, ve, "size")
			if err != nil {
				return err
			}
			r.Size = int(n)
		case "wire_frames":
			n, err := intField(line, vs, ve, "wire_frames")
			if err != nil {
				return err
			}
			r.WireFrames = int(n)
		case "wire_size":
			n, err := intField(line, vs, ve, "wire_size")
			if err != nil {
				return err
			}
			r.WireSize = int(n)
		case "code":
			n, err := intField(line, vs, ve, "code")
			if err != nil {
				return err
			}
			r.Code = int(n)
		case "compressed":
			r.Compressed = isTrue(line, vs, ve)
		case "redacted":
			r.Redacted = isTrue(line, vs, ve)
		case "reason":
			r.Reason = str(line, vs, ve)
		case "rule":
			r.Rule = str(line, vs, ve)
		case "action":
			r.Action = str(line, vs, ve)
		case "frame":
			n, err := intField(line, vs, ve, "frame")
			if err != nil {
				return err
			}
			r.Frame = n
		case "message":
			r.Message = str(line, vs, ve)
		case "msg", "text", "data":
			if payloadField != "" {
				return fieldErr(string(key), "a record has one of msg, text and data, found "+payloadField+" too")
			}
			payloadField = string(key)
			p, form, err := d.decodePayload(payloadField, line, vs, ve)
			if err != nil {
				return err
			}
			r.Payload, r.Form = p, form
		case "request_msg", "request_text", "request_data", "response_msg", "response_text", "response_data":
			k := string(key)
			i, name := 0, k[len("request_"):]
			if k[:3] == "res" {
				i, name = 1, k[len("response_"):]
			}
			p, form, err := d.decodePayload(name, line, vs, ve)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if body[i] == nil {
				body[i] = &Body{Size: -1}
			}
			body[i].Data, body[i].Form = p, form
		case "request_size", "response_size", "request_truncated", "response_truncated":
			k := string(key)
			i := 0
			if k[:3] == "res" {
				i = 1
			}
			if body[i] == nil {
				body[i] = &Body{Size: -1}
			}
			if k[len(k)-4:] == "size" {
				n, err := intField(line, vs, ve, k)
				if err != nil {
					return err
				}
				body[i].Size = n
			} else {
				body[i].Truncated = isTrue(line, vs, ve)
			}
		case "duration_ms":
			f, err := strconv.ParseFloat(string(line[vs:ve]), 64)
			if err != nil {
				return fieldErr("duration_ms", "not a number")
			}
			r.HTTP = ensureHTTP(r.HTTP)
			r.HTTP.Duration = time.Duration(f * float64(time.Millisecond))
		case "format", "version", "created", "tool", "tool_version", "source", "url", "headers",
			"upstream", "session", "method", "status":
			needStruct = true
		}
	}
	if err := o.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotRecord, err)
	}
	if rest := jsonscan.SkipSpace(line, o.End()); rest != len(line) {
		return fmt.Errorf("%w: trailing data at column %d", ErrNotRecord, rest+1)
	}
	if !haveKind {
		return fmt.Errorf("%w: no \"kind\"", ErrNotRecord)
	}
	if !haveT && r.Kind != KindHeader {
		return fieldErr("t", "missing")
	}
	switch r.Kind {
	case KindHeader:
		r.Header = new(Header)
		if err := json.Unmarshal(line, r.Header); err != nil {
			return fmt.Errorf("header: %w", err)
		}
		if !haveT {
			r.T = r.Header.Created
		}
	case KindOpen:
		r.Open = new(Open)
		if err := json.Unmarshal(line, r.Open); err != nil {
			return fmt.Errorf("open: %w", err)
		}
	case KindHTTP:
		d := time.Duration(0)
		if r.HTTP != nil {
			d = r.HTTP.Duration
		}
		r.HTTP = new(HTTP)
		if needStruct {
			if err := json.Unmarshal(line, r.HTTP); err != nil {
				return fmt.Errorf("http: %w", err)
			}
		}
		r.HTTP.Duration = d
		r.HTTP.RequestBody, r.HTTP.ResponseBody = body[0], body[1]
	case KindFault:
		if r.Rule == "" || r.Action == "" {
			return fieldErr("rule", "a fault record needs its rule and action")
		}
		if r.Frame < 0 {
			return fieldErr("frame", "negative")
		}
	case KindFrame:
		if r.From != Client && r.From != Server {
			return fieldErr("from", fmt.Sprintf("%q is neither client nor server", r.From))
		}
		switch r.Op {
		case OpText, OpBinary, OpPing, OpPong, OpClose:
		default:
			return fieldErr("op", fmt.Sprintf("unknown opcode %q", r.Op))
		}
		if r.Op == OpText && payloadField == "" {
			r.Form = FormText
		}
		if r.Form == FormAuto {
			r.Form = FormData
		}
	}
	return nil
}

func ensureHTTP(h *HTTP) *HTTP {
	if h == nil {
		return new(HTTP)
	}
	return h
}

func fieldErr(field, msg string) error {
	return fmt.Errorf("field %q: %s", field, msg)
}

func str(b []byte, vs, ve int) string {
	s, _ := jsonscan.StringValue(b, vs, ve)
	return string(s)
}

func isTrue(b []byte, vs, ve int) bool { return ve-vs == 4 && string(b[vs:ve]) == "true" }

func intField(b []byte, vs, ve int, name string) (int64, error) {
	n, ok := jsonscan.IntValue(b, vs, ve)
	if !ok {
		return 0, fieldErr(name, "not an integer")
	}
	return n, nil
}

// decodePayload copies a msg (raw JSON), text (string) or data (base64)
// value out of the line.
func (d *Decoder) decodePayload(field string, line []byte, vs, ve int) ([]byte, Form, error) {
	switch field {
	case "msg":
		if line[vs] != '{' {
			return nil, 0, fieldErr("msg", "not a JSON object")
		}
		return append(d.alloc(ve-vs), line[vs:ve]...), FormMsg, nil
	case "text":
		s, ok := jsonscan.StringValue(line, vs, ve)
		if !ok {
			return nil, 0, fieldErr("text", "not a string")
		}
		return append(d.alloc(len(s)), s...), FormText, nil
	default:
		s, ok := jsonscan.StringValue(line, vs, ve)
		if !ok {
			return nil, 0, fieldErr("data", "not a string")
		}
		p, err := base64.StdEncoding.AppendDecode(d.alloc(base64.StdEncoding.DecodedLen(len(s))), s)
		if err != nil {
			return nil, 0, fieldErr("data", "bad base64: "+err.Error())
		}
		return p, FormData, nil
	}
}

// kindOf, sideOf and opOf return the package's constants for known values,
// so that common records allocate no strings for them.
func kindOf(s []byte) Kind {
	switch string(s) {
	case "frame":
		return KindFrame
	case "open":
		return KindOpen
	case "close":
		return KindClose
	case "header":
		return KindHeader
	case "error":
		return KindError
	case "http":
		return KindHTTP
	case "loss":
		return KindLoss
	case "fault":
		return KindFault
	}
	return Kind(s)
}

func sideOf(b []byte, vs, ve int) Side {
	s, _ := jsonscan.StringValue(b, vs, ve)
	switch string(s) {
	case "client":
		return Client
	case "server":
		return Server
	case "proxy":
		return Proxy
	}
	return Side(s)
}

func opOf(b []byte, vs, ve int) Op {
	s, _ := jsonscan.StringValue(b, vs, ve)
	switch string(s) {
	case "text":
		return OpText
	case "binary":
		return OpBinary
	case "ping":
		return OpPing
	case "pong":
		return OpPong
	case "close":
		return OpClose
	}
	return Op(s)
}
