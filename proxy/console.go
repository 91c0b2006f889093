package proxy

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// Console is a Sink that prints one line per connection opened and
// closed, per plain HTTP request, and per error, for a person watching the
// proxy run. It keeps a little state per open connection (its start and
// frame count) and is safe for concurrent use.
type Console struct {
	w     io.Writer
	mu    sync.Mutex
	conns map[string]*consoleConn
}

type consoleConn struct {
	start  time.Time
	url    string
	frames int
}

// NewConsole returns a Console printing to w.
func NewConsole(w io.Writer) *Console {
	return &Console{w: w, conns: map[string]*consoleConn{}}
}

// Write prints what a person needs to see of r.
func (c *Console) Write(r *trace.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := r.T.Local().Format("15:04:05.000")
	switch r.Kind {
	case trace.KindOpen:
		s := r.Open.Session
		c.conns[r.Conn] = &consoleConn{start: r.T, url: r.Open.URL}
		who := ""
		if s.ConnectionID != "" {
			who = fmt.Sprintf(" env=%s agent=%s conv=%s", s.ConnectionID, orDash(s.AgentID), orDash(s.ConversationID))
		}
		fmt.Fprintf(c.w, "%s %-4s open   %s channel=%s%s from %s\n", ts, r.Conn, pathOnly(r.Open.URL), s.Channel, who, r.Open.Client)
	case trace.KindFrame:
		if cc := c.conns[r.Conn]; cc != nil {
			cc.frames++
		}
	case trace.KindClose:
		extra := ""
		if cc := c.conns[r.Conn]; cc != nil {
			extra = fmt.Sprintf(" after %s, %d frames", r.T.Sub(cc.start).Round(time.Millisecond), cc.frames)
			delete(c.conns, r.Conn)
		}
		code := "no code"
		if r.Code != 0 {
			code = fmt.Sprint(r.Code)
		}
		reason := ""
		if r.Reason != "" {
			reason = fmt.Sprintf(" %q", r.Reason)
		}
		fmt.Fprintf(c.w, "%s %-4s close  by %s (%s%s)%s\n", ts, r.Conn, r.By, code, reason, extra)
	case trace.KindError:
		fmt.Fprintf(c.w, "%s %-4s ERROR  %s\n", ts, r.Conn, r.Message)
	case trace.KindFault:
		on := ""
		if r.Frame > 0 {
			on = fmt.Sprintf(" on n=%d", r.Frame)
		}
		fmt.Fprintf(c.w, "%s %-4s fault  %s from %s%s (%s): %s\n", ts, r.Conn, r.Action, orDash(string(r.From)), on, r.Rule, r.Message)
	case trace.KindHTTP:
		h := r.HTTP
		kind := "http  "
		if h.Upgrade {
			kind = "REFUSED"
		}
		fmt.Fprintf(c.w, "%s %-4s %s %s %s → %d (%s)\n", ts, r.Conn, kind, h.Method, h.URL, h.Status, h.Duration.Round(time.Microsecond))
	}
	return nil
}

func pathOnly(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Skipped says that the console fell behind and did not show records
// first to last (they are in the trace); it implements hub.Skipper. The
// frame counts of the connections concerned are then low.
func (c *Console) Skipped(first, last int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%s      (console fell behind: records %d-%d not shown here; they are in the trace)\n", time.Now().Local().Format("15:04:05.000"), first, last)
}
