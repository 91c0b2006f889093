package replay_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// tb builds a trace in memory, one record per call, 1ms apart.
type tb struct {
	recs []*trace.Record
	t    time.Time
	step time.Duration
}

func newTB() *tb {
	return &tb{t: time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC), step: time.Millisecond}
}

func (b *tb) next() time.Time {
	b.t = b.t.Add(b.step)
	return b.t
}

func statusURL(connID, channel string) string {
	q := url.Values{"agentId": {"agent-1"}, "conversationId": {"default"}}
	if channel != "" {
		q.Set("channel", channel)
	}
	return protocol.StatusPathPrefix + connID + protocol.StatusPathSuffix + "?" + q.Encode()
}

func (b *tb) open(conn, u string) *tb {
	b.recs = append(b.recs, &trace.Record{Kind: trace.KindOpen, T: b.next(), Conn: conn,
		Open: &trace.Open{URL: u, Session: protocol.SessionFromURL(u)}})
	return b
}

func (b *tb) frame(conn string, from trace.Side, payload string) *tb {
	b.recs = append(b.recs, &trace.Record{Kind: trace.KindFrame, T: b.next(), Conn: conn, From: from,
		Op: trace.OpText, Payload: []byte(payload), Size: len(payload)})
	return b
}

func (b *tb) client(conn, payload string) *tb { return b.frame(conn, trace.Client, payload) }
func (b *tb) server(conn, payload string) *tb { return b.frame(conn, trace.Server, payload) }

func (b *tb) close(conn string, by trace.Side, code int, reason string) *tb {
	b.recs = append(b.recs, &trace.Record{Kind: trace.KindClose, T: b.next(), Conn: conn, By: by, Code: code, Reason: reason})
	return b
}

// write stores the trace (zstd) in the test's temp dir; records get their
// line numbers.
func (b *tb) write(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.jsonl.zst")
	w, err := recorder.Create(path, recorder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(trace.NewHeader("replay-test", "1", trace.SourceProxy, time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)))
	for i, r := range b.recs {
		r.Line = int64(i + 2)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// lineOf returns the trace line of the first client frame of a type.
func lineOf(recs []*trace.Record, from trace.Side, typ string) int64 {
	for _, r := range recs {
		if r.Kind == trace.KindFrame && r.From == from {
			if e, err := protocol.Parse(r.Payload); err == nil && e.TypeString() == typ {
				return r.Line
			}
		}
	}
	return 0
}

const rt = `"runtime":{"agent_id":"agent-1","conversation_id":"default"}`

// twoSocketTrace is a control+stream session with relay seqs and acks, a
// sync, a turn with an approval, a one-shot command and a ping.
func twoSocketTrace() *tb {
	b := newTB()
	b.open("c1", statusURL("conn-1", "control")).open("c2", statusURL("conn-1", "stream"))
	b.client("c1", `{"type":"sync",`+rt+`,"request_id":"sync-1","recover_approvals":true}`)
	b.server("c2", `{"type":"update_device_status","seq":1,`+rt+`,"event_seq":1,"idempotency_key":"update_device_status:1:aaa","device_status":{"is_online":true}}`)
	b.client("c2", `{"type":"ack","seq":1}`)
	b.server("c2", `{"type":"update_loop_status","seq":2,`+rt+`,"event_seq":2,"loop_status":{"status":"WAITING_ON_INPUT"}}`)
	b.client("c2", `{"type":"ack","seq":2}`)
	b.server("c1", `{"type":"sync_response","request_id":"sync-1","seq":1,`+rt+`,"success":true}`)
	b.client("c1", `{"type":"ack","seq":1}`)
	b.client("c1", `{"type":"input",`+rt+`,"request_id":"in-1","payload":{"kind":"create_message","messages":[{"role":"user","content":"run ls","client_message_id":"cm-1"}]}}`)
	b.server("c1", `{"type":"input_accepted","request_id":"in-1","seq":2,`+rt+`,"accepted":true,"disposition":"started"}`)
	b.server("c2", `{"type":"update_loop_status","seq":3,`+rt+`,"event_seq":3,"loop_status":{"status":"PROCESSING_API_RESPONSE"}}`)
	b.server("c2", `{"type":"stream_delta","seq":4,`+rt+`,"event_seq":4,"delta":{"message_type":"assistant_message","content":"let me look"}}`)
	b.server("c1", `{"type":"control_request","request_id":"perm-tool-1","seq":3,"request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"},"tool_call_id":"tool-1"},`+rt+`,"event_seq":5}`)
	b.client("c1", `{"type":"input",`+rt+`,"request_id":"in-2","payload":{"kind":"approval_response","request_id":"perm-tool-1","decision":{"behavior":"allow"}}}`)
	b.server("c1", `{"type":"input_accepted","request_id":"in-2","seq":4,`+rt+`,"accepted":true,"disposition":"approval"}`)
	b.server("c2", `{"type":"stream_delta","seq":5,`+rt+`,"event_seq":6,"delta":{"message_type":"assistant_message","content":"done"}}`)
	b.server("c2", `{"type":"update_loop_status","seq":6,`+rt+`,"event_seq":7,"loop_status":{"status":"WAITING_ON_INPUT"}}`)
	b.server("c1", `{"type":"turn_finished","seq":5,`+rt+`,"event_seq":8,"stop_reason":"end_turn"}`)
	b.client("c1", `{"type":"list_models","request_id":"lm-1"}`)
	b.server("c1", `{"type":"list_models_response","request_id":"lm-1","seq":6,"success":true,"entries":[]}`)
	b.client("c1", `{"type":"ping"}`)
	b.server("c1", `{"type":"pong","timestamp":1795885465936}`)
	b.close("c1", trace.Client, 1000, "bye")
	b.close("c2", trace.Client, 1000, "bye")
	return b
}

// playOpts change how play behaves.
type playOpts struct {
	skip  string // a command type not to send
	extra string // a frame to send after the first command
	// noCheck skips comparing received frames with the recording.
	noCheck bool
	// ping sends a ping after the first command and expects a pong.
	ping bool
	// garbage sends a non-JSON text frame and a binary frame after the
	// first command.
	garbage bool
	timeout time.Duration
}

// liveConn is one socket of play's client.
type liveConn struct {
	ws    *websocket.Conn
	in    chan []byte
	done  chan error
	pongs atomic.Int32
	bye   bool // we started the close handshake
	// lastSeq is the last transport seq received (read by recv only).
	lastSeq int64
}

// play is an independent reactive client: it plays the client side of
// recs against base (ws://host:port) with request_ids of its own, acks
// every frame with a seq, and checks that each recorded server frame
// arrives byte-exact except for the rewritten request_id.
func play(t *testing.T, base string, recs []*trace.Record, o playOpts) (pongs int) {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	conns := map[string]*liveConn{}
	ids := map[string]string{} // recorded request_id → ours
	skipped := map[string]bool{}
	sentCommand := false
	defer func() {
		for _, c := range conns {
			c.ws.Close()
			<-c.done
			pongs += int(c.pongs.Load())
		}
	}()
	recv := func(conn string) []byte {
		t.Helper()
		c := conns[conn]
		for {
			select {
			case p, ok := <-c.in:
				if !ok {
					t.Fatalf("%s closed while a frame was expected: %v", conn, <-c.done)
				}
				e, err := protocol.Parse(p)
				if err == nil && e.HasSeq {
					// Every frame on a socket, the replay's pongs included,
					// continues its transport numbering.
					if c.lastSeq != 0 && e.Seq != c.lastSeq+1 {
						t.Errorf("%s: seq %d after seq %d: %s", conn, e.Seq, c.lastSeq, p)
					}
					c.lastSeq = e.Seq
					ack := fmt.Sprintf(`{"type":"ack","seq":%d}`, e.Seq)
					if err := c.ws.WriteMessage(websocket.TextMessage, []byte(ack)); err != nil {
						t.Fatalf("ack: %v", err)
					}
				}
				if err == nil && e.TypeString() == "pong" {
					if !bytes.Contains(p, []byte(`"timestamp":`)) {
						t.Errorf("pong without a timestamp: %s", p)
					}
					c.pongs.Add(1)
					continue // the replay's answer to our own ping
				}
				return p
			case <-time.After(o.timeout):
				t.Fatalf("timed out waiting for a frame on %s", conn)
			}
		}
	}
	for _, r := range recs {
		switch r.Kind {
		case trace.KindOpen:
			ws, _, err := websocket.DefaultDialer.Dial(base+r.Open.URL, nil)
			if err != nil {
				t.Fatalf("dial %s: %v", r.Open.URL, err)
			}
			c := &liveConn{ws: ws, in: make(chan []byte, 1024), done: make(chan error, 1)}
			ws.SetPongHandler(func(string) error { c.pongs.Add(1); return nil })
			go func() {
				defer close(c.in)
				for {
					_, p, err := ws.ReadMessage()
					if err != nil {
						c.done <- err
						return
					}
					c.in <- p
				}
			}()
			conns[r.Conn] = c
		case trace.KindClose:
			c := conns[r.Conn]
			if c == nil || r.By != trace.Client {
				continue
			}
			code := r.Code
			if code == 1005 || code == 0 {
				code = websocket.CloseNoStatusReceived
			}
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, r.Reason), time.Now().Add(time.Second))
			c.bye = true
		case trace.KindFrame:
			e, err := protocol.Parse(r.Payload)
			typ := e.TypeString()
			transport := err == nil && e.Info != nil && e.Info.Role == protocol.RoleTransport
			if r.From == trace.Server {
				if typ == "pong" {
					continue // not replayed
				}
				if err == nil && skipped[string(e.RequestID)] {
					continue // the reply to a command we did not send
				}
				got := recv(r.Conn)
				if o.noCheck {
					continue
				}
				want := r.Payload
				if err == nil && len(e.RequestID) > 0 {
					if nid, ok := ids[string(e.RequestID)]; ok {
						want = bytes.Replace(want, []byte(`"request_id":"`+string(e.RequestID)+`"`), []byte(`"request_id":"`+nid+`"`), 1)
					}
				}
				if ge, err := protocol.Parse(got); err == nil && ge.HasSeq && e.HasSeq {
					// The replay renumbers seqs (checked in recv).
					want = bytes.Replace(want, []byte(fmt.Sprintf(`"seq":%d`, e.Seq)), []byte(fmt.Sprintf(`"seq":%d`, ge.Seq)), 1)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("trace line %d on %s:\n got %s\nwant %s", r.Line, r.Conn, got, want)
				}
				continue
			}
			if transport {
				continue
			}
			if typ == o.skip && o.skip != "" {
				if len(e.RequestID) > 0 {
					skipped[string(e.RequestID)] = true
				}
				continue
			}
			p := r.Payload
			if err == nil && len(e.RequestID) > 0 {
				nid := "mine-" + string(e.RequestID) + "-" + fmt.Sprint(time.Now().UnixNano()%1000)
				ids[string(e.RequestID)] = nid
				p = bytes.Replace(p, []byte(`"request_id":"`+string(e.RequestID)+`"`), []byte(`"request_id":"`+nid+`"`), 1)
			}
			c := conns[r.Conn]
			if err := c.ws.WriteMessage(websocket.TextMessage, p); err != nil {
				t.Fatalf("send line %d: %v", r.Line, err)
			}
			if !sentCommand {
				sentCommand = true
				if o.extra != "" {
					c.ws.WriteMessage(websocket.TextMessage, []byte(o.extra))
				}
				if o.garbage {
					c.ws.WriteMessage(websocket.TextMessage, []byte("}{ not json"))
					c.ws.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2, 0xff})
				}
				if o.ping {
					c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
					c.ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
				}
			}
		}
	}
	// Wait for the close handshakes the recording has the client start.
	for name, c := range conns {
		if !c.bye {
			continue
		}
		select {
		case err := <-c.done:
			c.done <- err
		case <-time.After(o.timeout):
			t.Fatalf("%s: no close reply", name)
		}
	}
	return 0
}

// readAll reads a trace file's records.
func readAll(t testing.TB, path string) []*trace.Record {
	t.Helper()
	r, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []*trace.Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}
