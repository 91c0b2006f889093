package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
)

// Server serves a trace's recorded sessions to WebSocket clients as if it
// were the real status WebSocket. It is an http.Handler; its goroutines
// stop on Close.
type Server struct {
	opts     Options
	path     string
	index    *Index
	sel      []*SessionInfo
	upgrader websocket.Upgrader

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	next    int     // next session of sel to serve
	served  int     // sessions started
	cur     *engine // the session taking new sockets
	logs    []*sessionLog
	active  int
	changed chan struct{} // closed and replaced when a session ends
	done    chan struct{}
	isDone  bool
	closed  bool
	conns   map[*websocket.Conn]struct{}
}

// NewServer indexes the trace at path and returns a server for its
// selected sessions. It fails on an unreadable file, a file that is not a
// trace, a trace without WebSocket connections, and a selection that
// matches nothing.
func NewServer(path string, opts Options) (*Server, error) {
	return NewServerFiles([]string{path}, opts)
}

// NewServerFiles is NewServer for a trace in several files (rotated
// parts, or a directory of them): a session that spans parts is served
// whole. See ReadIndex.
func NewServerFiles(paths []string, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	x, err := ReadIndex(paths...)
	if err != nil {
		return nil, err
	}
	for _, w := range x.Warnings {
		opts.logf("replay: warning: %s", w)
	}
	sel, err := x.Select(opts.Session, opts.Conn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, path: x.Path, index: x, sel: sel, ctx: ctx, cancel: cancel,
		changed: make(chan struct{}), done: make(chan struct{}), conns: map[*websocket.Conn]struct{}{},
		upgrader: websocket.Upgrader{
			ReadBufferSize: 16 << 10,
			// A replay is a local test tool: any origin may connect.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	return s, nil
}

// Index returns the trace's index.
func (s *Server) Index() *Index { return s.index }

// Sessions returns the sessions the server serves, in order.
func (s *Server) Sessions() []*SessionInfo { return s.sel }

// ServeHTTP answers status WebSocket upgrades (/v1/environments/{id}/status/ws
// and /ws), GET /v1/environments, and other GETs the trace recorded.
// Authorization headers and token parameters are ignored.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	_, isStatus := protocol.ConnectionIDFromPath(path)
	if isStatus || path == "/ws" {
		s.serveWS(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "replay: only GET and WebSocket upgrades are served", http.StatusMethodNotAllowed)
		return
	}
	for _, a := range s.index.HTTP {
		if a.Path == path {
			if a.ContentType != "" {
				w.Header().Set("Content-Type", a.ContentType)
			}
			w.WriteHeader(a.Status)
			w.Write(a.Body)
			return
		}
	}
	if path == "/v1/environments" || path == "/v1/environments/" {
		s.serveEnvironments(w)
		return
	}
	http.Error(w, "replay: "+path+" is not in the recording", http.StatusNotFound)
}

// environment is one entry of GET /v1/environments.
type environment struct {
	ID             string         `json:"id"`
	ConnectionID   string         `json:"connectionId"`
	DeviceID       string         `json:"deviceId"`
	ConnectionName string         `json:"connectionName"`
	OrganizationID string         `json:"organizationId"`
	ConnectedAt    int64          `json:"connectedAt"`
	LastHeartbeat  int64          `json:"lastHeartbeat"`
	LastSeenAt     int64          `json:"lastSeenAt"`
	FirstSeenAt    int64          `json:"firstSeenAt"`
	CurrentMode    string         `json:"currentMode"`
	Metadata       map[string]any `json:"metadata"`
}

// serveEnvironments synthesizes the environments list from the served
// sessions' connection ids.
func (s *Server) serveEnvironments(w http.ResponseWriter) {
	list := []environment{}
	seen := map[string]bool{}
	for _, info := range s.sel {
		id := info.Key.ConnectionID
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		ms := info.Start.UnixMilli()
		list = append(list, environment{
			ID: "env-" + id, ConnectionID: id, DeviceID: "replay-device", ConnectionName: "replay of " + id,
			OrganizationID: "org-replay", ConnectedAt: ms, LastHeartbeat: info.End.UnixMilli(), LastSeenAt: ms,
			FirstSeenAt: ms, CurrentMode: "standard", Metadata: map[string]any{},
		})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"connections": list, "hasNextPage": false})
}

// httpError is a refused WebSocket with its HTTP status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	live := protocol.SessionFromURL(r.URL.RequestURI())
	e, idx, err := s.claim(live.Channel)
	if err != nil {
		s.opts.logf("replay: refused a %s socket: %v", live.Channel, err)
		status := http.StatusServiceUnavailable
		if he, ok := err.(*httpError); ok {
			status = he.status
		}
		http.Error(w, "replay: "+err.Error(), status)
		return
	}
	defer s.wg.Done()
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		e.unclaim(idx)
		return
	}
	defer ws.Close()
	if !s.track(ws) {
		// The server is closing.
		e.unclaim(idx)
		ws.WriteControl(websocket.CloseMessage, closePayload(websocket.CloseGoingAway, "replay: shutting down"), deadline(s.opts.Timeout))
		drain(ws)
		return
	}
	defer s.untrack(ws)
	// Pings and closes go to the session, which alone writes on the socket.
	ws.SetPingHandler(func(data string) error {
		e.post(event{kind: evPing, sock: idx, payload: []byte(data)})
		return nil
	})
	ws.SetCloseHandler(func(int, string) error { return nil })
	if !e.post(event{kind: evConnect, sock: idx, out: newFrameWriter(ws.NetConn(), s.opts.Timeout)}) {
		code := websocket.CloseTryAgainLater
		if s.ctx.Err() != nil {
			code = websocket.CloseGoingAway
		}
		ws.WriteControl(websocket.CloseMessage, closePayload(code, "replay: session over"), deadline(s.opts.Timeout))
		drain(ws)
		return
	}
	readLoop(ws, idx, e)
}

// claim finds the session a new socket on channel belongs to, starting
// the next one when the current session has no free socket for it. On
// success the caller owns one count of s.wg.
func (s *Server) claim(channel string) (*engine, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, -1, &httpError{http.StatusServiceUnavailable, "server closed"}
	}
	if e := s.cur; e != nil {
		if i := e.claim(channel); i >= 0 {
			s.wg.Add(1)
			return e, i, nil
		}
	}
	if s.opts.MaxSessions > 0 && s.served >= s.opts.MaxSessions {
		return nil, -1, &httpError{http.StatusGone, fmt.Sprintf("served %d sessions, the limit", s.served)}
	}
	if s.next >= len(s.sel) {
		if !s.opts.Repeat {
			return nil, -1, &httpError{http.StatusGone, fmt.Sprintf("all %d recorded sessions have been served", len(s.sel))}
		}
		s.next = 0
	}
	info := s.sel[s.next]
	if slotFor(info, channel, func(int) bool { return false }) < 0 {
		var chans []string
		for _, c := range info.Conns {
			chans = append(chans, c.Channel)
		}
		return nil, -1, &httpError{http.StatusConflict, fmt.Sprintf("recorded session %d (%s) has %s sockets, none for channel %q",
			info.Number, info.Name(), strings.Join(chans, "+"), channel)}
	}
	s.next++
	s.served++
	e := newEngine(s.ctx, roleServe, s.index, info, &s.opts)
	i := e.claim(channel)
	s.cur = e
	s.logs = append(s.logs, e.log)
	s.active++
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		e.run()
		s.sessionDone(e)
	}()
	s.opts.logf("replay: serving session %d (%s, trace lines %d-%d)", info.Number, info.Name(), info.FirstLine, info.LastLine)
	return e, i, nil
}

func (s *Server) sessionDone(e *engine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.cur == e {
		s.cur = nil
	}
	close(s.changed)
	s.changed = make(chan struct{})
	if s.active == 0 && s.noMore() && !s.isDone {
		s.isDone = true
		close(s.done)
	}
}

// noMore reports that no further session will be served.
func (s *Server) noMore() bool {
	if s.opts.MaxSessions > 0 && s.served >= s.opts.MaxSessions {
		return true
	}
	return !s.opts.Repeat && s.next >= len(s.sel)
}

func (s *Server) track(ws *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[ws] = struct{}{}
	return true
}

func (s *Server) untrack(ws *websocket.Conn) {
	s.mu.Lock()
	delete(s.conns, ws)
	s.mu.Unlock()
}

// Done is closed once no further session will be served (every selected
// session served without Repeat, or MaxSessions reached) and all have
// finished.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait blocks until every session started so far has finished, or ctx
// ends.
func (s *Server) Wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.active == 0 {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Report returns a snapshot of the replay's report: sessions still
// running report what happened so far.
func (s *Server) Report() *Report {
	s.mu.Lock()
	logs := append([]*sessionLog(nil), s.logs...)
	var notServed []int
	if !s.opts.Repeat && s.served < len(s.sel) {
		for _, info := range s.sel[s.next:] {
			notServed = append(notServed, info.Number)
		}
	}
	s.mu.Unlock()
	return buildReport(s.path, s.opts.Mode.String(), "", logs, notServed)
}

// Close stops every session, closes the live sockets and waits for the
// server's goroutines. It does not close listeners the handler is
// mounted on.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	// Sessions close their sockets (1001) as they stop; whatever is left
	// after a grace period is cut.
	s.cancel()
	all := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(all)
	}()
	select {
	case <-all:
		return nil
	case <-time.After(2 * closeGrace):
	}
	s.mu.Lock()
	for ws := range s.conns {
		ws.NetConn().Close()
	}
	s.mu.Unlock()
	<-all
	return nil
}
