package view

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/internal/jsonscan"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Options configure the views.
type Options struct {
	// Color turns on ANSI colours.
	Color bool
	// Model classifies message types (default protocol.DefaultModel).
	Model *protocol.Model
	// File, when set, is printed before line numbers ("file:line").
	File string
}

func (o Options) model() *protocol.Model {
	if o.Model != nil {
		return o.Model
	}
	return protocol.DefaultModel
}

// Cat is a trace.Sink that writes one summary line per record, like
// tshark's summary lines: line, time offset from the first record (in
// seconds), connection, direction, type, request_id, seq, event_seq,
// size and a short summary of the content.
type Cat struct {
	w  io.Writer
	o  Options
	t0 time.Time
	b  []byte
}

// NewCat returns a Cat writing to w.
func NewCat(w io.Writer, o Options) *Cat { return &Cat{w: w, o: o} }

// SetStart sets the time offsets are counted from, unless set already
// (by default the first record written).
func (c *Cat) SetStart(t time.Time) {
	if c.t0.IsZero() {
		c.t0 = t
	}
}

// Write writes r's line (the header record is skipped).
func (c *Cat) Write(r *trace.Record) error {
	if r.Kind == trace.KindHeader {
		return nil
	}
	if c.t0.IsZero() {
		c.t0 = r.T
	}
	c.b = AppendLine(c.b[:0], r, c.t0, c.o)
	c.b = append(c.b, '\n')
	_, err := c.w.Write(c.b)
	return err
}

// Fields are the parts of a record's summary line.
type Fields struct {
	Dir       string // "→" client to server, "←" server to client, "·" other
	Type      string // message type, control opcode or record kind
	RequestID string
	Seq       string
	EventSeq  string
	Size      int
	Summary   string
}

// Describe extracts a record's summary fields.
func Describe(r *trace.Record, m *protocol.Model) Fields {
	f := Fields{Dir: "·", Type: string(r.Kind)}
	switch r.Kind {
	case trace.KindOpen:
		if r.Open != nil {
			f.Summary = r.Open.URL
			if ch := r.Open.Session.Channel; ch != "" {
				f.Summary = "channel=" + ch + " " + f.Summary
			}
		}
	case trace.KindClose:
		f.Summary = "by " + string(r.By)
		if r.Code != 0 {
			f.Summary += " code " + strconv.Itoa(r.Code)
		}
		if r.Reason != "" {
			f.Summary += " " + strconv.Quote(r.Reason)
		}
	case trace.KindError:
		f.Summary = r.Message
	case trace.KindLoss:
		f.Summary = fmt.Sprintf("%d records from %s not recorded: %s", r.Count, r.From, r.Message)
	case trace.KindFault:
		// Injected on purpose (wsproxy -fault): marked apart from real
		// errors, naming the frame it affects.
		f.Type = "fault:" + r.Action
		f.Summary = "INJECTED " + r.Rule
		if r.Frame > 0 {
			f.Summary += fmt.Sprintf(" on n=%d", r.Frame)
		}
		if r.Message != "" {
			f.Summary += ": " + r.Message
		}
	case trace.KindHTTP:
		if h := r.HTTP; h != nil {
			f.Type = "http"
			f.Summary = fmt.Sprintf("%s %s → %d", h.Method, h.URL, h.Status)
			if h.Upgrade {
				f.Summary += " (upgrade refused)"
			}
		}
	case trace.KindFrame:
		switch r.From {
		case trace.Client:
			f.Dir = "→"
		case trace.Server:
			f.Dir = "←"
		}
		f.Size = r.Size
		f.Type = string(r.Op)
		switch {
		case r.Op == trace.OpText && r.IsJSONObject():
			e, err := m.Parse(r.Payload)
			if err != nil {
				f.Summary = snippet(r.Payload)
				break
			}
			if t := e.TypeString(); t != "" {
				f.Type = t
			}
			f.RequestID = string(e.RequestID)
			if e.HasSeq {
				f.Seq = strconv.FormatInt(e.Seq, 10)
			}
			if e.HasEventSeq {
				f.EventSeq = strconv.FormatInt(e.EventSeq, 10)
			}
			// What a person reads in a delta, an approval request, an
			// input; other messages as their first members.
			if s, ok := protocol.Summary(f.Type, r.Payload); ok {
				f.Summary = clip(oneLine(s), 100)
			} else {
				f.Summary = summarize(r.Payload)
			}
		case r.Op == trace.OpText:
			f.Summary = snippet(r.Payload)
		case r.Op == trace.OpClose:
			if r.Code != 0 {
				f.Summary = "code " + strconv.Itoa(r.Code)
			}
			if r.Reason != "" {
				f.Summary += " " + strconv.Quote(r.Reason)
			}
		case len(r.Payload) > 0:
			if utf8.Valid(r.Payload) {
				f.Summary = snippet(r.Payload)
			} else {
				f.Summary = "base64 " + clip(base64.StdEncoding.EncodeToString(r.Payload), 40)
			}
		}
	}
	return f
}

// AppendLine appends r's summary line (no newline) to dst; t0 is the time
// offsets are counted from.
func AppendLine(dst []byte, r *trace.Record, t0 time.Time, o Options) []byte {
	f := Describe(r, o.model())
	c := o.Color
	var num [32]byte
	loc := strconv.AppendInt(num[:0], r.Line, 10)
	if o.File != "" {
		dst = appendPainted(dst, c, dim, o.File+":"+string(loc), 0)
	} else {
		dst = appendPainted(dst, c, dim, string(loc), 6)
	}
	dst = append(dst, ' ')
	off := strconv.AppendFloat(num[:0], r.T.Sub(t0).Seconds(), 'f', 6, 64)
	dst = pad(dst, len(off), 10)
	dst = append(dst, off...)
	dst = append(dst, ' ')
	dst = append(dst, r.Conn...)
	dst = pad(dst, 0, 4-len(r.Conn))
	dst = append(dst, ' ')
	dirColor := dim
	switch f.Dir {
	case "→":
		dirColor = cyan
	case "←":
		dirColor = green
	}
	typColor := bold
	switch r.Kind {
	case trace.KindError, trace.KindLoss:
		typColor = red
	case trace.KindFault:
		typColor = magenta
	case trace.KindOpen, trace.KindClose, trace.KindHTTP:
		typColor = yellow
	}
	dst = appendPainted(dst, c, dirColor, f.Dir, 0)
	dst = append(dst, ' ')
	dst = appendPainted(dst, c, typColor, f.Type, 0)
	dst = pad(dst, 0, 26-utf8.RuneCountInString(f.Type))
	dst = append(dst, ' ')
	start := len(dst)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, ' ')
		}
	}
	if f.RequestID != "" {
		dst = append(dst, "req="...)
		dst = append(dst, f.RequestID...)
	}
	if f.Seq != "" {
		sep()
		dst = append(dst, "seq="...)
		dst = append(dst, f.Seq...)
	}
	if f.EventSeq != "" {
		sep()
		dst = append(dst, "ev="...)
		dst = append(dst, f.EventSeq...)
	}
	dst = pad(dst, 0, 28-utf8.RuneCount(dst[start:]))
	if r.Kind == trace.KindFrame {
		n := strconv.AppendInt(num[:0], int64(f.Size), 10)
		dst = pad(dst, len(n), 7)
		dst = append(dst, n...)
		dst = append(dst, 'B')
	} else {
		dst = append(dst, "        "...)
	}
	if f.Summary != "" {
		dst = append(dst, "  "...)
		dst = appendPainted(dst, c, dim, f.Summary, 0)
	}
	return dst
}

// pad appends spaces so that a field of n bytes fills width.
func pad(dst []byte, n, width int) []byte {
	for i := n; i < width; i++ {
		dst = append(dst, ' ')
	}
	return dst
}

// appendPainted appends s, right-aligned to width, coloured when on.
func appendPainted(dst []byte, on bool, color, s string, width int) []byte {
	dst = pad(dst, utf8.RuneCountInString(s), width)
	if on && s != "" {
		dst = append(dst, color...)
		dst = append(dst, s...)
		return append(dst, reset...)
	}
	return append(dst, s...)
}

// skipped are the members a summary leaves out: they are in their own
// columns or are noise.
var skipped = map[string]bool{"type": true, "request_id": true, "seq": true, "event_seq": true,
	"runtime": true, "idempotency_key": true, "emitted_at": true}

// summarize lists the first top-level members of a JSON object as
// name=value, values clipped, at most 100 characters.
func summarize(p []byte) string {
	var b strings.Builder
	o := jsonscan.NewObject(p, 0)
	for b.Len() < 100 {
		key, vs, ve, ok := o.Member()
		if !ok {
			break
		}
		if skipped[string(key)] {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.Write(key)
		b.WriteByte('=')
		v := p[vs:ve]
		if s, ok := jsonscan.StringValue(p, vs, ve); ok && len(v) > 0 && v[0] == '"' {
			b.WriteString(clip(strconv.Quote(oneLine(string(s))), 40))
		} else {
			b.WriteString(clip(string(compact(v)), 40)) // compact and clipped
		}
	}
	return clip(b.String(), 100)
}

func compact(v []byte) []byte {
	if bytes.IndexAny(v, " \t\r\n") < 0 {
		return v // already compact (the usual case)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return v
	}
	return buf.Bytes()
}

func oneLine(s string) string {
	return strings.NewReplacer("\n", "⏎", "\r", "", "\t", " ").Replace(s)
}

func snippet(p []byte) string {
	if !utf8.Valid(p) {
		return "base64 " + clip(base64.StdEncoding.EncodeToString(p), 40)
	}
	return clip(strconv.Quote(oneLine(string(p))), 60)
}

// clip cuts s to at most n runes, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
