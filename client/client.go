package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
)

// Defaults of the Client options.
const (
	DefaultAgentID        = "agent-remote-1"
	DefaultConversationID = "default"
	DefaultPingInterval   = 30 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultTurnTimeout    = 30 * time.Second
)

// ErrGaveUp is wrapped by Run's error when the client stops trying to
// (re)attach: auth refused, environment gone, or too many failures.
var ErrGaveUp = errors.New("client gave up")

// errDisconnected fails a wait when the session's socket was lost.
var errDisconnected = errors.New("session disconnected")

// Client is the reference remote client. Set the option fields, then call
// Run; a Client may run several scripts, one at a time or concurrently.
type Client struct {
	// Model is the protocol model the client speaks (default
	// protocol.DefaultModel): which commands get which replies, by which
	// id. Another protocol version is another model.
	Model *protocol.Model
	// URL is the environment base URL (http://host:port) or a full status
	// WebSocket URL (ws://host/v1/environments/{id}/status/ws?...).
	URL string
	// Token is sent as Authorization: Bearer, or as ?token= when
	// TokenInQuery is set.
	Token        string
	TokenInQuery bool
	// ConnectionID picks an environment from the list (default: the first,
	// or the one in a full status URL).
	ConnectionID string
	// AgentID and ConversationID name the runtime (defaults
	// DefaultAgentID, "default"; a full status URL's query wins).
	AgentID        string
	ConversationID string
	// Channels lists the sockets of a session: {"control", "stream"} by
	// default; {""} is one socket carrying everything.
	Channels []string
	// PingInterval is the heartbeat period (default 30 s); a ping is also
	// sent on every socket right after attaching.
	PingInterval time.Duration
	// RequestTimeout bounds the wait for one reply (default 10 s);
	// TurnTimeout the wait for a turn to go idle (default 30 s).
	RequestTimeout time.Duration
	TurnTimeout    time.Duration
	// GapGrace is how long an event_seq hole may stay open before it is a
	// gap, when no ping barrier can settle it (pings off); it is also the
	// silence waited for before closing without pings (default 250 ms).
	GapGrace time.Duration
	// Backoff is the second reconnect delay (the first retry is
	// immediate), doubled up to BackoffMax (defaults 1 s and 30 s);
	// MaxReconnects is the number of failed attempts before giving up
	// (default 5).
	Backoff       time.Duration
	BackoffMax    time.Duration
	MaxReconnects int
	// RequestIDPrefix prefixes generated request_ids and client message
	// ids (default: random per run).
	RequestIDPrefix string
	// Compression offers permessage-deflate.
	Compression bool
	// DefaultApproval answers control_requests that no turn step expects
	// ("deny" by default).
	DefaultApproval string
	// Inject configures the client's own faults.
	Inject Faults
	// KeepLog fills Report.Log.
	KeepLog bool
	// Logf, when set, receives one line per notable event.
	Logf func(format string, args ...any)
	// HTTPClient fetches the environments list (default: a private one
	// using TLS).
	HTTPClient *http.Client
	// TLS configures https:// and wss:// connections (default: the
	// system roots).
	TLS *tls.Config
	// NetDialContext, when set, opens the network connections of the
	// sockets and of the default HTTPClient instead of a net.Dialer (an
	// in-memory network in tests, a SOCKS dialer).
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *Client) pingInterval() time.Duration {
	if c.PingInterval > 0 {
		return c.PingInterval
	}
	return DefaultPingInterval
}

func (c *Client) requestTimeout() time.Duration {
	if c.RequestTimeout > 0 {
		return c.RequestTimeout
	}
	return DefaultRequestTimeout
}

// dialTimeout bounds the HTTP and WebSocket handshakes: at least 10 s,
// whatever RequestTimeout is.
func (c *Client) dialTimeout() time.Duration {
	return max(c.requestTimeout(), 10*time.Second)
}

func (c *Client) turnTimeout() time.Duration {
	if c.TurnTimeout > 0 {
		return c.TurnTimeout
	}
	return DefaultTurnTimeout
}

func (c *Client) model() *protocol.Model {
	if c.Model != nil {
		return c.Model
	}
	return protocol.DefaultModel
}

func (c *Client) gapGrace() time.Duration {
	if c.GapGrace > 0 {
		return c.GapGrace
	}
	return 250 * time.Millisecond
}

func (c *Client) channels() []string {
	if len(c.Channels) == 0 {
		return []string{protocol.ChannelNameControl, protocol.ChannelNameStream}
	}
	return c.Channels
}

func (c *Client) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Run attaches, runs the script (DefaultScript when nil), closes the
// session and returns the report. The error is non-nil when the run could
// not complete (no connection, gave up, context ended); assertion failures
// are in the report.
func (c *Client) Run(ctx context.Context, script *Script) (*Report, error) {
	if script == nil {
		script = DefaultScript()
	}
	if err := script.ValidateFor(c.model()); err != nil {
		return nil, err
	}
	r, err := newRun(ctx, c, script)
	if err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.loop()
	err = r.resolve(false)
	if err == nil {
		err = r.attach(false)
	}
	if err == nil {
		err = r.runScript()
	}
	r.finish(err == nil)
	r.cancel()
	r.closeAll()
	r.wg.Wait()
	for _, q := range r.pending { // every goroutine has ended: no race
		r.rep.PendingAtEnd++
		if q.info != nil && q.info.ReplyOptional {
			r.rep.OptionalPending++
		}
	}
	r.rep.Duration = time.Since(r.start)
	r.rep.Commands = sortedKeys(r.commandTypes)
	if err != nil {
		r.rep.failf("run did not complete: %v", err)
	}
	return r.rep, err
}

func randomPrefix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// target is where the run connects.
type target struct {
	wsBase   string // ws://host[:port]
	httpBase string // http://host[:port]
	connID   string
	deviceID string
	query    url.Values // agentId/conversationId from a full status URL
}

func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("client: URL: %w", err)
	}
	var t target
	switch u.Scheme {
	case "http", "ws":
		t.wsBase, t.httpBase = "ws://"+u.Host, "http://"+u.Host
	case "https", "wss":
		t.wsBase, t.httpBase = "wss://"+u.Host, "https://"+u.Host
	default:
		return target{}, fmt.Errorf("client: URL scheme %q (want http, https, ws or wss)", u.Scheme)
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("client: URL %q has no host", redact(raw))
	}
	if id, ok := protocol.ConnectionIDFromPath(u.Path); ok {
		t.connID = id
		t.query = u.Query()
	}
	return t, nil
}

// redact hides a token in a URL's query.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

type envEntry struct {
	ConnectionID   string `json:"connectionId"`
	DeviceID       string `json:"deviceId"`
	ConnectionName string `json:"connectionName"`
	Metadata       struct {
		WorkingDirectory string `json:"workingDirectory"`
	} `json:"metadata"`
}

// environments fetches GET /v1/environments?onlineOnly=true.
func (r *run) environments() ([]envEntry, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.c.dialTimeout())
	defer cancel()
	u := r.tgt.httpBase + "/v1/environments?onlineOnly=true"
	if r.c.TokenInQuery && r.c.Token != "" {
		u += "&token=" + url.QueryEscape(r.c.Token)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("client: environments request: %w", err)
	}
	req.Close = true
	if r.c.Token != "" && !r.c.TokenInQuery {
		req.Header.Set("Authorization", "Bearer "+r.c.Token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: GET /v1/environments: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("client: GET /v1/environments: %s%s: %w", resp.Status, bodyStart(resp.Body), ErrGaveUp)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client: GET /v1/environments: %s%s", resp.Status, bodyStart(resp.Body))
	}
	var body struct {
		Connections []envEntry `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("client: environments list: %w", err)
	}
	return body.Connections, nil
}

// resolve picks the connectionId: the configured one, the one of a full
// status URL, or from the environments list. After a re-registration
// (reregistered) it looks the device up again under its new id.
func (r *run) resolve(reregistered bool) error {
	want := r.c.ConnectionID
	if want == "" {
		want = r.tgt.connID
	}
	envs, err := r.environments()
	if err != nil {
		if errors.Is(err, ErrGaveUp) {
			return err
		}
		if want != "" && !reregistered {
			r.c.logf("client: environments list unavailable (%v); using %s", err, want)
			r.connID = want
			return nil
		}
		return err
	}
	var pick *envEntry
	for i := range envs {
		e := &envs[i]
		switch {
		case reregistered && r.tgt.deviceID != "" && e.DeviceID == r.tgt.deviceID:
			pick = e
		case !reregistered && want != "" && e.ConnectionID == want:
			pick = e
		}
		if pick != nil {
			break
		}
	}
	if pick == nil && want == "" && !reregistered && len(envs) > 0 {
		pick = &envs[0]
	}
	if pick == nil {
		if reregistered {
			return fmt.Errorf("client: device %q not listed after re-registration: %w", r.tgt.deviceID, ErrGaveUp)
		}
		if want != "" {
			return fmt.Errorf("client: environment %q not online: %w", want, ErrGaveUp)
		}
		return fmt.Errorf("client: no online environment: %w", ErrGaveUp)
	}
	if r.connID != "" && r.connID != pick.ConnectionID {
		r.c.logf("client: environment re-registered: %s -> %s", r.connID, pick.ConnectionID)
	}
	r.connID = pick.ConnectionID
	r.tgt.deviceID = pick.DeviceID
	if cwd := pick.Metadata.WorkingDirectory; cwd != "" {
		r.exec(func() { r.setCwd(cwd) })
	}
	return nil
}

// statusURL builds the status WebSocket URL of one channel.
func (r *run) statusURL(channel string) string {
	q := url.Values{}
	q.Set("agentId", r.agentID)
	q.Set("conversationId", r.convID)
	if channel != "" {
		q.Set("channel", channel)
	}
	if r.c.TokenInQuery && r.c.Token != "" {
		q.Set("token", r.c.Token)
	}
	return r.tgt.wsBase + protocol.StatusPathPrefix + url.PathEscape(r.connID) + protocol.StatusPathSuffix + "?" + q.Encode()
}

func (r *run) dialer() *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout:  r.c.dialTimeout(),
		EnableCompression: r.c.Compression,
		TLSClientConfig:   r.c.TLS,
		NetDialContext:    r.c.NetDialContext,
	}
}

func (r *run) header() http.Header {
	h := http.Header{}
	if r.c.Token != "" && !r.c.TokenInQuery {
		h.Set("Authorization", "Bearer "+r.c.Token)
	}
	return h
}

func newRun(ctx context.Context, c *Client, script *Script) (*run, error) {
	tgt, err := parseTarget(c.URL)
	if err != nil {
		return nil, err
	}
	prefix := c.RequestIDPrefix
	if prefix == "" {
		prefix = randomPrefix()
	}
	agent, conv := c.AgentID, c.ConversationID
	if v := tgt.query.Get("agentId"); v != "" && agent == "" {
		agent = v
	}
	if v := tgt.query.Get("conversationId"); v != "" && conv == "" {
		conv = v
	}
	if agent == "" {
		agent = DefaultAgentID
	}
	if conv == "" {
		conv = DefaultConversationID
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: c.TLS,
			DialContext: c.NetDialContext}}
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &run{
		c: c, ctx: rctx, cancel: cancel, script: script, tgt: tgt, http: hc,
		prefix: prefix, agentID: agent, convID: conv, start: time.Now(),
		rep:          &Report{Script: script.Name},
		in:           make(chan inbound, 64),
		calls:        make(chan func()),
		ordinals:     map[string]int{},
		pending:      map[string]*request{},
		used:         map[string]*request{},
		keys:         map[string]uint64{},
		hashSeed:     maphash.MakeSeed(),
		delivered:    map[string]bool{},
		written:      map[string]string{},
		commandTypes: map[string]bool{},
		live:         map[*csock]bool{},
		cwd:          "/workspace/project",
	}
	return r, nil
}

// run is one execution of a script.
type run struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	script *Script
	tgt    target
	http   *http.Client
	prefix string
	start  time.Time
	wg     sync.WaitGroup

	agentID, convID string
	connID          string

	in    chan inbound
	calls chan func()

	// rmu guards rep fields written by reader goroutines (acks, faults)
	// and live.
	rmu  sync.Mutex
	rep  *Report
	live map[*csock]bool

	// Owned by the loop goroutine.
	sess         *session
	attaches     int
	ordinals     map[string]int
	pending      map[string]*request // by request_id, awaiting a reply
	used         map[string]*request // every request_id sent
	waiters      []*waiter
	keys         map[string]uint64 // idempotency_key → protocol.ContentHash
	hashSeed     maphash.Seed
	delivered    map[string]bool // keys delivered to the application
	gaps         gapTracker
	status       string
	turn         *turnObs
	answered     map[string]bool // control_request ids answered this attach
	written      map[string]string
	commandTypes map[string]bool
	cwd          string
	nreq         int
	lastScripted string
	scripted     int
	graceTimer   *time.Timer
	gapIdle      []chan struct{}
	syncGen      int // syncs the loop sent on its own (attach, gaps)
	drainWait    []chan struct{}
	drained      int // syncGen covered by the last drain (runner-owned)
	pingTicker   *time.Ticker
}

func (r *run) setCwd(cwd string) {
	if cwd != "" {
		r.cwd = strings.TrimRight(cwd, "/")
		if r.cwd == "" {
			r.cwd = "/"
		}
	}
}

func (r *run) addFault(f Fault) {
	r.rmu.Lock()
	r.rep.Faults = append(r.rep.Faults, f)
	r.rmu.Unlock()
	r.c.logf("client: fault %s", f)
}

// bodyStart returns the start of a refusal's body, for an error message
// (": " and up to 200 bytes on one line), or "" for an empty body.
func bodyStart(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 200))
	text := strings.Join(strings.Fields(string(b)), " ")
	if text == "" {
		return ""
	}
	return ": " + strconv.Quote(text)
}
