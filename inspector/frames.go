package inspector

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lettadev/wsproxy/inspector/model"
	"github.com/lettadev/wsproxy/trace"
)

// framesView is the virtual frame table: tview asks for the cells of the
// visible rows only, and they are built from the model's compact rows.
type framesView struct {
	a     *App
	table *tview.Table
	cache map[int]*rowCells
	cols  []int // the columns shown, narrower terminals show fewer
}

// Column sets: all of them, and the narrow set (request_id and event_seq
// are left out below wideWidth, so the summary keeps some room).
var (
	wideCols   = []int{colN, colTime, colDir, colConn, colType, colReq, colSeq, colEv, colSize, colMark, colSummary}
	narrowCols = []int{colN, colTime, colDir, colConn, colType, colSeq, colSize, colMark, colSummary}
)

const wideWidth = 120

type rowCells struct {
	cells [nCols]*tview.TableCell
}

// Columns of the frame table and their fixed widths (0: the rest).
const (
	colN = iota
	colTime
	colDir
	colConn
	colType
	colReq
	colSeq
	colEv
	colSize
	colMark
	colSummary
	nCols
)

var colNames = [nCols]string{"#", "time", "", "conn", "type", "request_id", "seq", "ev_seq", "size", "!", "summary"}
var colWidths = [nCols]int{6, 8, 1, 4, 22, 16, 5, 6, 6, 1, 0}

// Direction markers: client→server and server→client.
const (
	markClient = "→"
	markServer = "←"
)

func newFramesView(a *App) *framesView {
	v := &framesView{a: a, cache: map[int]*rowCells{}, cols: wideCols}
	v.table = tview.NewTable().SetFixed(1, 0).SetSelectable(true, false).SetContent(&frameContent{v: v})
	v.table.SetBorder(true).SetTitle(" frames ")
	v.table.SetSelectionChangedFunc(func(row, col int) {
		a.detail.show(v.selectedRow())
	})
	v.table.SetSelectedFunc(func(row, col int) { a.enter() })
	return v
}

// selected returns the selected view position, -1 when none.
func (v *framesView) selected() int {
	r, _ := v.table.GetSelection()
	if r < 1 || r-1 >= v.a.viewLen() {
		return -1
	}
	return r - 1
}

// selectedRow returns the selected model row, -1 when none.
func (v *framesView) selectedRow() int {
	k := v.selected()
	if k < 0 {
		return -1
	}
	return v.a.rowAt(k)
}

// selectPos selects view position k.
func (v *framesView) selectPos(k int) {
	v.table.Select(k+1, 0)
	v.a.detail.show(v.selectedRow())
}

type frameContent struct {
	tview.TableContentReadOnly
	v *framesView
}

func (c *frameContent) GetRowCount() int    { return 1 + c.v.a.viewLen() }
func (c *frameContent) GetColumnCount() int { return len(c.v.cols) }

func (c *frameContent) GetCell(row, col int) *tview.TableCell {
	if col < 0 || col >= len(c.v.cols) {
		return nil
	}
	col = c.v.cols[col]
	if row == 0 {
		return tview.NewTableCell(pad(colNames[col], colWidths[col])).SetSelectable(false).
			SetAttributes(tcell.AttrBold).SetTextColor(tcell.ColorYellow)
	}
	k := row - 1
	if k >= c.v.a.viewLen() {
		return nil
	}
	i := c.v.a.rowAt(k)
	rc := c.v.cache[i]
	if rc == nil {
		if len(c.v.cache) > 4096 {
			clear(c.v.cache)
		}
		rc = c.v.build(i)
		c.v.cache[i] = rc
	}
	return rc.cells[col]
}

// build makes the cells of model row i.
func (v *framesView) build(i int) *rowCells {
	m := v.a.m
	r := m.Row(i)
	var t0 int64
	if m.Len() > 0 {
		first := m.Row(0)
		t0 = first.T
	}
	text := [nCols]string{}
	if r.N > 0 {
		text[colN] = strconv.FormatInt(r.N, 10)
	} else {
		text[colN] = strconv.FormatInt(r.Line, 10)
	}
	text[colTime] = fmt.Sprintf("%.3f", float64(r.T-t0)/1e9)
	color := tcell.ColorWhite
	switch r.From() {
	case trace.Client:
		text[colDir], color = markClient, tcell.ColorGreen
	case trace.Server:
		text[colDir], color = markServer, tcell.ColorDarkCyan
	case trace.Proxy:
		text[colDir], color = "×", tcell.ColorYellow
	}
	text[colConn] = m.ConnID(&r)
	switch r.Kind() {
	case trace.KindFrame:
		text[colType] = m.Type(&r)
		if text[colType] == "" {
			text[colType] = "(" + string(r.Op()) + ")"
		}
		text[colSize] = strconv.Itoa(int(r.Size))
	default:
		text[colType] = "[" + string(r.Kind()) + "]"
		if r.Kind() != trace.KindClose {
			color = tcell.ColorYellow
		}
	}
	if r.Kind() == trace.KindError || r.Kind() == trace.KindLoss {
		color = tcell.ColorRed
	}
	if r.Kind() == trace.KindFault {
		color = tcell.ColorFuchsia // injected on purpose: apart from real errors
	}
	text[colReq] = m.RequestID(&r)
	if r.HasSeq() {
		text[colSeq] = strconv.FormatInt(r.Seq, 10)
	}
	if r.HasEventSeq() {
		text[colEv] = strconv.FormatInt(r.EventSeq, 10)
	}
	if r.HasFindings() {
		text[colMark] = "!"
	}
	text[colSummary] = m.Summary(i)
	rc := &rowCells{}
	for col := range rc.cells {
		c := tview.NewTableCell(esc(pad(text[col], colWidths[col]))).SetTextColor(color)
		if col == colSummary {
			c.SetExpansion(1)
		} else {
			c.SetMaxWidth(colWidths[col])
		}
		if col == colMark && r.HasFindings() {
			c.SetTextColor(tcell.ColorRed).SetAttributes(tcell.AttrBold)
		}
		if col == colDir {
			c.SetAttributes(tcell.AttrBold)
		}
		rc.cells[col] = c
	}
	return rc
}

// pad cuts or pads s to w runes (w 0: unchanged).
func pad(s string, w int) string {
	if w == 0 {
		return s
	}
	r := []rune(s)
	if len(r) > w {
		if w > 1 {
			return string(r[:w-1]) + "…"
		}
		return string(r[:w])
	}
	for len(r) < w {
		r = append(r, ' ')
	}
	return string(r)
}

// connsView lists the connections grouped by session; choosing one
// narrows the frame table to it.
type connsView struct {
	a     *App
	table *tview.Table
	ids   []string // per table row: the connection id, "" for all, "-" for a session heading
	seen  int
	sig   string
}

func newConnsView(a *App) *connsView {
	v := &connsView{a: a}
	v.table = tview.NewTable().SetSelectable(true, false)
	v.table.SetBorder(true).SetTitle(" connections ")
	v.table.SetSelectedFunc(func(row, col int) { v.choose() })
	return v
}

func (v *connsView) refresh() {
	conns := v.a.m.Conns()
	sig := fmt.Sprint(len(conns))
	for _, c := range conns {
		sig += fmt.Sprintf(",%d/%d/%v/%d", c.Frames, c.Findings, c.Closed, c.CloseCode)
	}
	if sig == v.sig {
		return
	}
	v.sig = sig
	sel, _ := v.table.GetSelection()
	v.table.Clear()
	v.ids = v.ids[:0]
	v.table.SetCell(0, 0, tview.NewTableCell("all connections").SetTextColor(tcell.ColorYellow))
	v.ids = append(v.ids, "")
	last := ""
	sockets := map[string]int{} // per session and channel: reconnects are the second socket on
	for _, c := range conns {
		s := model.SessionName(c)
		sockets[s+"\x00"+c.Session.Channel]++
		again := sockets[s+"\x00"+c.Session.Channel] > 1 && c.Session.Channel != ""
		if s != last {
			last = s
			v.table.SetCell(len(v.ids), 0, tview.NewTableCell(esc(pad(s, 40))).SetSelectable(false).
				SetTextColor(tcell.ColorGray).SetAttributes(tcell.AttrBold))
			v.ids = append(v.ids, "-")
		}
		mark := " "
		if again {
			mark = "↻" // a reconnect of this session's channel
		}
		line := fmt.Sprintf("%s%-4s %-7s %5df %5s %6s", mark, c.Key, pad(c.Session.Channel, 7), c.Frames, byteSize(c.Bytes), shortDur(c.End.Sub(c.Start)))
		if c.Closed {
			line += " ×" + strconv.Itoa(c.CloseCode)
		}
		cell := tview.NewTableCell(esc(line))
		if c.Findings > 0 {
			cell.SetText(esc(line) + fmt.Sprintf(" [red]!%d[-]", c.Findings))
		}
		v.table.SetCell(len(v.ids), 0, cell)
		v.ids = append(v.ids, c.Key)
	}
	if sel >= len(v.ids) {
		sel = 0
	}
	v.table.Select(sel, 0)
}

func (v *connsView) choose() {
	r, _ := v.table.GetSelection()
	if r < 0 || r >= len(v.ids) || v.ids[r] == "-" {
		return
	}
	v.a.narrowConn(v.ids[r])
}

func (v *connsView) topBottom(bottom bool) {
	if bottom {
		v.table.Select(len(v.ids)-1, 0)
	} else {
		v.table.Select(0, 0)
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%dK", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// shortDur formats a connection's duration in at most 6 characters.
func shortDur(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1fm", d.Minutes())
	case d >= time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
