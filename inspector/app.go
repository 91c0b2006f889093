// Package inspector is a terminal UI for traces, recorded and live: a
// connections list grouped by session, a virtual frame table, a detail
// pane with the payload as coloured JSON (or text, or hex), the checker's
// findings, a turn view and statistics. The data lives in package
// inspector/model; this package holds the views, each owning its widgets,
// and one key table (keys.go) that drives dispatch and the `?` help.
package inspector

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/lettadev/wsproxy/filter"
	"github.com/lettadev/wsproxy/inspector/model"
)

// Options configure an App.
type Options struct {
	// Title names what is shown (file names, or "live").
	Title string
	// Screen is where to draw; nil opens the terminal. Tests pass a
	// tcell simulation screen.
	Screen tcell.Screen
	// Ticks drive refreshes (new rows, progress, live batches); nil means
	// a ticker of RefreshEvery.
	Ticks <-chan time.Time
	// AfterDraw is called after every draw (tests wait on it).
	AfterDraw func(tcell.Screen)
	// Live, when set, is drained into the model on every tick.
	Live *Live
}

// RefreshEvery is how often the inspector refreshes by default.
const RefreshEvery = 200 * time.Millisecond

// Smallest usable terminal.
const minWidth, minHeight = 60, 16

// Page names.
const (
	pageMain   = "main"
	pageHelp   = "help"
	pageStats  = "stats"
	pageTurn   = "turn"
	pageDetail = "detail"
)

// App is the inspector over one model.
type App struct {
	m    *model.Model
	o    Options
	app  *tview.Application
	keys []binding

	pages    *tview.Pages
	header   *tview.TextView
	warnLine *tview.TextView
	frames   *framesView
	conns    *connsView
	detail   *detailView
	finds    *findingsView
	bottom   *tview.Pages
	status   *tview.TextView
	input    *tview.InputField
	overlay  *tview.TextView
	body     *tview.Flex
	top      *tview.Flex
	panes    []tview.Primitive
	showConn bool
	autoConn bool

	filterActive bool
	filterErr    string
	lastMsg      string
	overlayName  string
	follow       bool

	// query state (event loop only)
	filter   *filter.Filter
	conn     string
	view     []int // rows shown; nil means every row up to shown
	shown    int   // rows of the model the view covers
	queryGen int
	pending  bool // a query is running

	sigMu   sync.Mutex
	lastSig [4]int64 // what the last refresh saw (changed)

	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New builds the inspector's views over m.
func New(m *model.Model, o Options) *App {
	a := &App{m: m, o: o, app: tview.NewApplication(), keys: keyTable(), done: make(chan struct{}), autoConn: true}
	if o.Screen != nil {
		a.app.SetScreen(o.Screen)
	}
	a.header = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	a.warnLine = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	a.frames = newFramesView(a)
	a.conns = newConnsView(a)
	a.detail = newDetailView(a)
	a.finds = newFindingsView(a)
	a.status = tview.NewTextView().SetDynamicColors(true).SetWrap(false)
	a.input = tview.NewInputField().SetLabel("/").SetFieldBackgroundColor(tcell.ColorDefault)
	a.input.SetDoneFunc(a.filterDone)
	a.bottom = tview.NewPages().AddPage("status", a.status, true, true).AddPage("filter", a.input, true, false)
	a.overlay = tview.NewTextView().SetDynamicColors(true).SetScrollable(true).SetWrap(true)
	a.overlay.SetBorder(true)

	a.top = tview.NewFlex()
	lower := tview.NewFlex().AddItem(a.detail.view, 0, 3, false).AddItem(a.finds.table, 0, 2, false)
	a.body = tview.NewFlex().SetDirection(tview.FlexRow).AddItem(a.top, 0, 3, true).AddItem(lower, 0, 2, false)
	root := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(a.header, 1, 0, false).
		AddItem(a.warnLine, 1, 0, false).
		AddItem(a.body, 0, 1, true).
		AddItem(a.bottom, 1, 0, false)
	a.pages = tview.NewPages().AddPage(pageMain, root, true, true)
	a.layoutTop(true)

	a.app.SetRoot(a.pages, true).EnableMouse(true).SetFocus(a.frames.table)
	a.app.SetInputCapture(a.capture)
	a.app.SetBeforeDrawFunc(a.beforeDraw)
	a.app.SetAfterDrawFunc(func(s tcell.Screen) {
		if a.o.AfterDraw != nil {
			a.o.AfterDraw(s)
		}
	})
	a.setStatus("")
	a.refresh()
	return a
}

// layoutTop lays out the connections and frames panes.
func (a *App) layoutTop(showConns bool) {
	a.showConn = showConns
	a.top.Clear()
	if showConns {
		a.top.AddItem(a.conns.table, 44, 0, false)
	}
	a.top.AddItem(a.frames.table, 0, 1, true)
	a.panes = []tview.Primitive{a.frames.table, a.detail.view, a.finds.table}
	if showConns {
		a.panes = []tview.Primitive{a.conns.table, a.frames.table, a.detail.view, a.finds.table}
	}
}

// Run shows the inspector until q (or Stop). It refreshes on every tick.
func (a *App) Run() error {
	ticks := a.o.Ticks
	if ticks == nil {
		t := time.NewTicker(RefreshEvery)
		defer t.Stop()
		ticks = t.C
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-a.done:
				return
			case now := <-ticks:
				if !a.changed() {
					continue // nothing new: no redraw (an idle inspector costs nothing)
				}
				if a.o.Live != nil {
					// Off the event loop: reading skipped records back
					// from the trace may take a moment.
					a.o.Live.drain(a.m)
					a.m.Advance(now)
				}
				a.app.QueueUpdateDraw(a.refresh)
			}
		}
	}()
	err := a.app.Run()
	if err != nil {
		// No terminal: there is no screen to stop.
		a.stopOnce.Do(func() { close(a.done) })
		a.wg.Wait()
		return fmt.Errorf("terminal: %w", err)
	}
	a.Stop()
	a.wg.Wait()
	return nil
}

// changed reports whether a refresh would show something new (safe off
// the event loop: it only asks the model and the live sink).
func (a *App) changed() bool {
	if a.o.Live != nil || a.o.Ticks != nil {
		return true // live: the sink has news; tests: every tick refreshes
	}
	p := a.m.Progress()
	sig := [4]int64{int64(a.m.Len()), p.Bytes, int64(len(a.m.Warnings())), int64(a.m.FindingCount())}
	a.sigMu.Lock()
	defer a.sigMu.Unlock()
	if sig == a.lastSig && p.Done {
		return false
	}
	a.lastSig = sig
	return true
}

// Stop ends Run.
func (a *App) Stop() {
	a.stopOnce.Do(func() {
		close(a.done)
		a.app.Stop()
	})
}

func (a *App) quit() { a.Stop() }

// beforeDraw replaces the UI by a notice on a terminal too small for it,
// and shows the connections pane only when there is room.
func (a *App) beforeDraw(s tcell.Screen) bool {
	w, h := s.Size()
	if w < minWidth || h < minHeight {
		msg := fmt.Sprintf("terminal too small: %dx%d, the inspector needs at least %dx%d (q quits)", w, h, minWidth, minHeight)
		for y, line := range wrap(msg, w) {
			if y >= h {
				break
			}
			for x, r := range []rune(line) {
				s.SetContent(x, y, r, nil, tcell.StyleDefault)
			}
		}
		if a.o.AfterDraw != nil {
			a.o.AfterDraw(s)
		}
		return true
	}
	if a.autoConn && (w >= wideWidth) != a.showConn {
		a.layoutTop(w >= wideWidth)
	}
	if w >= wideWidth {
		a.frames.cols = wideCols
	} else {
		a.frames.cols = narrowCols
	}
	return false
}

func wrap(s string, w int) []string {
	var out []string
	r := []rune(s)
	for w > 0 && len(r) > w {
		out = append(out, string(r[:w]))
		r = r[w:]
	}
	return append(out, string(r))
}

// capture dispatches keys through the key table.
func (a *App) capture(ev *tcell.EventKey) *tcell.EventKey {
	if ev.Key() == tcell.KeyCtrlC {
		a.quit()
		return nil
	}
	if a.filterActive {
		return ev
	}
	if a.overlayName != "" {
		switch {
		case ev.Key() == tcell.KeyEscape:
			a.closeOverlay()
			return nil
		case ev.Key() == tcell.KeyRune && ev.Rune() == 'q':
			a.quit()
			return nil
		case ev.Key() == tcell.KeyRune && (ev.Rune() == '?' && a.overlayName == pageHelp ||
			ev.Rune() == 's' && a.overlayName == pageStats || ev.Rune() == 't' && a.overlayName == pageTurn):
			a.closeOverlay()
			return nil
		}
		return ev
	}
	if b := lookup(a.keys, ev); b != nil {
		b.run(a)
		return nil
	}
	return ev
}

// setStatus shows msg on the status line, after the row count and modes.
func (a *App) setStatus(msg string) {
	var b strings.Builder
	total := a.m.Len()
	n := a.viewLen()
	switch {
	case a.pending:
		b.WriteString("[yellow]filtering…[-]")
	case a.filter.Empty() && a.conn == "":
		fmt.Fprintf(&b, "[::b]all %d rows[::-]", total)
	default:
		fmt.Fprintf(&b, "[::b]%d of %d match[::-]", n, total)
		if a.conn != "" {
			fmt.Fprintf(&b, " conn %s", a.conn)
		}
		if !a.filter.Empty() {
			fmt.Fprintf(&b, " [green]/%s[-]", esc(a.filter.String()))
		}
	}
	if a.follow {
		b.WriteString(" [yellow]follow[-]")
	}
	if msg != "" {
		b.WriteString("  " + msg)
	}
	b.WriteString("  [gray]? help  q quit[-]")
	a.status.SetText(b.String())
	a.lastMsg = msg
}

// viewLen is the number of rows shown.
func (a *App) viewLen() int {
	if a.view == nil {
		return a.shown
	}
	return len(a.view)
}

// rowAt returns the model row at view position k.
func (a *App) rowAt(k int) int {
	if a.view == nil {
		return k
	}
	return a.view[k]
}

// position returns the view position of model row i, -1 when hidden.
func (a *App) position(i int) int {
	if a.view == nil {
		if i < a.shown {
			return i
		}
		return -1
	}
	lo, hi := 0, len(a.view)
	for lo < hi {
		mid := (lo + hi) / 2
		if a.view[mid] < i {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(a.view) && a.view[lo] == i {
		return lo
	}
	return -1
}

// refresh takes in what the model gained since the last refresh (runs
// on the event loop; called by the ticker through QueueUpdateDraw, after
// it drained the live sink into the model).
func (a *App) refresh() {
	a.updateHeader()
	n := a.m.Len()
	wasEmpty := a.viewLen() == 0
	if n > a.shown && !a.pending {
		if a.view == nil {
			a.shown = n
		} else {
			// Extend the filtered view with the new rows (fast: only those).
			more := a.m.Match(model.Query{Filter: a.filter, Conn: a.conn}, a.shown)
			a.view = append(a.view, more...)
			a.shown = n
		}
		if a.follow && a.viewLen() > 0 {
			a.frames.selectPos(a.viewLen() - 1)
		}
	}
	if sel := a.frames.selected(); (sel < 0 || wasEmpty) && a.viewLen() > 0 && !a.follow {
		// The first rows: show them from the top (a table drawn empty
		// keeps no useful offset or selection).
		a.frames.table.SetOffset(0, 0)
		a.frames.selectPos(0)
	}
	a.conns.refresh()
	a.finds.refresh()
	a.setStatus(a.lastMsg)
}

func (a *App) updateHeader() {
	p := a.m.Progress()
	var b strings.Builder
	b.WriteString("[::b]wsproxy inspect[::-]")
	switch {
	case a.o.Live != nil:
		fmt.Fprintf(&b, "  [green]live[-] %d records", a.m.Len())
		if s := a.o.Live.SkippedTotal(); s > 0 {
			fmt.Fprintf(&b, " [yellow](%d skipped live, read back from the trace)[-]", s)
		}
	case !p.Done:
		pct := 0.0
		if p.Total > 0 {
			pct = 100 * float64(p.Bytes) / float64(p.Total)
		}
		fmt.Fprintf(&b, "  [yellow]loading %s %3.0f%%[-] %d records (file %d of %d)", bar(pct, 20), pct, p.Records, p.File, p.Files)
	default:
		fmt.Fprintf(&b, "  %d records", p.Records)
	}
	if nf := len(a.finds.list); nf > 0 {
		fmt.Fprintf(&b, "  [red]%d findings[-]", nf)
	}
	b.WriteString("  " + esc(a.o.Title))
	a.header.SetText(b.String())
	ws := a.m.Warnings()
	if a.filterErr != "" {
		a.warnLine.SetText("[red::b]" + esc(a.filterErr) + "[-::-]")
	} else if len(ws) == 0 {
		a.warnLine.SetText("")
	} else {
		w := "[yellow::b]warning:[-::-] [yellow]" + esc(ws[len(ws)-1]) + "[-]"
		if len(ws) > 1 {
			w += fmt.Sprintf(" [gray](+%d more)[-]", len(ws)-1)
		}
		a.warnLine.SetText(w)
	}
}

func bar(pct float64, w int) string {
	n := int(pct / 100 * float64(w))
	return "[" + strings.Repeat("█", n) + strings.Repeat("░", w-n) + "]"
}

// runQuery recomputes the view for the current filter and connection on
// a goroutine (a filter over a million rows takes a moment) and installs
// it through the event loop.
func (a *App) runQuery(keep int) {
	q := model.Query{Filter: a.filter, Conn: a.conn}
	a.queryGen++
	gen := a.queryGen
	if q.Empty() {
		a.view, a.shown, a.pending = nil, a.m.Len(), false
		a.afterQuery(keep)
		return
	}
	a.pending = true
	a.setStatus("")
	n := a.m.Len()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		rows := a.m.Match(q, 0)
		rows = rows[:countBelow(rows, n)]
		select {
		case <-a.done:
			return
		default:
		}
		a.app.QueueUpdateDraw(func() {
			if gen != a.queryGen {
				return
			}
			a.view, a.shown, a.pending = rows, n, false
			if a.view == nil {
				a.view = []int{}
			}
			a.afterQuery(keep)
			a.refresh()
		})
	}()
}

func countBelow(rows []int, n int) int {
	for k := len(rows); k > 0; k-- {
		if rows[k-1] < n {
			return k
		}
	}
	return 0
}

// afterQuery keeps model row keep selected when it is still shown.
func (a *App) afterQuery(keep int) {
	a.frames.table.SetOffset(0, 0)
	if p := a.position(keep); keep >= 0 && p >= 0 {
		a.frames.selectPos(p)
	} else if a.viewLen() > 0 {
		a.frames.selectPos(0)
	} else {
		a.frames.table.Select(0, 0)
		a.detail.show(-1)
	}
	a.setStatus(a.lastMsg)
}

// startFilter opens the filter prompt.
func (a *App) startFilter() {
	a.filterActive = true
	a.input.SetText(a.filter.String())
	a.bottom.SwitchToPage("filter")
	a.app.SetFocus(a.input)
}

// filterDone applies (Enter) or abandons (Escape) the filter being typed.
func (a *App) filterDone(key tcell.Key) {
	switch key {
	case tcell.KeyEnter:
		f, err := filter.Parse(a.input.GetText())
		if err != nil {
			// Keep the prompt open with the text, and say what is wrong.
			a.filterErr = err.Error()
			a.updateHeader()
			return
		}
		a.filterErr = ""
		a.filterActive = false
		a.bottom.SwitchToPage("status")
		a.app.SetFocus(a.frames.table)
		a.filter = f
		a.lastMsg = ""
		a.runQuery(a.frames.selectedRow())
	case tcell.KeyEscape:
		a.filterErr = ""
		a.filterActive = false
		a.bottom.SwitchToPage("status")
		a.app.SetFocus(a.frames.table)
	}
}

// escape closes an overlay (done in capture) or clears the filter and the
// connection choice.
func (a *App) escape() {
	if a.filter.Empty() && a.conn == "" {
		a.setStatus("")
		return
	}
	keep := a.frames.selectedRow()
	a.filter, a.conn = nil, ""
	a.lastMsg = "filter cleared"
	a.runQuery(keep)
}

func (a *App) narrowConn(id string) {
	keep := a.frames.selectedRow()
	a.conn = id
	a.lastMsg = ""
	a.runQuery(keep)
	a.app.SetFocus(a.frames.table)
}

// nextFinding selects the next (previous) frame with a finding in the view.
func (a *App) nextFinding(back bool) {
	var rows []int
	if a.view != nil {
		rows = a.view
	}
	from := a.frames.selected()
	if from < 0 {
		from = -1
		if back {
			from = 0
		}
	}
	k := a.m.NextFinding(rows, from, back)
	if k < 0 || k >= a.viewLen() {
		a.setStatus("[yellow]no frame with a finding[-]")
		return
	}
	a.frames.selectPos(k)
	a.app.SetFocus(a.frames.table)
	row := a.rowAt(k)
	fs := a.m.FindingsAt(row)
	msg := ""
	if len(fs) > 0 {
		f := fs[0]
		msg = fmt.Sprintf("[red]%s[-] %s: %s", f.Rule, f.Severity, esc(f.Message))
		if len(fs) > 1 {
			msg += fmt.Sprintf(" (+%d more)", len(fs)-1)
		}
	}
	a.setStatus(msg)
}

// jumpPartner selects the selected frame's partner.
func (a *App) jumpPartner() {
	i := a.frames.selectedRow()
	if i < 0 {
		return
	}
	j, what := a.m.Partner(i)
	if j < 0 {
		a.setStatus(fmt.Sprintf("[yellow]m: this frame (line %d) has no request, reply, ack or related frame[-]", a.m.Row(i).Line))
		return
	}
	r := a.m.Row(j)
	msg := fmt.Sprintf("m: %s, line %d (%s)", what, r.Line, a.m.Type(&r))
	if p := a.position(j); p >= 0 {
		a.frames.selectPos(p)
		a.setStatus(msg)
		return
	}
	// Hidden by the filter: clear it to show the partner.
	a.filter, a.conn = nil, ""
	a.lastMsg = msg + " [yellow](filter cleared to show it)[-]"
	a.runQuery(j)
}

func (a *App) toggleFollow() {
	a.follow = !a.follow
	if a.follow && a.viewLen() > 0 {
		a.frames.selectPos(a.viewLen() - 1)
	}
	a.setStatus("")
}

func (a *App) toggleConns() {
	a.autoConn = false
	a.layoutTop(!a.showConn)
	a.app.SetFocus(a.frames.table)
}

func (a *App) cyclePane(d int) {
	cur := a.app.GetFocus()
	k := 0
	for i, p := range a.panes {
		if p == cur {
			k = i
		}
	}
	k = (k + d + len(a.panes)) % len(a.panes)
	a.app.SetFocus(a.panes[k])
}

func (a *App) enter() {
	switch a.app.GetFocus() {
	case a.conns.table:
		a.conns.choose()
	case a.finds.table:
		a.finds.choose()
	default:
		if i := a.frames.selectedRow(); i >= 0 {
			a.showOverlay(pageDetail, "frame "+a.detail.title(i), a.detail.render(i, 1<<20))
		}
	}
}

func (a *App) topBottom(bottom bool) {
	switch a.app.GetFocus() {
	case a.conns.table:
		a.conns.topBottom(bottom)
	case a.finds.table:
		a.finds.topBottom(bottom)
	case a.detail.view:
		if bottom {
			a.detail.view.ScrollToEnd()
		} else {
			a.detail.view.ScrollToBeginning()
		}
	default:
		if a.viewLen() > 0 {
			if bottom {
				a.frames.selectPos(a.viewLen() - 1)
			} else {
				a.frames.selectPos(0)
			}
		}
	}
}

// toggleOverlay shows an overlay (or closes it when it is showing).
func (a *App) toggleOverlay(name string) {
	if a.overlayName == name {
		a.closeOverlay()
		return
	}
	switch name {
	case pageHelp:
		a.showOverlay(name, "help", helpText(a.keys))
	case pageStats:
		a.showOverlay(name, "stats", statsText(a.m.Stats()))
	case pageTurn:
		i := a.frames.selectedRow()
		t, ok := a.m.TurnAt(max(i, 0))
		if !ok {
			a.setStatus("[yellow]t: no turn in this trace (a turn starts with a client input carrying a message)[-]")
			return
		}
		_, _, w, _ := a.pages.GetInnerRect()
		a.showOverlay(name, fmt.Sprintf("turn at line %d", a.m.Row(t.Start).Line), turnText(t, w-8))
	}
}

func (a *App) showOverlay(name, title, text string) {
	if a.overlayName != "" {
		a.pages.RemovePage(a.overlayName)
	}
	a.overlay.SetTitle(" " + title + " (Escape closes) ")
	a.overlay.SetText(text).ScrollToBeginning()
	grid := tview.NewFlex().
		AddItem(nil, 2, 0, false).
		AddItem(tview.NewFlex().SetDirection(tview.FlexRow).
			AddItem(nil, 1, 0, false).AddItem(a.overlay, 0, 1, true).AddItem(nil, 1, 0, false), 0, 1, true).
		AddItem(nil, 2, 0, false)
	a.pages.AddPage(name, grid, true, true)
	a.overlayName = name
	a.app.SetFocus(a.overlay)
}

func (a *App) closeOverlay() {
	if a.overlayName == "" {
		return
	}
	a.pages.RemovePage(a.overlayName)
	a.overlayName = ""
	a.app.SetFocus(a.frames.table)
}

// SetFilter applies a filter as if typed after `/` (before Run, or on
// the event loop).
func (a *App) SetFilter(s string) error {
	f, err := filter.Parse(s)
	if err != nil {
		return err
	}
	a.filter = f
	a.runQuery(-1)
	return nil
}

// Warn shows a warning line (safe from any goroutine: it goes to the
// model, and the next refresh shows it).
func (a *App) Warn(s string) { a.m.Warn(s) }
