package sim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/lettadev/wsproxy/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	agent = "agent-t"
	conv  = "default"
)

func start(t *testing.T, s *sim.Server) string {
	t.Helper()
	u, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return u
}

// ws is a raw test socket.
type ws struct {
	t *testing.T
	c *websocket.Conn
}

func dial(t *testing.T, s *sim.Server, channel string, hdr http.Header) *ws {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(s.StatusURL(s.ConnectionID(), agent, conv, channel), hdr)
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", channel, err, st)
	}
	w := &ws{t, c}
	t.Cleanup(func() { c.Close() })
	return w
}

func (w *ws) send(v any) {
	w.t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	default:
		b, _ = json.Marshal(v)
	}
	if err := w.c.WriteMessage(websocket.TextMessage, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }
func (m msg) num(k string) int64  { f, _ := m[k].(float64); return int64(f) }
func (m msg) has(k string) bool   { _, ok := m[k]; return ok }

// recv reads the next message, acking it when it has a seq.
func (w *ws) recv() msg {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := w.c.ReadMessage()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("not JSON: %s", b)
	}
	if m.has("seq") {
		w.send(map[string]any{"type": "ack", "seq": m["seq"]})
	}
	return m
}

// until reads messages up to and including the first of type typ.
func (w *ws) until(typ string) []msg {
	w.t.Helper()
	var out []msg
	for {
		m := w.recv()
		out = append(out, m)
		if m.str("type") == typ {
			return out
		}
	}
}

// fence sends a ping and returns everything received before its pong.
// The relay answers a ping at once, but a socket's commands are carried out
// before its next frame is read: fence the commanding socket first.
func (w *ws) fence() []msg {
	w.t.Helper()
	w.send(`{"type":"ping"}`)
	out := w.until("pong")
	return out[:len(out)-1]
}

func types(ms []msg) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.str("type"))
	}
	return out
}

var runtime = map[string]any{"agent_id": agent, "conversation_id": conv}

func TestEnvironmentsAndAuth(t *testing.T) {
	s := &sim.Server{Token: "secret"}
	u := start(t, s)
	get := func(hdr string, query string) *http.Response {
		req, _ := http.NewRequest("GET", u+"/v1/environments?onlineOnly=true"+query, nil)
		if hdr != "" {
			req.Header.Set("Authorization", hdr)
		}
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := get("", ""); r.StatusCode != 401 {
		t.Errorf("no token: %d", r.StatusCode)
	} else {
		r.Body.Close()
	}
	if r := get("Bearer wrong", ""); r.StatusCode != 401 {
		t.Errorf("wrong token: %d", r.StatusCode)
	} else {
		r.Body.Close()
	}
	r := get("", "&token=secret")
	var body struct {
		Connections []struct {
			ConnectionID string         `json:"connectionId"`
			Metadata     map[string]any `json:"metadata"`
		} `json:"connections"`
		HasNextPage bool `json:"hasNextPage"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	r.Body.Close()
	if r.StatusCode != 200 || len(body.Connections) != 1 || body.Connections[0].ConnectionID != sim.DefaultConnectionID ||
		body.Connections[0].Metadata["workingDirectory"] != "/workspace/project" {
		t.Fatalf("list: %d %+v", r.StatusCode, body)
	}

	dialStatus := func(url string, hdr http.Header) int {
		c, resp, err := websocket.DefaultDialer.Dial(url, hdr)
		if err == nil {
			c.Close()
			return 101
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	good := s.StatusURL(sim.DefaultConnectionID, agent, conv, "control")
	if st := dialStatus(good, nil); st != 401 {
		t.Errorf("ws without token: %d", st)
	}
	if st := dialStatus(good, http.Header{"Authorization": {"Bearer nope"}}); st != 401 {
		t.Errorf("ws wrong token: %d", st)
	}
	if st := dialStatus(good, http.Header{"Authorization": {"Bearer secret"}}); st != 101 {
		t.Errorf("ws header token: %d", st)
	}
	if st := dialStatus(good+"&token=secret", nil); st != 101 {
		t.Errorf("ws query token: %d", st)
	}
	if st := dialStatus(s.StatusURL("conn-nope", agent, conv, "")+"&token=secret", nil); st != 404 {
		t.Errorf("unknown connectionId: %d", st)
	}
	if st := dialStatus(s.StatusURL(sim.DefaultConnectionID, agent, conv, "bogus")+"&token=secret", nil); st != 400 {
		t.Errorf("unknown channel: %d", st)
	}
}

func TestBadInput(t *testing.T) {
	s := &sim.Server{}
	start(t, s)
	w := dial(t, s, "", nil)
	expectError := func(code, mention string) {
		t.Helper()
		m := w.recv()
		if m.str("type") != "error" || m.str("code") != code || !strings.Contains(m.str("message"), mention) {
			t.Fatalf("want error %s mentioning %q, got %v", code, mention, m)
		}
		if m.num("seq") == 0 {
			t.Errorf("error event without seq: %v", m)
		}
	}
	w.send("this is not json")
	expectError("invalid_json", "not a JSON object")
	w.send(`{"type":"launch_rockets","request_id":"r1"}`)
	expectError("unknown_command", "launch_rockets")
	w.send(`{"type":"read_file","path":"/workspace/project/hello.txt"}`)
	expectError("missing_request_id", "read_file")
	w.send(`{"type":"update_loop_status"}`)
	expectError("unknown_command", "update_loop_status")
	w.send(`{"request_id":"x"}`)
	expectError("missing_type", "type")
	w.send(`{"type":"sync","request_id":"s1"}`)
	expectError("missing_runtime", "sync")
	w.send(`[1,2,3]`)
	expectError("invalid_json", "")
	if err := w.c.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	expectError("binary_frame", "binary")
	w.send(`{"type":"terminal_input","terminal_id":"nope","data":"x"}`)
	expectError("unknown_terminal", "nope")
	// The socket still works.
	w.send(map[string]any{"type": "read_file", "request_id": "rf", "path": "/workspace/project/hello.txt"})
	if m := w.recv(); m.str("type") != "read_file_response" || m.str("content") != "hello world\nsecond line\n" {
		t.Fatalf("after errors: %v", m)
	}

	// A frame over the 16 MiB read limit closes the socket with 1009.
	big := make([]byte, 17<<20)
	for i := range big {
		big[i] = 'a'
	}
	w.c.WriteMessage(websocket.TextMessage, big)
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := w.c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("17 MiB frame: want close 1009, got %v", err)
	}
	// The server is still fine.
	w2 := dial(t, s, "", nil)
	w2.send(`{"type":"ping"}`)
	if m := w2.recv(); m.str("type") != "pong" {
		t.Fatalf("after 1009: %v", m)
	}
}

func TestRelayAndRouting(t *testing.T) {
	s := &sim.Server{Seed: 1}
	start(t, s)
	ctl := dial(t, s, "control", nil)
	str := dial(t, s, "stream", nil)

	ctl.send(`{"type":"ping"}`)
	p := ctl.recv()
	if p.str("type") != "pong" || p.has("seq") || p.num("timestamp") == 0 {
		t.Fatalf("pong: %v", p)
	}

	ctl.send(map[string]any{"type": "sync", "request_id": "s1", "runtime": runtime, "recover_approvals": true})
	got := ctl.until("sync_response")
	if len(got) != 1 || got[0].str("request_id") != "s1" || got[0].num("seq") != 1 || got[0].has("event_seq") {
		t.Fatalf("control after sync: %v", got)
	}
	evs := str.fence()
	if strings.Join(types(evs), ",") != "update_device_status,update_loop_status,update_queue,update_subagent_state" {
		t.Fatalf("stream after sync: %v", types(evs))
	}
	for i, e := range evs {
		if e.num("seq") != int64(i+1) || e.num("event_seq") != int64(i+1) {
			t.Errorf("event %d: seq %d event_seq %d", i, e.num("seq"), e.num("event_seq"))
		}
		key := e.str("idempotency_key")
		parts := strings.Split(key, ":")
		if len(parts) != 3 || parts[0] != e.str("type") || parts[1] != json.Number(strings.TrimSpace(parts[1])).String() || len(parts[2]) != 36 {
			t.Errorf("idempotency_key %q", key)
		}
		if _, err := time.Parse(time.RFC3339, e.str("emitted_at")); err != nil {
			t.Errorf("emitted_at %q: %v", e.str("emitted_at"), err)
		}
		rt, _ := e["runtime"].(map[string]any)
		if rt["agent_id"] != agent || rt["conversation_id"] != conv {
			t.Errorf("runtime %v", rt)
		}
	}

	// A turn with a tool: control gets input_accepted, control_request and
	// turn_finished; stream the rest; one event_seq counter across both.
	ctl.send(map[string]any{"type": "input", "request_id": "in1", "runtime": runtime,
		"payload": map[string]any{"kind": "create_message", "messages": []any{map[string]any{"role": "user", "content": "please run ls -la"}}}})
	c1 := ctl.until("control_request")
	if types(c1)[0] != "input_accepted" {
		t.Fatalf("control: %v", types(c1))
	}
	cr := c1[len(c1)-1]
	req, _ := cr["request"].(map[string]any)
	input, _ := req["input"].(map[string]any)
	if !strings.HasPrefix(cr.str("request_id"), "perm-") || req["subtype"] != "can_use_tool" || req["tool_name"] != "Bash" ||
		input["command"] != "ls -la" || cr.str("request_id") != "perm-"+req["tool_call_id"].(string) || req["blocked_path"] != nil {
		t.Fatalf("control_request: %v", cr)
	}
	c1 = append(c1, ctl.fence()...)
	s1 := str.fence()
	if last := s1[len(s1)-1]; last.str("type") != "update_loop_status" || status(last) != "WAITING_ON_APPROVAL" {
		t.Fatalf("stream before approval ends with %v", last)
	}
	ctl.send(map[string]any{"type": "input", "request_id": "ap1", "runtime": runtime,
		"payload": map[string]any{"kind": "approval_response", "request_id": cr.str("request_id"),
			"decision": map[string]any{"behavior": "allow"}}})
	c2 := ctl.until("turn_finished")
	c2 = append(c2, ctl.fence()...)
	s2 := str.fence()
	if last := s2[len(s2)-1]; status(last) != "WAITING_ON_INPUT" {
		t.Fatalf("turn ends with %v", last)
	}
	seen := map[int64]string{}
	for _, m := range append(append(append(append(evs, c1...), s1...), c2...), s2...) {
		if m.has("event_seq") {
			if prev, dup := seen[m.num("event_seq")]; dup {
				t.Errorf("event_seq %d twice (%s, %s)", m.num("event_seq"), prev, m.str("type"))
			}
			seen[m.num("event_seq")] = m.str("type")
		}
	}
	for i := int64(1); i <= int64(len(seen)); i++ {
		if seen[i] == "" {
			t.Errorf("event_seq %d missing across the two channels", i)
		}
	}
	tool := false
	for _, m := range s2 {
		if d, _ := m["delta"].(map[string]any); d["message_type"] == "tool_return_message" && d["status"] == "success" {
			tool = true
		}
	}
	if !tool {
		t.Error("no successful tool_return_message after allow")
	}
}

func status(m msg) string {
	ls, _ := m["loop_status"].(map[string]any)
	s, _ := ls["status"].(string)
	return s
}
