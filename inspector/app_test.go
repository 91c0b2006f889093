package inspector

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/filter"
	"github.com/lettadev/wsproxy/inspector/model"
)

// harness runs an App on a simulation screen. Every draw hands the
// screen's text to the test, which waits on draws (never on the clock,
// except a generous guard against hangs).
type harness struct {
	t     *testing.T
	s     tcell.SimulationScreen
	a     *App
	snaps chan string
	last  string
	ticks chan time.Time
	done  chan error
}

const hangGuard = 30 * time.Second

func start(t *testing.T, m *model.Model, w, h int, live *Live) *harness {
	t.Helper()
	s := tcell.NewSimulationScreen("UTF-8")
	hs := &harness{t: t, s: s, snaps: make(chan string, 1), ticks: make(chan time.Time), done: make(chan error, 1)}
	hs.a = New(m, Options{Title: "test", Screen: s, Ticks: hs.ticks, Live: live, AfterDraw: hs.snapshot})
	s.SetSize(w, h) // after New: SetScreen initialises the screen (80x25)
	go func() { hs.done <- hs.a.Run() }()
	t.Cleanup(func() {
		hs.a.Stop()
		<-hs.done
	})
	return hs
}

// snapshot runs on the event loop after a draw: it reads the back buffer.
func (h *harness) snapshot(s tcell.Screen) {
	w, ht := s.Size()
	var b strings.Builder
	for y := 0; y < ht; y++ {
		for x := 0; x < w; x++ {
			r, _, _, _ := s.GetContent(x, y)
			if r == 0 {
				r = ' '
			}
			b.WriteRune(r)
		}
		b.WriteByte('\n')
	}
	select {
	case <-h.snaps:
	default:
	}
	h.snaps <- b.String()
}

// waitFor waits for a draw after which pred holds, and returns that screen.
func (h *harness) waitFor(what string, pred func(screen string) bool) string {
	h.t.Helper()
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	for {
		if h.last != "" && pred(h.last) {
			return h.last
		}
		select {
		case h.last = <-h.snaps:
		case <-guard.C:
			h.t.Fatalf("never saw %s; last screen:\n%s", what, h.last)
		}
	}
}

func (h *harness) contains(s string) string {
	h.t.Helper()
	return h.waitFor(fmt.Sprintf("%q", s), func(scr string) bool { return strings.Contains(scr, s) })
}

// status waits for a draw whose status line (the last) starts with s.
func (h *harness) status(s string) string {
	h.t.Helper()
	return h.waitFor("status "+strconv.Quote(s), func(scr string) bool { return strings.HasPrefix(statusLine(scr), s) })
}

func statusLine(scr string) string {
	lines := strings.Split(strings.TrimRight(scr, "\n"), "\n")
	return lines[len(lines)-1]
}

func (h *harness) key(k tcell.Key) { h.s.InjectKey(k, 0, tcell.ModNone) }

func (h *harness) typeText(s string) {
	for _, r := range s {
		h.s.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
}

// tick refreshes the App once (as its ticker would).
func (h *harness) tick() {
	select {
	case h.ticks <- time.Now():
	case <-h.done:
		h.t.Fatal("app ended")
	}
}

func loaded(t *testing.T, path string) *model.Model {
	t.Helper()
	m, err := model.LoadAll([]string{path}, analysis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var sampleTrace = filepath.Join("..", "traces", "sim-turn-approval.jsonl.zst")
var faultsTrace = filepath.Join("..", "analysis", "testdata", "faults.jsonl")

// frameLines returns the frame table's data lines of a screen.
func frameLines(scr string) []string {
	var out []string
	for _, l := range strings.Split(scr, "\n") {
		if strings.Contains(l, " "+markClient+" ") || strings.Contains(l, " "+markServer+" ") {
			out = append(out, l)
		}
	}
	return out
}

func TestRowsShowTypesAndDirections(t *testing.T) {
	m := loaded(t, sampleTrace)
	h := start(t, m, 160, 45, nil)
	scr := h.contains("sync_response")
	var client, server bool
	for _, l := range frameLines(scr) {
		if strings.Contains(l, markClient+" c1   sync ") {
			client = true
		}
		if strings.Contains(l, markServer+" c1   sync_response") {
			server = true
		}
	}
	if !client || !server {
		t.Fatalf("sync (→) and sync_response (←) rows not shown:\n%s", scr)
	}
	// The detail pane shows the selected (first) record, and the
	// connections pane the session and its two sockets.
	for _, want := range []string{"GET /v1/environments?onlineOnly=true", "conn-sim-1 agent-remote-1/default", "c2   stream"} {
		if !strings.Contains(scr, want) {
			t.Errorf("screen lacks %q:\n%s", want, scr)
		}
	}
}

func TestFilterNarrowsAndClears(t *testing.T) {
	m := loaded(t, sampleTrace)
	want := len(m.Match(model.Query{Filter: filter.MustParse("type:stream_delta")}, 0))
	h := start(t, m, 160, 45, nil)
	h.status(fmt.Sprintf("all %d rows", m.Len()))
	h.typeText("/type:stream_delta")
	h.key(tcell.KeyEnter)
	scr := h.status(fmt.Sprintf("%d of %d match", want, m.Len()))
	rows := frameLines(scr)
	if len(rows) == 0 {
		t.Fatalf("no rows:\n%s", scr)
	}
	for _, l := range rows {
		if !strings.Contains(l, "stream_delta") {
			t.Fatalf("row %q is not a stream_delta", l)
		}
	}
	// A bad filter says what is wrong and keeps the prompt.
	h.typeText("/")
	h.key(tcell.KeyCtrlU)
	h.typeText("seq:x")
	h.key(tcell.KeyEnter)
	h.contains(`term 1 "seq:x" at offset 0`)
	h.key(tcell.KeyEscape)
	// Escape clears the filter: every row is back.
	h.key(tcell.KeyEscape)
	scr = h.status(fmt.Sprintf("all %d rows", m.Len()))
	if !strings.Contains(scr, "filter cleared") || !strings.Contains(scr, "sync_response") {
		t.Fatalf("filter not cleared:\n%s", scr)
	}
}

func TestNextFindingShowsRule(t *testing.T) {
	m := loaded(t, faultsTrace)
	fs := m.Findings()
	if len(fs) == 0 {
		t.Fatal("the faults trace has no findings")
	}
	first := m.NextFinding(nil, -1, false)
	rules := m.FindingsAt(first)
	h := start(t, m, 160, 45, nil)
	h.contains("findings (")
	h.typeText("n")
	scr := h.contains(rules[0].Rule + " " + rules[0].Severity.String() + ":")
	if !strings.Contains(scr, fmt.Sprintf("%d:", m.Row(first).Line)) {
		t.Errorf("detail pane does not show line %d:\n%s", m.Row(first).Line, scr)
	}
	// N goes back (wrapping to the last finding).
	last := m.NextFinding(nil, first, true)
	h.typeText("N")
	h.contains(m.FindingsAt(last)[0].Rule + " " + m.FindingsAt(last)[0].Severity.String() + ":")
}

func TestPartnerJumpsAndBack(t *testing.T) {
	m := loaded(t, sampleTrace)
	h := start(t, m, 160, 45, nil)
	h.contains("sync_response")
	h.typeText("/type:sync")
	h.key(tcell.KeyEnter)
	h.status("1 of ")
	h.typeText("m")
	scr := h.contains("m: reply")
	if !strings.Contains(scr, "filter cleared to show it") {
		t.Fatalf("the reply was hidden by the filter; want it cleared:\n%s", scr)
	}
	h.contains(`"type": "sync_response"`)
	h.typeText("m")
	h.contains("m: request")
	h.contains(`"recover_approvals": true`)
}

func TestOverlaysAndQuit(t *testing.T) {
	m := loaded(t, sampleTrace)
	h := start(t, m, 160, 45, nil)
	h.contains("sync_response")
	h.typeText("?")
	scr := h.contains("Filter terms")
	for _, b := range keyTable() {
		if !strings.Contains(scr, b.help[:min(len(b.help), 20)]) {
			t.Errorf("help lacks key %s", b.name)
		}
	}
	h.key(tcell.KeyEscape)
	h.waitFor("help closed", func(s string) bool { return !strings.Contains(s, "Filter terms") })
	h.typeText("s")
	h.contains("latency histogram")
	h.typeText("s")
	h.waitFor("stats closed", func(s string) bool { return !strings.Contains(s, "latency histogram") })
	// The turn of the control_request: its approval wait and text.
	h.typeText("/type:control_request")
	h.key(tcell.KeyEnter)
	h.status("2 of ")
	h.typeText("t")
	scr = h.contains("assistant text, as the user saw it")
	for _, want := range []string{"please run ls -la", `Bash "ls -la": answered`, "I need to run a command for that."} {
		if !strings.Contains(scr, want) {
			t.Errorf("turn view lacks %q:\n%s", want, scr)
		}
	}
	h.key(tcell.KeyEscape)
	h.typeText("q")
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatal(err)
		}
		h.done <- nil
	case <-time.After(hangGuard):
		t.Fatal("q did not end the app")
	}
}

func TestTooSmall(t *testing.T) {
	m := loaded(t, sampleTrace)
	h := start(t, m, 50, 12, nil)
	h.contains("terminal too small: 50x12")
	h.s.SetSize(160, 45)
	h.s.PostEvent(tcell.NewEventResize(160, 45))
	h.contains("sync_response")
}

func mustFilter(t *testing.T, s string) *filter.Filter {
	t.Helper()
	f, err := filter.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Rows that arrive while the UI is up (loading in the background) show
// from the top, with the first selected and its detail shown.
func TestRowsArriveWhileLoading(t *testing.T) {
	fs, err := model.Open([]string{sampleTrace})
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(analysis.Config{})
	h := start(t, m, 160, 45, nil)
	h.status("all 0 rows")
	loaded := make(chan struct{})
	go func() { m.Load(fs, nil); close(loaded) }()
	<-loaded
	h.tick()
	scr := h.status(fmt.Sprintf("all %d rows", m.Len()))
	rows := frameLines(scr)
	if len(rows) == 0 || !strings.Contains(rows[0], " c1   sync ") {
		t.Fatalf("the table does not start at the top:\n%s", scr)
	}
	if !strings.Contains(scr, "sim-turn-approval.jsonl.zst:2 ") {
		t.Fatalf("the first record is not selected and shown:\n%s", scr)
	}
}

// A mouse click selects the row under it; the wheel scrolls.
func TestMouseSelectsAndScrolls(t *testing.T) {
	m := loaded(t, sampleTrace)
	h := start(t, m, 160, 45, nil)
	scr := h.contains("sync_response")
	lines := strings.Split(scr, "\n")
	y, x := -1, -1
	for i, l := range lines {
		if k := strings.Index(l, " c1   sync_response"); k >= 0 {
			y, x = i, len([]rune(l[:k]))
		}
	}
	if y < 0 {
		t.Fatalf("no sync_response row:\n%s", scr)
	}
	h.s.InjectMouse(x, y, tcell.Button1, tcell.ModNone)
	h.s.InjectMouse(x, y, tcell.ButtonNone, tcell.ModNone)
	h.contains(`"type": "sync_response"`)
	first := frameLines(h.last)[0]
	for k := 0; k < 5; k++ {
		h.s.InjectMouse(x, y, tcell.WheelDown, tcell.ModNone)
	}
	h.waitFor("the table scrolled", func(s string) bool { r := frameLines(s); return len(r) > 0 && r[0] != first })
}

// G and g go to the bottom and top, Enter opens the frame in full, Tab
// moves to the next pane, c hides the connections pane, f follows.
func TestKeysMoveAndOpen(t *testing.T) {
	m := loaded(t, sampleTrace)
	last := m.Row(m.Len() - 1)
	h := start(t, m, 160, 45, nil)
	h.contains("sync_response")
	h.typeText("G")
	h.contains(fmt.Sprintf("sim-turn-approval.jsonl.zst:%d ", last.Line))
	h.typeText("g")
	h.contains("sim-turn-approval.jsonl.zst:2 ")
	h.typeText("jG") // j is no key: nothing happens, G still works
	h.contains(fmt.Sprintf("sim-turn-approval.jsonl.zst:%d ", last.Line))
	h.key(tcell.KeyEnter)
	h.contains(fmt.Sprintf("frame line %d (Escape closes)", last.Line))
	h.key(tcell.KeyEscape)
	h.waitFor("overlay closed", func(s string) bool { return !strings.Contains(s, "Escape closes") })
	h.key(tcell.KeyTab) // frames → detail
	h.key(tcell.KeyTab) // → findings
	h.key(tcell.KeyTab) // → connections
	h.typeText("G")     // the last connection
	h.key(tcell.KeyEnter)
	scr := h.status(fmt.Sprintf("%d of %d match conn c2", len(m.Match(model.Query{Conn: "c2"}, 0)), m.Len()))
	for _, l := range frameLines(scr) {
		if !strings.Contains(l, " c2 ") {
			t.Fatalf("row %q is not on c2", l)
		}
	}
	h.typeText("c")
	h.waitFor("connections pane hidden", func(s string) bool { return !strings.Contains(s, "all connections") })
	h.key(tcell.KeyEscape)
	h.status(fmt.Sprintf("all %d rows", m.Len()))
	h.typeText("f")
	h.status(fmt.Sprintf("all %d rows follow", m.Len()))
	h.contains(fmt.Sprintf("sim-turn-approval.jsonl.zst:%d ", last.Line))
}

// Enter on a finding in the findings pane selects its frame and shows
// its rule.
func TestFindingSelectsItsFrame(t *testing.T) {
	m := loaded(t, faultsTrace)
	fs := m.Findings()
	var f model.Finding
	for _, x := range fs[1:] {
		if x.Row >= 0 {
			f = x
			break
		}
	}
	h := start(t, m, 160, 45, nil)
	h.contains("findings (")
	h.key(tcell.KeyTab) // frames → detail
	h.key(tcell.KeyTab) // → findings
	for k := 0; k < len(fs) && fs[k].Finding != f.Finding; k++ {
		h.key(tcell.KeyDown)
	}
	h.key(tcell.KeyEnter)
	scr := h.contains(f.Rule + ": " + f.Message[:20])
	if !strings.Contains(scr, fmt.Sprintf("faults.jsonl:%d ", f.Line)) {
		t.Fatalf("the finding's frame (line %d) is not shown:\n%s", f.Line, scr)
	}
}

// A cut trace opens with a warning line naming the cut.
func TestCutTraceWarns(t *testing.T) {
	b, err := os.ReadFile(faultsTrace)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.jsonl")
	if err := os.WriteFile(cut, b[:len(b)-40], 0o600); err != nil {
		t.Fatal(err)
	}
	m := loaded(t, cut)
	h := start(t, m, 160, 45, nil)
	scr := h.contains("warning: cut trace: " + cut + " line ")
	if !strings.Contains(scr, "last record is incomplete") {
		t.Fatalf("no cut warning:\n%s", scr)
	}
}
