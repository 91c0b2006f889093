package replay_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/replay"
)

// mockDevice is a tiny live server that behaves like twoSocketTrace's
// recording, with ids, seqs, event_seqs and idempotency keys of its own.
// With differ set it answers list_models differently.
type mockDevice struct {
	t      *testing.T
	differ string // "", "content" or "type"
	up     websocket.Upgrader

	mu       sync.Mutex
	ctl, str *mockConn
	ready    chan struct{}
	eventSeq int
	perm     string
	badAcks  []string
	unacked  map[*mockConn]map[int64]bool
	wg       sync.WaitGroup
}

type mockConn struct {
	mu  sync.Mutex
	ws  *websocket.Conn
	seq int64
}

func newMockDevice(t *testing.T, differ string) *httptest.Server {
	m := &mockDevice{t: t, differ: differ, ready: make(chan struct{}), unacked: map[*mockConn]map[int64]bool{}}
	hs := httptest.NewServer(m)
	t.Cleanup(func() {
		hs.Close()
		m.wg.Wait()
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, b := range m.badAcks {
			t.Errorf("mock device: %s", b)
		}
		for c, set := range m.unacked {
			if len(set) > 0 {
				t.Errorf("mock device: seqs never acked on %p: %v", c, set)
			}
		}
	})
	return hs
}

func (m *mockDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := protocol.SessionFromURL(r.URL.RequestURI())
	ws, err := m.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	m.wg.Add(1)
	defer m.wg.Done()
	defer ws.Close()
	c := &mockConn{ws: ws, seq: 99}
	m.mu.Lock()
	m.unacked[c] = map[int64]bool{}
	if s.Channel == "control" {
		m.ctl = c
	} else {
		m.str = c
	}
	if m.ctl != nil && m.str != nil {
		close(m.ready)
	}
	m.mu.Unlock()
	for {
		_, p, err := ws.ReadMessage()
		if err != nil {
			return
		}
		m.handle(c, p)
	}
}

// send writes a frame with the next seq of its socket.
func (m *mockDevice) send(c *mockConn, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	m.mu.Lock()
	m.unacked[c][c.seq] = true
	m.mu.Unlock()
	c.ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{%s,"seq":%d}`, body, c.seq)))
}

// event sends a device event with an envelope of its own.
func (m *mockDevice) event(c *mockConn, typ, fields string) {
	m.mu.Lock()
	m.eventSeq++
	n := m.eventSeq + 50
	m.mu.Unlock()
	m.send(c, fmt.Sprintf(`"type":%q,%s,"event_seq":%d,"emitted_at":%q,"idempotency_key":"%s:%d:%08d-0000-4000-8000-000000000000",%s`,
		typ, rt, n, time.Now().UTC().Format(time.RFC3339Nano), typ, n, n, fields))
}

func (m *mockDevice) handle(c *mockConn, p []byte) {
	<-m.ready
	e, err := protocol.Parse(p)
	if err != nil {
		return
	}
	rid := string(e.RequestID)
	switch e.TypeString() {
	case "ack":
		m.mu.Lock()
		if !m.unacked[c][e.Seq] {
			m.badAcks = append(m.badAcks, fmt.Sprintf("ack for seq %d, not sent or acked twice", e.Seq))
		}
		delete(m.unacked[c], e.Seq)
		m.mu.Unlock()
	case "ping":
		c.mu.Lock()
		c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong","timestamp":1}`))
		c.mu.Unlock()
	case "sync":
		m.send(m.str, `"type":"update_device_status",`+rt+`,"event_seq":60,"idempotency_key":"update_device_status:60:x","device_status":{"is_online":true}`)
		m.event(m.str, "update_loop_status", `"loop_status":{"status":"WAITING_ON_INPUT"}`)
		m.send(m.ctl, fmt.Sprintf(`"type":"sync_response","request_id":%q,`+rt+`,"success":true`, rid))
	case "input":
		if e.IsApprovalResponse() {
			if string(e.ApprovalRequestID) != m.perm {
				m.send(m.ctl, fmt.Sprintf(`"type":"error","message":"no pending approval %s"`, e.ApprovalRequestID))
				return
			}
			m.send(m.ctl, fmt.Sprintf(`"type":"input_accepted","request_id":%q,`+rt+`,"accepted":true,"disposition":"approval"`, rid))
			m.event(m.str, "stream_delta", `"delta":{"message_type":"assistant_message","content":"done"}`)
			m.event(m.str, "update_loop_status", `"loop_status":{"status":"WAITING_ON_INPUT"}`)
			m.event(m.ctl, "turn_finished", `"stop_reason":"end_turn"`)
			return
		}
		m.perm = fmt.Sprintf("perm-live-%d", time.Now().UnixNano())
		m.send(m.ctl, fmt.Sprintf(`"type":"input_accepted","request_id":%q,`+rt+`,"accepted":true,"disposition":"started"`, rid))
		m.event(m.str, "update_loop_status", `"loop_status":{"status":"PROCESSING_API_RESPONSE"}`)
		m.event(m.str, "stream_delta", `"delta":{"message_type":"assistant_message","content":"let me look"}`)
		m.send(m.ctl, fmt.Sprintf(`"type":"control_request","request_id":%q,"request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"},"tool_call_id":"tool-1"},`+rt+`,"event_seq":55`, m.perm))
	case "list_models":
		switch m.differ {
		case "content":
			m.send(m.ctl, fmt.Sprintf(`"type":"list_models_response","request_id":%q,"success":true,"entries":[{"handle":"openai/gpt-4o-mini"}]`, rid))
		case "type":
			m.send(m.ctl, fmt.Sprintf(`"type":"error","request_id":%q,"message":"no models"`, rid))
		default:
			m.send(m.ctl, fmt.Sprintf(`"type":"list_models_response","request_id":%q,"success":true,"entries":[]`, rid))
		}
	}
}

func driveOpts() replay.Options {
	return replay.Options{Timeout: 2 * time.Second, Linger: 50 * time.Millisecond}
}

// Drive against a server behaving like the recording reproduces the
// recorded replies: zero divergence, acks for the live seqs, and the
// approval answering the live control_request.
func TestDriveMatchesLiveServer(t *testing.T) {
	path := twoSocketTrace().write(t)
	hs := newMockDevice(t, "")
	r, err := replay.Drive(t.Context(), hs.URL, path, driveOpts())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Totals.Matched != 12 {
		t.Fatalf("want 12 matched frames and no divergence:\n%s\n%v", r, r.All())
	}
	if !strings.HasPrefix(r.Target, "ws://127.0.0.1:") {
		t.Errorf("target %q", r.Target)
	}
}

func TestDriveReportsDivergence(t *testing.T) {
	b := twoSocketTrace()
	path := b.write(t)
	line := lineOf(b.recs, "server", "list_models_response")
	for _, differ := range []string{"content", "type"} {
		t.Run(differ, func(t *testing.T) {
			hs := newMockDevice(t, differ)
			o := driveOpts()
			o.Timeout = 300 * time.Millisecond
			r, err := replay.Drive(t.Context(), hs.URL, path, o)
			if err != nil {
				t.Fatal(err)
			}
			all := r.All()
			switch differ {
			case "content":
				if len(all) != 1 || all[0].Kind != replay.Mismatch || all[0].Line != line || !strings.Contains(all[0].Reason, "entries") {
					t.Fatalf("want one mismatch naming entries at line %d:\n%s\n%v", line, r, all)
				}
			case "type":
				if r.Totals.Unexpected != 1 || r.Totals.Missing != 1 || r.Sessions[0].Missing[0].Line != line {
					t.Fatalf("want the error unexpected and line %d missing:\n%s\n%v", line, r, all)
				}
			}
		})
	}
	// Types only: a different list of models is no divergence.
	hs := newMockDevice(t, "content")
	o := driveOpts()
	o.TypesOnly = true
	r, err := replay.Drive(t.Context(), hs.URL, path, o)
	if err != nil || !r.OK() {
		t.Fatalf("types only: %v\n%s", err, r)
	}
}

// Driving a replay server with the same trace closes the loop: each side
// is the recording of the other.
func TestDriveAgainstReplayServer(t *testing.T) {
	files, _ := filepath.Glob("../traces/real-device-*.jsonl.zst")
	files = append(files, twoSocketTrace().write(t))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			srv := replay.NewTestServer(t, f, testOpts())
			r, err := replay.Drive(t.Context(), srv.URL, f, driveOpts())
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.Totals.Matched == 0 {
				t.Errorf("drive:\n%s\n%v", r, r.All())
			}
			srv.RequireNoDivergence()
		})
	}
}

// Drive reaches a wss:// server with Options.TLS, and without a trusted
// certificate reports a connection error, not divergence.
func TestDriveTLS(t *testing.T) {
	path := twoSocketTrace().write(t)
	m := &mockDevice{t: t, ready: make(chan struct{}), unacked: map[*mockConn]map[int64]bool{}}
	hs := httptest.NewTLSServer(m)
	defer func() { hs.Close(); m.wg.Wait() }()
	wss := "wss" + strings.TrimPrefix(hs.URL, "https")
	r, err := replay.Drive(t.Context(), wss, path, driveOpts())
	if err != nil {
		t.Fatal(err)
	}
	if r.Err() == nil || r.Totals.Matched != 0 {
		t.Fatalf("an untrusted certificate was not a connection error:\n%s", r)
	}
	o := driveOpts()
	o.TLS = hs.Client().Transport.(*http.Transport).TLSClientConfig
	r, err = replay.Drive(t.Context(), wss, path, o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Totals.Matched != 12 {
		t.Fatalf("want 12 matched frames over TLS:\n%s\n%v", r, r.All())
	}
}
