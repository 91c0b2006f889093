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

	"github.com/lettadev/wsproxy/trace"
)

// Show writes r in full for a person: where it is, when, which
// connection and direction, its type and ids, and its payload as indented
// JSON (coloured with o.Color), or as text or base64 when it is not JSON.
// mark highlights the record asked for among its context; t0 is the time
// offsets are counted from.
func Show(w io.Writer, r *trace.Record, t0 time.Time, mark bool, o Options) error {
	var b bytes.Buffer
	c := o.Color
	f := Describe(r, o.model())
	loc := strconv.FormatInt(r.Line, 10)
	if o.File != "" {
		loc = o.File + ":" + loc
	}
	arrow := ""
	switch f.Dir {
	case "→":
		arrow = "client → server"
	case "←":
		arrow = "server → client"
	}
	head := fmt.Sprintf("%s  %s %s", loc, r.Conn, f.Type)
	if mark {
		head = "▶ " + head
	}
	fmt.Fprintln(&b, paint(c, bold, head))
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-10s %s\n", paint(c, dim, k), v)
		}
	}
	row("time", fmt.Sprintf("%s (+%.6fs)", r.T.UTC().Format(time.RFC3339Nano), r.T.Sub(t0).Seconds()))
	row("kind", string(r.Kind))
	if r.Kind == trace.KindFrame {
		row("direction", arrow)
		op := string(r.Op)
		if r.Compressed {
			op += ", compressed"
		}
		if r.WireFrames > 1 {
			op += fmt.Sprintf(", %d wire frames", r.WireFrames)
		}
		if r.Redacted {
			op += ", " + paint(c, yellow, "redacted")
		}
		row("op", op)
		row("size", fmt.Sprintf("%d bytes", r.Size))
	}
	var ids []string
	for _, kv := range [][2]string{{"request_id", f.RequestID}, {"seq", f.Seq}, {"event_seq", f.EventSeq}} {
		if kv[1] != "" {
			ids = append(ids, kv[0]+" "+paint(c, cyan, kv[1]))
		}
	}
	row("ids", strings.Join(ids, "  "))
	switch r.Kind {
	case trace.KindOpen:
		if r.Open != nil {
			row("url", r.Open.URL)
			row("upstream", r.Open.Upstream)
			row("client", r.Open.Client)
			row("session", r.Open.Session.String())
			row("extensions", r.Open.Extensions)
		}
	case trace.KindClose, trace.KindError, trace.KindLoss, trace.KindFault:
		row("detail", f.Summary)
	case trace.KindHTTP:
		row("request", f.Summary)
		if h := r.HTTP; h != nil && h.ResponseBody != nil && len(h.ResponseBody.Data) > 0 {
			b.WriteString("  response body:\n")
			writePayload(&b, h.ResponseBody.Data, h.ResponseBody.Form, c)
		}
	case trace.KindFrame:
		if len(r.Payload) > 0 {
			writePayload(&b, r.Payload, r.Form, c)
		} else if f.Summary != "" {
			row("detail", f.Summary)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writePayload writes p as indented JSON when it is JSON, else as quoted
// text, else as base64, indented by two spaces.
func writePayload(b *bytes.Buffer, p []byte, form trace.Form, c bool) {
	var ind bytes.Buffer
	if form != trace.FormData && json.Valid(p) && json.Indent(&ind, p, "  ", "  ") == nil {
		b.WriteString("  ")
		b.Write(colorJSON(ind.Bytes(), c))
		b.WriteByte('\n')
		return
	}
	if form == trace.FormData || !isText(p) {
		fmt.Fprintf(b, "  %s %s\n", paint(c, dim, "base64"), base64.StdEncoding.EncodeToString(p))
		return
	}
	for _, l := range strings.Split(string(p), "\n") {
		fmt.Fprintf(b, "  %s\n", l)
	}
}

func isText(p []byte) bool { return trace.FormOf(trace.OpText, p) != trace.FormData }

// colorJSON colours indented JSON: member names blue, strings green,
// numbers cyan, true/false/null magenta. Without c it returns js.
func colorJSON(js []byte, c bool) []byte {
	if !c {
		return js
	}
	var out bytes.Buffer
	for i := 0; i < len(js); {
		ch := js[i]
		switch {
		case ch == '"':
			j := i + 1
			for j < len(js) && js[j] != '"' {
				if js[j] == '\\' {
					j++
				}
				j++
			}
			j++
			if j > len(js) {
				j = len(js)
			}
			k := j
			for k < len(js) && js[k] == ' ' {
				k++
			}
			col := green
			if k < len(js) && js[k] == ':' {
				col = blue
			}
			out.WriteString(col)
			out.Write(js[i:j])
			out.WriteString(reset)
			i = j
		case ch == '-' || (ch >= '0' && ch <= '9'):
			j := i
			for j < len(js) && strings.IndexByte("+-.eE0123456789", js[j]) >= 0 {
				j++
			}
			out.WriteString(cyan)
			out.Write(js[i:j])
			out.WriteString(reset)
			i = j
		case ch == 't' || ch == 'f' || ch == 'n':
			j := i
			for j < len(js) && js[j] >= 'a' && js[j] <= 'z' {
				j++
			}
			out.WriteString(magenta)
			out.Write(js[i:j])
			out.WriteString(reset)
			i = j
		default:
			out.WriteByte(ch)
			i++
		}
	}
	return out.Bytes()
}
