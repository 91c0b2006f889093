package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/protocol"
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
	var env protocol.Envelope
	if protocol.DefaultModel.ParseInto(&env, r.Payload) != nil {
		return oneLine(string(r.Payload), 120)
	}
	s, _ := protocol.Summary(env.TypeString(), r.Payload)
	return oneLine(s, 160)
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
