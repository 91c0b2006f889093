package inspector

import (
	"fmt"
	"strings"

	"github.com/gdamore/tcell/v2"

	"github.com/lettadev/wsproxy/filter"
)

// binding is one row of the key table: the one table that drives both
// dispatch and the `?` help.
type binding struct {
	key  tcell.Key // tcell.KeyRune for a character key
	ch   rune
	name string // as the help shows it
	help string
	run  func(a *App)
}

// keyTable returns the inspector's keys, in the order the help lists them.
func keyTable() []binding {
	return []binding{
		{tcell.KeyRune, '/', "/", "filter: free text and terms (see below); Enter applies, the match count is shown; an empty filter restores every row", (*App).startFilter},
		{tcell.KeyRune, 'n', "n", "next frame with a finding (shows its rule id)", func(a *App) { a.nextFinding(false) }},
		{tcell.KeyRune, 'N', "N", "previous frame with a finding", func(a *App) { a.nextFinding(true) }},
		{tcell.KeyRune, 'm', "m", "jump between a request and its reply, a seq and its ack, a control_request and its approval, a finding and its related frame (again: back)", (*App).jumpPartner},
		{tcell.KeyRune, 'f', "f", "follow: keep the last frame selected as frames arrive (live tail)", (*App).toggleFollow},
		{tcell.KeyTab, 0, "Tab", "next pane (connections, frames, detail, findings); Shift-Tab previous", func(a *App) { a.cyclePane(1) }},
		{tcell.KeyBacktab, 0, "Shift-Tab", "previous pane", func(a *App) { a.cyclePane(-1) }},
		{tcell.KeyEnter, 0, "Enter", "open: the frame in full, the finding's frame, the connection's frames only", (*App).enter},
		{tcell.KeyEscape, 0, "Escape", "close an overlay, or clear the filter and the connection choice", (*App).escape},
		{tcell.KeyRune, 'g', "g", "top of the focused list", func(a *App) { a.topBottom(false) }},
		{tcell.KeyRune, 'G', "G", "bottom of the focused list", func(a *App) { a.topBottom(true) }},
		{tcell.KeyRune, 's', "s", "stats: counts and bytes per type and direction, request→reply latency p50/p99, histogram", func(a *App) { a.toggleOverlay(pageStats) }},
		{tcell.KeyRune, 't', "t", "turn view of the selected frame's turn: loop statuses over time, approval waits, the assistant's text", func(a *App) { a.toggleOverlay(pageTurn) }},
		{tcell.KeyRune, 'c', "c", "show or hide the connections pane", (*App).toggleConns},
		{tcell.KeyRune, '?', "?", "this help", func(a *App) { a.toggleOverlay(pageHelp) }},
		{tcell.KeyRune, 'q', "q", "quit", (*App).quit},
	}
}

// lookup returns the binding for ev, nil when there is none.
func lookup(table []binding, ev *tcell.EventKey) *binding {
	for i := range table {
		b := &table[i]
		if ev.Key() != b.key {
			continue
		}
		if b.key != tcell.KeyRune || ev.Rune() == b.ch {
			return b
		}
	}
	return nil
}

// helpText renders the key table and the filter terms.
func helpText(table []binding) string {
	var b strings.Builder
	b.WriteString("[::b]Keys[::-]\n\n")
	for _, k := range table {
		fmt.Fprintf(&b, "  [yellow]%-10s[-] %s\n", k.name, k.help)
	}
	b.WriteString("  [yellow]↑ ↓ PgUp PgDn Home End[-] move in the focused pane; the mouse selects and scrolls\n")
	b.WriteString("\n[::b]Filter terms[::-] (combined with spaces: all must match; -term negates; quote text with spaces)\n\n")
	for _, k := range filter.Keys() {
		fmt.Fprintf(&b, "  [yellow]%-10s[-] %s\n", k.Name+":", k.Help)
	}
	b.WriteString("  [yellow]text[-]       a substring of the payload (case-insensitive when all lower case)\n")
	b.WriteString("\nExample: [green]/type:stream_delta from:server -rule:*[-]   Escape closes this help.\n")
	return b.String()
}
