package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/trace"
)

// Summary returns a one-line summary of row i: the text of a stream_delta,
// a loop status, a control_request's tool and command, a reply's success
// flag, a close code, an error message.
func (m *Model) Summary(i int) string {
	rec := m.Record(i)
	if rec == nil {
		return ""
	}
	return Summarize(rec)
}

// Summarize returns the one-line summary of a record (see Summary).
func Summarize(r *trace.Record) string {
	switch r.Kind {
	case trace.KindOpen:
		if r.Open != nil {
			ch := r.Open.Session.Channel
			if ch != "" {
				ch = "[" + ch + "] "
			}
			return ch + r.Open.URL
		}
	case trace.KindClose:
		s := "closed by " + string(r.By)
		if r.Code != 0 {
			s += " " + strconv.Itoa(r.Code)
		}
		if r.Reason != "" {
			s += " " + strconv.Quote(r.Reason)
		}
		return s
	case trace.KindError:
		return r.Message
	case trace.KindLoss:
		return fmt.Sprintf("%d records from %s not recorded: %s", r.Count, r.From, r.Message)
	case trace.KindFault:
		s := "INJECTED " + r.Action + " (" + r.Rule + ")"
		if r.Frame > 0 {
			s += fmt.Sprintf(" on n=%d", r.Frame)
		}
		if r.Message != "" {
			s += ": " + r.Message
		}
		return s
	case trace.KindHTTP:
		if r.HTTP != nil {
			return fmt.Sprintf("%s %s → %d", r.HTTP.Method, r.HTTP.URL, r.HTTP.Status)
		}
	case trace.KindFrame:
		return frameSummary(r)
	}
	return ""
}

func frameSummary(r *trace.Record) string {
	switch r.Op {
	case trace.OpClose:
		if r.Code != 0 {
			return "close " + strconv.Itoa(r.Code) + " " + r.Reason
		}
		return "close"
	case trace.OpPing, trace.OpPong, trace.OpBinary:
		return fmt.Sprintf("%s, %d bytes", r.Op, len(r.Payload))
	}
	if !r.IsJSONObject() {
		return oneLine(string(r.Payload), 120)
	}
	var v map[string]any
	if json.Unmarshal(r.Payload, &v) != nil {
		return oneLine(string(r.Payload), 120)
	}
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return s
	}
	obj := func(m map[string]any, k string) map[string]any {
		o, _ := m[k].(map[string]any)
		return o
	}
	var parts []string
	switch typ := str(v, "type"); {
	case typ == "stream_delta":
		d := obj(v, "delta")
		mt := str(d, "message_type")
		switch {
		case str(d, "content") != "":
			parts = append(parts, strconv.Quote(str(d, "content")))
		case mt == "stop_reason":
			parts = append(parts, "stop_reason "+str(d, "stop_reason"))
		case obj(d, "tool_call") != nil:
			tc := obj(d, "tool_call")
			parts = append(parts, mt, str(tc, "name"), str(tc, "arguments"))
		default:
			parts = append(parts, mt)
		}
	case typ == "update_loop_status":
		parts = append(parts, str(obj(v, "loop_status"), "status"))
	case typ == "control_request":
		rq := obj(v, "request")
		parts = append(parts, str(rq, "subtype"), str(rq, "tool_name"))
		if in := obj(rq, "input"); in != nil {
			if c := str(in, "command"); c != "" {
				parts = append(parts, strconv.Quote(c))
			} else if b, err := json.Marshal(in); err == nil {
				parts = append(parts, string(b))
			}
		}
	case typ == "input":
		p := obj(v, "payload")
		parts = append(parts, str(p, "kind"))
		if msgs, ok := p["messages"].([]any); ok && len(msgs) > 0 {
			if m0, ok := msgs[0].(map[string]any); ok {
				if c, ok := m0["content"].(string); ok {
					parts = append(parts, strconv.Quote(c))
				}
			}
		}
		if r := obj(p, "response"); r != nil {
			parts = append(parts, str(r, "behavior"), str(r, "decision"))
		}
		if d := str(p, "decision"); d != "" {
			parts = append(parts, d)
		}
	case typ == "ack":
		if s, ok := v["seq"].(float64); ok {
			parts = append(parts, "seq "+strconv.FormatFloat(s, 'f', -1, 64))
		}
	default:
		if b, ok := v["success"].(bool); ok {
			parts = append(parts, "success="+strconv.FormatBool(b))
		}
		if b, ok := v["accepted"].(bool); ok {
			parts = append(parts, "accepted="+strconv.FormatBool(b))
		}
		if e := str(v, "error"); e != "" {
			parts = append(parts, "error "+strconv.Quote(e))
		}
		for _, k := range []string{"path", "command", "model", "stop_reason", "disposition"} {
			if s := str(v, k); s != "" {
				parts = append(parts, k+"="+s)
			}
		}
	}
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return oneLine(strings.Join(out, " "), 160)
}

// oneLine squeezes s onto one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 {
			return '·'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > n {
		rs := []rune(s)
		s = string(rs[:n-1]) + "…"
	}
	return s
}

// Pretty returns p as indented JSON when it is JSON, and ok; otherwise
// p unchanged and false.
func Pretty(p []byte) ([]byte, bool) {
	var b bytes.Buffer
	if json.Indent(&b, p, "", "  ") != nil {
		return p, false
	}
	return b.Bytes(), true
}

// HexDump returns a classic hex view of p: offset, 16 bytes, ASCII.
func HexDump(p []byte) string {
	var b strings.Builder
	for off := 0; off < len(p); off += 16 {
		line := p[off:min(off+16, len(p))]
		fmt.Fprintf(&b, "%08x  ", off)
		for i := 0; i < 16; i++ {
			if i < len(line) {
				fmt.Fprintf(&b, "%02x ", line[i])
			} else {
				b.WriteString("   ")
			}
			if i == 7 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(" |")
		for _, c := range line {
			if c >= 0x20 && c < 0x7f {
				b.WriteByte(c)
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteString("|\n")
	}
	return b.String()
}
