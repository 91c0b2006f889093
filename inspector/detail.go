package inspector

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lettadev/wsproxy/inspector/model"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// detailView shows the selected frame: where it is, its wire facts, its
// findings and its payload as coloured JSON, text or hex.
type detailView struct {
	a    *App
	view *tview.TextView
	row  int
}

func newDetailView(a *App) *detailView {
	v := &detailView{a: a, row: -1}
	v.view = tview.NewTextView().SetDynamicColors(true).SetScrollable(true).SetWrap(false)
	v.view.SetBorder(true).SetTitle(" detail ")
	return v
}

// detailLimit bounds the payload bytes rendered in the pane (the Enter
// overlay renders more); TextView is slow on very large texts.
const detailLimit = 16 << 10

func (v *detailView) show(i int) {
	if i == v.row {
		return
	}
	v.row = i
	if i < 0 {
		v.view.SetText("")
		return
	}
	v.view.SetText(v.render(i, detailLimit)).ScrollToBeginning()
}

func (v *detailView) title(i int) string {
	r := v.a.m.Row(i)
	return fmt.Sprintf("line %d", r.Line)
}

// render returns the text of row i with at most limit payload bytes.
func (v *detailView) render(i int, limit int) string {
	m := v.a.m
	rec := m.Record(i)
	if rec == nil {
		return ""
	}
	r := m.Row(i)
	var b strings.Builder
	file := m.File(&r)
	if file != "" {
		fmt.Fprintf(&b, "[yellow]%s:%d[-]", esc(file), r.Line)
	} else {
		fmt.Fprintf(&b, "[yellow]live record %d[-]", r.N)
	}
	fmt.Fprintf(&b, "  %s  %s", rec.Conn, rec.T.Format("15:04:05.000000"))
	switch rec.Kind {
	case trace.KindFrame:
		fmt.Fprintf(&b, "  from %s  %s  %d bytes", rec.From, rec.Op, rec.Size)
		fmt.Fprintf(&b, "  %d wire frame(s)", rec.Frames())
		if rec.Compressed {
			b.WriteString("  compressed")
		}
	default:
		fmt.Fprintf(&b, "  [::b]%s[::-]", rec.Kind)
	}
	if rec.Redacted {
		b.WriteString("  [magenta]redacted[-]")
	}
	b.WriteString("\n")
	for _, f := range m.FindingsAt(i) {
		col := "yellow"
		if f.Severity.String() == "error" {
			col = "red"
		}
		fmt.Fprintf(&b, "[%s::b]%s[-::-] [%s]%s[-]: %s\n", col, f.Rule, col, f.Severity, esc(f.Message))
	}
	b.WriteString("\n")
	switch rec.Kind {
	case trace.KindFrame:
		b.WriteString(renderPayload(rec.Op, rec.Payload, limit))
	default:
		b.WriteString(esc(model.Summarize(rec)) + "\n\n")
		b.WriteString(recordFields(rec))
	}
	return b.String()
}

// recordFields lists a non-frame record's fields.
func recordFields(r *trace.Record) string {
	var b strings.Builder
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "[yellow]%s[-]: %s\n", k, esc(v))
		}
	}
	headers := func(name string, h map[string][]string) {
		if len(h) == 0 {
			return
		}
		fmt.Fprintf(&b, "[yellow]%s[-]:\n", name)
		keys := make([]string, 0, len(h))
		for k := range h {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %s\n", esc(k), esc(strings.Join(h[k], ", ")))
		}
	}
	switch {
	case r.Open != nil:
		kv("url", r.Open.URL)
		kv("upstream", r.Open.Upstream)
		kv("client", r.Open.Client)
		kv("session", r.Open.Session.String())
		kv("subprotocol", r.Open.Subprotocol)
		kv("extensions", r.Open.Extensions)
		headers("headers", r.Open.Headers)
		headers("response headers", r.Open.ResponseHeaders)
	case r.HTTP != nil:
		kv("request", r.HTTP.Method+" "+r.HTTP.URL)
		kv("upstream", r.HTTP.Upstream)
		kv("status", fmt.Sprint(r.HTTP.Status))
		kv("duration", r.HTTP.Duration.String())
		headers("request headers", r.HTTP.RequestHeaders)
		headers("response headers", r.HTTP.ResponseHeaders)
		if rb := r.HTTP.ResponseBody; rb != nil && len(rb.Data) > 0 {
			b.WriteString("[yellow]response body[-]:\n")
			b.WriteString(renderPayload(trace.OpText, rb.Data, detailLimit))
		}
	case r.Kind == trace.KindClose:
		kv("by", string(r.By))
		if r.Code != 0 {
			kv("code", fmt.Sprint(r.Code))
		}
		kv("reason", r.Reason)
	default:
		kv("message", r.Message)
		if r.Count != 0 {
			kv("count", fmt.Sprint(r.Count))
		}
	}
	return b.String()
}

// renderPayload shows p as coloured pretty JSON, text, or hex.
func renderPayload(op trace.Op, p []byte, limit int) string {
	cut := ""
	if len(p) > limit {
		cut = fmt.Sprintf("\n[gray](%d of %d bytes shown; Enter opens the frame in full)[-]\n", limit, len(p))
	}
	if len(p) == 0 {
		return "[gray](empty payload)[-]\n"
	}
	if op == trace.OpText && utf8.Valid(p) {
		if len(p) <= limit {
			if pretty, ok := model.Pretty(p); ok {
				return colorJSON(string(pretty))
			}
		}
		return esc(string(p[:min(len(p), limit)])) + "\n" + cut
	}
	return "[gray]" + string(op) + " payload, hex:[-]\n" + esc(model.HexDump(p[:min(len(p), limit)])) + cut
}

// colorJSON colours indented JSON: keys, strings, numbers, literals.
// Brackets are escaped with escIn, not tview.Escape, which leaves "[]"
// alone: after an earlier "[" tview reads it as the close of an escape
// and drops a bracket (found by FuzzRender).
func colorJSON(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 5 / 4)
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(s))
			k := j
			for k < len(s) && s[k] == ' ' {
				k++
			}
			col := "green"
			if k < len(s) && s[k] == ':' {
				col = "yellow"
			}
			b.WriteString("[" + col + "]" + escIn(s[i:j], col) + "[-]")
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(s) && strings.IndexByte("+-.eE0123456789", s[j]) >= 0 {
				j++
			}
			b.WriteString("[aqua]" + s[i:j] + "[-]")
			i = j
		case strings.HasPrefix(s[i:], "true") || strings.HasPrefix(s[i:], "null"):
			b.WriteString("[fuchsia]" + s[i:i+4] + "[-]")
			i += 4
		case strings.HasPrefix(s[i:], "false"):
			b.WriteString("[fuchsia]false[-]")
			i += 5
		default:
			j := i
			for j < len(s) && strings.IndexByte("\"-0123456789tfn", s[j]) < 0 {
				j++
			}
			if j == i {
				j++
			}
			b.WriteString(escIn(s[i:j], "-"))
			i = j
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// escIn makes s draw as itself inside text coloured col: every "[" is
// followed by a colour tag (col again), so no bracket starts a tag or an
// escape.
func escIn(s, col string) string {
	return strings.ReplaceAll(s, "[", "[["+col+"]")
}

// findingsView lists the checker's findings; choosing one selects its
// frame.
type findingsView struct {
	a     *App
	table *tview.Table
	list  []model.Finding
}

func newFindingsView(a *App) *findingsView {
	v := &findingsView{a: a}
	v.table = tview.NewTable().SetSelectable(true, false)
	v.table.SetBorder(true).SetTitle(" findings ")
	v.table.SetSelectedFunc(func(row, col int) { v.choose() })
	return v
}

func (v *findingsView) refresh() {
	fs := v.a.m.Findings()
	if len(fs) == len(v.list) {
		return
	}
	clear(v.a.frames.cache) // frames gained marks
	for k := len(v.list); k < len(fs); k++ {
		f := fs[k]
		col := tcell.ColorYellow
		if f.Severity.String() == "error" {
			col = tcell.ColorRed
		}
		v.table.SetCell(k, 0, tview.NewTableCell(fmt.Sprint(f.Line)).SetTextColor(tcell.ColorGray))
		v.table.SetCell(k, 1, tview.NewTableCell(f.Rule).SetTextColor(col))
		v.table.SetCell(k, 2, tview.NewTableCell(f.Severity.String()).SetTextColor(col))
		v.table.SetCell(k, 3, tview.NewTableCell(esc(f.Message)))
	}
	v.list = fs
	v.table.SetTitle(fmt.Sprintf(" findings (%d) ", len(fs)))
}

func (v *findingsView) choose() {
	k, _ := v.table.GetSelection()
	if k < 0 || k >= len(v.list) {
		return
	}
	f := v.list[k]
	if f.Row < 0 {
		v.a.setStatus("[yellow]this finding is about no single frame (" + esc(f.Conn) + ")[-]")
		return
	}
	msg := fmt.Sprintf("[red]%s[-]: %s", f.Rule, esc(f.Message))
	if p := v.a.position(f.Row); p >= 0 {
		v.a.frames.selectPos(p)
		v.a.app.SetFocus(v.a.frames.table)
		v.a.setStatus(msg)
		return
	}
	v.a.filter, v.a.conn = nil, ""
	v.a.lastMsg = msg + " [yellow](filter cleared to show it)[-]"
	v.a.runQuery(f.Row)
	v.a.app.SetFocus(v.a.frames.table)
}

func (v *findingsView) topBottom(bottom bool) {
	if bottom {
		v.table.Select(max(len(v.list)-1, 0), 0)
	} else {
		v.table.Select(0, 0)
	}
}

// statsText renders the statistics overlay.
func statsText(st model.Stats) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[::b]%d frames, %s; %d findings[::-]\n\n", st.All.Frames, byteSize(st.All.Bytes), st.Findings)
	fmt.Fprintf(&b, "[yellow]%-32s %-7s %9s %10s[-]\n", "type", "from", "frames", "bytes")
	for _, t := range st.Types {
		fmt.Fprintf(&b, "%-32s %-7s %9d %10d\n", esc(pad(t.Type, 32)), t.From, t.Frames, t.Bytes)
	}
	b.WriteString("\n[::b]request → reply latency per command[::-]\n\n")
	if len(st.Latencies) == 0 {
		b.WriteString("(no request got a reply)\n")
	} else {
		fmt.Fprintf(&b, "[yellow]%-32s %7s %10s %10s %10s[-]\n", "command", "n", "p50", "p99", "max")
		hist := make([]int, len(model.Buckets))
		for _, l := range st.Latencies {
			fmt.Fprintf(&b, "%-32s %7d %10s %10s %10s\n", esc(pad(l.Command, 32)), l.N, short(l.P50), short(l.P99), short(l.Max))
			for k, n := range l.Histogram {
				hist[k] += n
			}
		}
		b.WriteString("\n[::b]latency histogram, every command[::-]\n\n")
		most := 1
		for _, n := range hist {
			most = max(most, n)
		}
		for k, n := range hist {
			label := "≤ " + short(model.Buckets[k])
			if k == len(hist)-1 {
				label = "> " + short(model.Buckets[k-1])
			}
			fmt.Fprintf(&b, "%10s [aqua]%s[-] %d\n", label, strings.Repeat("█", n*50/most), n)
		}
	}
	return b.String()
}

func short(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

// statusStyle gives each loop status a character and a colour for the
// turn strip.
func statusStyle(s string, seen map[string]int) (rune, string) {
	colors := []string{"blue", "yellow", "green", "fuchsia", "aqua", "red", "white"}
	switch s {
	case protocol.LoopIdle:
		return '·', "gray"
	}
	k, ok := seen[s]
	if !ok {
		k = len(seen)
		seen[s] = k
	}
	ch := '?'
	if s != "" {
		ch = rune(s[0])
	}
	return ch, colors[k%len(colors)]
}

// turnText renders a turn: the loop statuses as a strip over time, the
// approval waits under it, and the assistant's text.
func turnText(t *model.Turn, width int) string {
	width = max(20, min(width, 120))
	var b strings.Builder
	fmt.Fprintf(&b, "[::b]prompt[::-]: %s\n", esc(t.Prompt))
	span := t.T1.Sub(t.T0)
	fmt.Fprintf(&b, "%s, lines %d-%d, %d stream_deltas, stop reason %s\n\n", short(span), t.StartLine, max(t.EndLine, t.StartLine), t.Deltas, t.StopReason)
	seen := map[string]int{}
	b.WriteString("[::b]loop status over time[::-]\n")
	strip := make([]string, width)
	for k := range strip {
		at := t.T0.Add(time.Duration(float64(span) * float64(k) / float64(width)))
		cur := ""
		for _, s := range t.Statuses {
			if s.T.After(at) {
				break
			}
			cur = s.Status
		}
		ch, col := statusStyle(cur, seen)
		if cur == "" {
			ch, col = ' ', "gray"
		}
		strip[k] = "[" + col + "]" + string(ch) + "[-]"
	}
	b.WriteString(strings.Join(strip, "") + "\n")
	wait := make([]rune, width)
	for k := range wait {
		wait[k] = ' '
	}
	for _, w := range t.Waits {
		to := w.To
		if w.Answer < 0 {
			to = t.T1
		}
		for k := range wait {
			at := t.T0.Add(time.Duration(float64(span) * float64(k) / float64(width)))
			if !at.Before(w.From) && !at.After(to) {
				wait[k] = '='
			}
		}
	}
	b.WriteString("[fuchsia]" + string(wait) + "[-] approval wait\n")
	fmt.Fprintf(&b, "0%s%s\n\n", strings.Repeat(" ", max(0, width-len(short(span))-1)), short(span))
	b.WriteString("[::b]statuses in order[::-]: ")
	for k, s := range t.Statuses {
		if k > 0 {
			b.WriteString(" → ")
		}
		ch, col := statusStyle(s.Status, seen)
		fmt.Fprintf(&b, "[%s]%c %s[-]", col, ch, s.Status)
	}
	b.WriteString("\n\n[::b]approvals[::-]\n")
	if len(t.Waits) == 0 {
		b.WriteString("(none)\n")
	}
	for _, w := range t.Waits {
		ans := "never answered"
		if w.Answer >= 0 {
			ans = "answered after " + short(w.To.Sub(w.From))
		}
		fmt.Fprintf(&b, "  %s %q: %s\n", esc(w.Tool), w.Command, ans)
	}
	b.WriteString("\n[::b]assistant text, as the user saw it[::-]\n")
	b.WriteString(esc(t.Text) + "\n")
	return b.String()
}

// esc makes text from a trace (or the user) draw as itself in a view
// with colour tags; see escIn.
func esc(s string) string { return escIn(s, "-") }
