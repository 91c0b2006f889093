package inspector

import (
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/hub"
	"github.com/lettadev/wsproxy/inspector/model"
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Title names what is watched (e.g. the listen address and upstream).
	Title string
	// Check configures the inspector's own checker.
	Check analysis.Config
	// Screen is where to draw (nil: the terminal).
	Screen tcell.Screen
	// QueueBytes bounds the viewer's queue on the hub (default
	// hub.DefaultQueueBytes); what does not fit is skipped, never waited for.
	QueueBytes int64
	// Ticks drive refreshes (nil: every RefreshEvery).
	Ticks <-chan time.Time
	// AfterDraw is called after every draw (tests).
	AfterDraw func(tcell.Screen)
	// Ready, if set, is called with the App once it is built, before it
	// runs (tests and callers that want to stop it from elsewhere).
	Ready func(*App)
}

// Watch shows the records flowing through h live until the user quits:
// it subscribes a Live sink as a viewer with policy Skip, so it never
// slows the relay or the recorder, and reads what it skipped back from
// the trace file tracePath returns. The subscription ends when Watch
// returns.
func Watch(h *hub.Hub, tracePath func() string, o WatchOptions) error {
	live := NewLive(tracePath)
	defer live.Close()
	m := model.New(o.Check)
	sub := h.Subscribe(live, hub.SubOptions{Name: "inspector", Policy: hub.Skip, QueueBytes: o.QueueBytes})
	defer sub.Close()
	a := New(m, Options{Title: o.Title, Screen: o.Screen, Ticks: o.Ticks, AfterDraw: o.AfterDraw, Live: live})
	a.follow = true
	if o.Ready != nil {
		o.Ready(a)
	}
	return a.Run()
}
