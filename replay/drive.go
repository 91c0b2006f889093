package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
)

// Drive plays the client side of the trace's selected sessions, one after
// the other, against the live server at target (ws://host:port, wss://,
// or http(s):// for the same), and compares the server's frames with the
// recorded ones by type and order, and by contents ignoring volatile
// fields unless Options.TypesOnly.
//
// Each recorded client frame is sent once the server frames recorded
// before it have come (or timed out). Recorded acks and pongs are not
// replayed: Drive acknowledges the live server's own seqs and answers its
// pings. Ids the live server chose (a control_request's request_id, a new
// agent's id) replace the recorded ones in later client frames, so an
// approval_response answers the live control_request.
//
// When target has no path, each socket dials the recorded path and query
// (without any token); a recorded connectionId the server does not list
// in GET /v1/environments is replaced by the first one it lists. A target
// with a path is dialled as given, with the recorded query parameters.
// The error is non-nil only when the replay could not start.
func Drive(ctx context.Context, target, path string, opts Options) (*Report, error) {
	return DriveFiles(ctx, target, []string{path}, opts)
}

// DriveFiles is Drive for a trace in several files (rotated parts, or a
// directory of them): see ReadIndex.
func DriveFiles(ctx context.Context, target string, paths []string, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	base, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
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
	d := &driver{ctx: ctx, base: base, opts: &opts, conns: map[string]string{}}
	var logs []*sessionLog
	var notDriven []int
	for _, info := range sel {
		if ctx.Err() != nil {
			notDriven = append(notDriven, info.Number)
			continue
		}
		opts.logf("replay: driving session %d (%s, trace lines %d-%d) against %s", info.Number, info.Name(), info.FirstLine, info.LastLine, safeURL(base.String()))
		e := newEngine(ctx, roleDrive, x, info, &opts)
		e.driver = d
		logs = append(logs, e.log)
		e.run()
	}
	return buildReport(x.Path, opts.Mode.String(), safeURL(base.String()), logs, notDriven), nil
}

// driver holds what Drive's sessions share.
type driver struct {
	ctx   context.Context
	base  *url.URL
	opts  *Options
	conns map[string]string // recorded connectionId → live one
}

func parseTarget(target string) (*url.URL, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("replay: bad target %q: %w", safeURL(target), err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("replay: target %q: want a ws://, wss://, http:// or https:// URL", safeURL(target))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("replay: target %q has no host", safeURL(target))
	}
	return u, nil
}

// safeURL drops query parameter values that may be secrets.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	q := u.Query()
	for k := range q {
		if k == "token" || k == "access_token" || k == "api_key" || k == "key" {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	u.User = nil
	return u.String()
}

// dialURL is the live URL standing for a recorded socket URL.
func (d *driver) dialURL(recorded string) string {
	rec, err := url.Parse(recorded)
	if err != nil {
		rec = &url.URL{}
	}
	u := *d.base
	q := rec.Query()
	q.Del("token")
	for k, v := range d.base.Query() {
		q[k] = v
	}
	if d.base.Path == "" || d.base.Path == "/" {
		u.Path = rec.Path
		if u.Path == "" {
			u.Path = "/ws"
		}
		if id, ok := protocol.ConnectionIDFromPath(rec.Path); ok {
			if live := d.liveConnID(id); live != id {
				u.Path = protocol.StatusPathPrefix + url.PathEscape(live) + protocol.StatusPathSuffix
			}
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// liveConnID maps a recorded connectionId to one the live server lists,
// asking GET /v1/environments once per recorded id.
func (d *driver) liveConnID(id string) string {
	if live, ok := d.conns[id]; ok {
		return live
	}
	d.conns[id] = id
	u := *d.base
	u.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
	u.Path, u.RawQuery = "/v1/environments", "onlineOnly=true"
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return id
	}
	for k, v := range d.opts.Header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return id
	}
	defer resp.Body.Close()
	var list struct {
		Connections []struct {
			ConnectionID string `json:"connectionId"`
		} `json:"connections"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil || len(list.Connections) == 0 {
		return id
	}
	for _, c := range list.Connections {
		if c.ConnectionID == id {
			return id
		}
	}
	live := list.Connections[0].ConnectionID
	d.opts.logf("replay: recorded connection %s is not online; using %s", id, live)
	d.conns[id] = live
	return live
}

// maxErrorBody bounds the part of a refused handshake's body kept.
const maxErrorBody = 512

// dial opens the live socket standing for s (Drive).
func (e *engine) dial(s *sock) {
	d := e.driver
	u := d.dialURL(s.info.URL)
	if live := d.conns[e.info.Key.ConnectionID]; live != "" && live != e.info.Key.ConnectionID {
		e.rewrite[e.info.Key.ConnectionID] = live
	}
	dialer := websocket.Dialer{HandshakeTimeout: e.opts.Timeout}
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
	ws, resp, err := dialer.DialContext(ctx, u, e.opts.Header)
	cancel()
	if err != nil {
		ce := ConnectError{Session: e.info.Number, Conn: s.info.Conn, Channel: s.info.Channel, URL: safeURL(u), Err: err.Error()}
		if resp != nil {
			ce.Status = resp.StatusCode
			if resp.Body != nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
				resp.Body.Close()
				ce.Body = string(b)
			}
		}
		s.state = sockAbsent
		e.log.update(func(r *SessionReport) { r.ConnectErrors = append(r.ConnectErrors, ce) })
		e.opts.logf("replay: %s", ce)
		e.dropUnseen(s)
		return
	}
	s.state, s.out = sockOpen, &wsSender{ws: ws, timeout: e.opts.Timeout}
	e.lastActive = time.Now()
	e.opts.logf("replay: session %d: dialled %s for %s", e.info.Number, safeURL(u), s.info.Conn)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		readLoop(ws, s.idx, e)
	}()
}
