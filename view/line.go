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
			f.Summary = summarize(r.Payload)
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
	loc := strconv.FormatInt(r.Line, 10)
	if o.File != "" {
		loc = o.File + ":" + loc
	}
	dst = append(dst, paint(c, dim, fmt.Sprintf("%6s", loc))...)
	dst = append(dst, fmt.Sprintf(" %10.6f %-4s ", r.T.Sub(t0).Seconds(), r.Conn)...)
	dirColor := dim
	switch f.Dir {
	case "→":
		dirColor = cyan
	case "←":
		dirColor = green
	}
	typColor := ""
	switch r.Kind {
	case trace.KindError, trace.KindLoss:
		typColor = red
	case trace.KindOpen, trace.KindClose, trace.KindHTTP:
		typColor = yellow
	default:
		typColor = bold
	}
	dst = append(dst, paint(c, dirColor, f.Dir)...)
	dst = append(dst, ' ')
	dst = append(dst, paint(c, typColor, fmt.Sprintf("%-26s", f.Type))...)
	var ids []string
	if f.RequestID != "" {
		ids = append(ids, "req="+f.RequestID)
	}
	if f.Seq != "" {
		ids = append(ids, "seq="+f.Seq)
	}
	if f.EventSeq != "" {
		ids = append(ids, "ev="+f.EventSeq)
	}
	dst = append(dst, fmt.Sprintf(" %-28s", strings.Join(ids, " "))...)
	if r.Kind == trace.KindFrame {
		dst = append(dst, fmt.Sprintf(" %6dB", f.Size)...)
	} else {
		dst = append(dst, "        "...)
	}
	if f.Summary != "" {
		dst = append(dst, "  "...)
		dst = append(dst, paint(c, dim, f.Summary)...)
	}
	return dst
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
			b.WriteString(clip(string(compact(v)), 40))
		}
	}
	return clip(b.String(), 100)
}

func compact(v []byte) []byte {
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
