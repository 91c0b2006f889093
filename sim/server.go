package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
)

// Dialect selects the reply names the simulated device uses.
type Dialect string

// Dialects.
const (
	// DialectV2 is the real device's protocol v2 (the default):
	// abort_message_response, sync_response, input_accepted, turn_finished.
	DialectV2 Dialect = "v2"
	// DialectReference is the published reference: cancel_ack, legacy
	// cwd_changed after change_device_state with a cwd, no sync_response,
	// no input_accepted, no turn_finished.
	DialectReference Dialect = "reference"
)

// ParseDialect accepts "v2", "reference" (or "ref"), and "" for v2.
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(s) {
	case "", "v2":
		return DialectV2, nil
	case "reference", "ref":
		return DialectReference, nil
	}
	return "", fmt.Errorf("sim: unknown dialect %q (want v2 or reference)", s)
}

// Environment is one online Letta Code environment the server lists.
type Environment struct {
	// ConnectionID names the environment in the status WebSocket path.
	ConnectionID string
	// Name is the connectionName shown in the environments list.
	Name string
	// DeviceID identifies the device across re-registrations.
	DeviceID string
	// WorkingDirectory is the device's initial cwd and the root of its
	// in-memory file tree (default /workspace/project).
	WorkingDirectory string
	// GitBranch is the initial git branch (default main).
	GitBranch string
}

// DefaultConnectionID is the connectionId of the default environment.
const DefaultConnectionID = "conn-sim-1"

// DefaultReadLimit is the largest frame a socket accepts by default.
const DefaultReadLimit = 16 << 20

// Server is the simulated environment: the environments endpoint, the
// relay (transport seq, acks, pongs) and the device behind it. Set the
// option fields before first use (Start or ServeHTTP) and do not change
// them afterwards. The zero value serves one environment, without auth,
// in the v2 dialect.
type Server struct {
	// Token is the bearer token clients must present (header or ?token=);
	// empty disables auth.
	Token string
	// Environments lists the environments; empty means one default
	// environment (DefaultConnectionID).
	Environments []Environment
	// Dialect picks reply names (default DialectV2).
	Dialect Dialect
	// Seed makes uuids, ids and fault choices reproducible.
	Seed int64
	// ReadLimit is the largest frame accepted (default 16 MiB); a bigger
	// one closes the socket with 1009.
	ReadLimit int64
	// DevicePingInterval makes the device send {"type":"ping"} on every
	// socket at this interval and drop a socket after three pings without
	// a pong (0 = off).
	DevicePingInterval time.Duration
	// Pace is a delay between the steps of a turn (0 = none: a turn runs
	// to its end, or to its approval, within the command that starts it).
	Pace time.Duration
	// AlwaysTool makes every turn ask for a tool approval; otherwise a
	// turn asks when its message contains "run " (the command is the text
	// after it).
	AlwaysTool bool
	// WriteTimeout bounds one frame write (default 10 s).
	WriteTimeout time.Duration
	// Inject configures fault injection; see Faults.
	Inject Faults
	// Logf, when set, receives one line per notable event.
	Logf func(format string, args ...any)

	initOnce sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	upgrader websocket.Upgrader

	// Lock order: mu, then an environment's mu, then a socket's mu; lmu
	// and fmu are leaves.
	mu       sync.Mutex
	envs     map[string]*environment // by current connectionId
	order    []*environment
	sockets  map[*socket]struct{}
	ordinals map[string]int // connectionId#channel → sockets accepted

	lmu    sync.Mutex // closed, and wg.Add after start
	closed bool

	fmu    sync.Mutex
	faults []Fault
	drops  int

	httpSrv *http.Server
	ln      net.Listener
	url     string
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.envs = map[string]*environment{}
		s.sockets = map[*socket]struct{}{}
		s.ordinals = map[string]int{}
		s.upgrader = websocket.Upgrader{
			EnableCompression: true,
			CheckOrigin:       func(*http.Request) bool { return true },
		}
		envs := s.Environments
		if len(envs) == 0 {
			envs = []Environment{{ConnectionID: DefaultConnectionID}}
		}
		for i, cfg := range envs {
			if cfg.ConnectionID == "" {
				cfg.ConnectionID = fmt.Sprintf("conn-sim-%d", i+1)
			}
			if cfg.Name == "" {
				cfg.Name = fmt.Sprintf("Simulated device %d", i+1)
			}
			if cfg.DeviceID == "" {
				cfg.DeviceID = fmt.Sprintf("device-sim-%d", i+1)
			}
			if cfg.WorkingDirectory == "" {
				cfg.WorkingDirectory = "/workspace/project"
			}
			if cfg.GitBranch == "" {
				cfg.GitBranch = "main"
			}
			e := newEnvironment(s, cfg, i)
			s.envs[cfg.ConnectionID] = e
			s.order = append(s.order, e)
		}
	})
}

func (s *Server) dialect() Dialect {
	if s.Dialect == "" {
		return DialectV2
	}
	return s.Dialect
}

func (s *Server) v2() bool { return s.dialect() == DialectV2 }

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return 10 * time.Second
}

// seedFor derives a per-environment seed.
func (s *Server) seedFor(name string, i int) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", s.Seed, name, i)
	return int64(h.Sum64() &^ (1 << 63))
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// Start listens on addr ("" = 127.0.0.1:0) and serves in the background.
// It returns the base URL, e.g. http://127.0.0.1:41234.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sim: listen on %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Serve serves on ln in the background (Close closes it) and returns the
// base URL, "http://" and ln's address. A listener of another kind than
// TCP (an in-memory one, in tests) works as well.
func (s *Server) Serve(ln net.Listener) (string, error) {
	s.init()
	s.mu.Lock()
	if s.httpSrv != nil || !s.goAdd() {
		s.mu.Unlock()
		ln.Close()
		return "", errors.New("sim: server already started or closed")
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	srv := s.httpSrv
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("sim: serve: %v", err)
		}
	}()
	return s.url, nil
}

// URL returns the base URL after Start ("" before).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// ConnectionID returns the current connectionId of the first environment.
func (s *Server) ConnectionID() string {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order[0].id
}

// ConnectionIDs returns the current connectionIds of all environments.
func (s *Server) ConnectionIDs() []string {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.order))
	for i, e := range s.order {
		out[i] = e.id
	}
	return out
}

// StatusURL returns the ws:// status URL of an environment for a runtime
// and channel ("" = one socket carrying everything). It needs Start.
func (s *Server) StatusURL(connectionID, agentID, conversationID, channel string) string {
	base := strings.Replace(s.URL(), "http://", "ws://", 1)
	q := url.Values{}
	if agentID != "" {
		q.Set("agentId", agentID)
	}
	if conversationID != "" {
		q.Set("conversationId", conversationID)
	}
	if channel != "" {
		q.Set("channel", channel)
	}
	u := base + protocol.StatusPathPrefix + url.PathEscape(connectionID) + protocol.StatusPathSuffix
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Reregister simulates the device re-registering: every socket of the
// environment is closed with 1008, the environment gets a new
// connectionId (returned) and its event counter restarts at 1; its state
// (files, cwd, turns) is kept.
func (s *Server) Reregister(connectionID string) (string, error) {
	s.init()
	s.mu.Lock()
	e := s.envs[connectionID]
	if e == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("sim: reregister: unknown connection %q", connectionID)
	}
	e.mu.Lock()
	e.generation++
	newID := fmt.Sprintf("%s-r%d", e.cfg.ConnectionID, e.generation)
	delete(s.envs, e.id)
	s.envs[newID] = e
	old := e.id
	e.id = newID
	e.eventSeq = 0
	socks := append([]*socket(nil), e.sockets...)
	e.mu.Unlock()
	s.mu.Unlock()
	s.logf("sim: environment %s re-registered as %s", old, newID)
	for _, k := range socks {
		k.closeWith(websocket.ClosePolicyViolation, "environment re-registered")
	}
	return newID, nil
}

// Close closes every socket (1001), stops the listener and waits for every
// goroutine the server started. It is safe to call more than once.
func (s *Server) Close() error {
	s.init()
	s.lmu.Lock()
	already := s.closed
	s.closed = true
	s.lmu.Unlock()
	if already {
		s.wg.Wait()
		return nil
	}
	s.mu.Lock()
	srv := s.httpSrv
	socks := make([]*socket, 0, len(s.sockets))
	for k := range s.sockets {
		socks = append(socks, k)
	}
	s.mu.Unlock()
	s.cancel()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	for _, k := range socks {
		k.closeWith(websocket.CloseGoingAway, "simulator shutting down")
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("sim: close: %w", err)
	}
	return nil
}

// ServeHTTP serves GET /v1/environments and the status WebSocket at
// /v1/environments/{connectionId}/status/ws.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	if r.URL.Path == "/v1/environments" || r.URL.Path == "/v1/environments/" {
		if !s.authorized(r) {
			httpError(w, http.StatusUnauthorized, "missing or invalid token")
			return
		}
		if r.Method != http.MethodGet {
			httpError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		s.serveEnvironments(w)
		return
	}
	id, ok := protocol.ConnectionIDFromPath(r.URL.Path)
	if !ok {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	if !s.authorized(r) {
		httpError(w, http.StatusUnauthorized, "missing or invalid token")
		return
	}
	s.mu.Lock()
	e := s.envs[id]
	s.mu.Unlock()
	if !s.goAdd() {
		httpError(w, http.StatusServiceUnavailable, "simulator closed")
		return
	}
	defer s.wg.Done()
	if e == nil {
		httpError(w, http.StatusNotFound, fmt.Sprintf("unknown connectionId %q", id))
		return
	}
	q := r.URL.Query()
	channel := q.Get("channel")
	switch channel {
	case "":
		channel = protocol.ChannelNameSingle
	case protocol.ChannelNameControl, protocol.ChannelNameStream:
	default:
		httpError(w, http.StatusBadRequest, fmt.Sprintf("unknown channel %q (want control or stream)", channel))
		return
	}
	s.serveSocket(w, r, e, channel, q.Get("agentId"), q.Get("conversationId"))
}

// goAdd counts one more goroutine of the server, unless it is closed.
func (s *Server) goAdd() bool {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) authorized(r *http.Request) bool {
	if s.Token == "" {
		return true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok && tok == s.Token {
			return true
		}
	}
	return r.URL.Query().Get("token") == s.Token
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": msg, "status": code})
}

func (s *Server) serveEnvironments(w http.ResponseWriter) {
	s.mu.Lock()
	now := time.Now().UnixMilli()
	list := make([]obj, 0, len(s.order))
	for i, e := range s.order {
		e.mu.Lock()
		list = append(list, o(
			"id", fmt.Sprintf("env-sim-%d", i+1),
			"connectionId", e.id,
			"deviceId", e.cfg.DeviceID,
			"connectionName", e.cfg.Name,
			"organizationId", "org-sim",
			"connectedAt", e.started.UnixMilli(),
			"lastHeartbeat", now,
			"lastSeenAt", now,
			"firstSeenAt", e.started.UnixMilli(),
			"currentMode", e.state.mode,
			"metadata", o("workingDirectory", e.state.cwd, "gitBranch", e.state.branch),
		))
		e.mu.Unlock()
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(o("connections", list, "hasNextPage", false))
}
