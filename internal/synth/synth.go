// Package synth generates realistic, well-formed protocol traffic as trace
// records, deterministically from a seed, for benchmarks and load tests
// that must not depend on a network peer: a session of turns whose frames
// look like the real device's (runtime envelope, event_seq, idempotency
// keys with fresh UUIDs, transport seq and acks, request/reply pairs).
package synth

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Generator produces the records of one healthy two-socket session.
type Generator struct {
	rng      *rand.Rand
	t        time.Time
	eventSeq int64
	seq      map[string]int64 // per conn
	queue    []*trace.Record
	req      int
	agent    string
	conv     string
	opened   bool
}

// New returns a generator seeded with seed.
func New(seed int64) *Generator {
	return &Generator{
		rng:   rand.New(rand.NewSource(seed)),
		t:     time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC),
		seq:   map[string]int64{},
		agent: "agent-00000000-0000-4000-8000-000000000001",
		conv:  "default",
	}
}

const (
	control = "c1"
	stream  = "c2"
)

// Next returns the next record. The stream never ends; the first records
// open the control and stream sockets.
func (g *Generator) Next() *trace.Record {
	if !g.opened {
		g.opened = true
		g.queue = append(g.queue, g.open(control, "control"), g.open(stream, "stream"))
		g.attach()
	}
	for len(g.queue) == 0 {
		g.turn()
	}
	r := g.queue[0]
	g.queue = g.queue[1:]
	return r
}

func (g *Generator) tick() time.Time {
	g.t = g.t.Add(time.Duration(100+g.rng.Intn(900)) * time.Microsecond)
	return g.t
}

func (g *Generator) open(conn, channel string) *trace.Record {
	url := fmt.Sprintf("/v1/environments/conn-1/status/ws?agentId=%s&conversationId=%s&channel=%s", g.agent, g.conv, channel)
	return &trace.Record{Kind: trace.KindOpen, T: g.tick(), Conn: conn, Open: &trace.Open{
		URL: url, Upstream: "wss://api.letta.com", Session: protocol.SessionFromURL(url)}}
}

func (g *Generator) uuid() string {
	b := make([]byte, 16)
	g.rng.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *Generator) runtime() string {
	return fmt.Sprintf(`"runtime":{"agent_id":%q,"conversation_id":%q}`, g.agent, g.conv)
}

// server queues a server frame with a transport seq, and the client's ack.
func (g *Generator) server(conn, body string) {
	g.seq[conn]++
	s := g.seq[conn]
	p := fmt.Sprintf(`{%s,"seq":%d}`, body, s)
	g.queue = append(g.queue, frame(g.tick(), conn, trace.Server, p))
	g.queue = append(g.queue, frame(g.tick(), conn, trace.Client, fmt.Sprintf(`{"type":"ack","seq":%d}`, s)))
}

// event queues a device event with the envelope.
func (g *Generator) event(conn, typ, fields string) {
	g.eventSeq++
	body := fmt.Sprintf(`"type":%q,%s,%s,"event_seq":%d,"emitted_at":%q,"idempotency_key":"%s:%d:%s"`,
		typ, fields, g.runtime(), g.eventSeq, g.t.Format(time.RFC3339Nano), typ, g.eventSeq, g.uuid())
	g.server(conn, body)
}

func frame(t time.Time, conn string, from trace.Side, p string) *trace.Record {
	return &trace.Record{Kind: trace.KindFrame, T: t, Conn: conn, From: from, Op: trace.OpText, Payload: []byte(p), Size: len(p)}
}

func (g *Generator) loop(status string) {
	g.event(stream, "update_loop_status", fmt.Sprintf(`"loop_status":{"status":%q,"active_run_ids":["local-run-%d"],"client_message_ids_by_run_id":{"local-run-%d":["cm-%d"]},"executing_tool_call_ids":[]}`, status, g.req, g.req, g.req))
}

// turn queues one command round trip and one streaming turn.
func (g *Generator) turn() {
	g.req++
	rid := fmt.Sprintf("rf-%d", g.req)
	g.queue = append(g.queue, frame(g.tick(), control, trace.Client,
		fmt.Sprintf(`{"type":"read_file","path":"/home/user/project/src/file%d.go","request_id":%q}`, g.req, rid)))
	g.server(control, fmt.Sprintf(`"type":"read_file_response","request_id":%q,"path":"/home/user/project/src/file%d.go","content":"package main\n\nfunc main() {}\n","encoding":"utf8","success":true`, rid, g.req))

	in := fmt.Sprintf("in-%d", g.req)
	g.queue = append(g.queue, frame(g.tick(), control, trace.Client,
		fmt.Sprintf(`{"type":"input",%s,"request_id":%q,"payload":{"kind":"create_message","messages":[{"role":"user","content":"explain file%d.go","client_message_id":"cm-%d"}]}}`, g.runtime(), in, g.req, g.req)))
	g.server(control, fmt.Sprintf(`"type":"input_accepted","request_id":%q,%s,"accepted":true,"disposition":"started"`, in, g.runtime()))
	g.loop("SENDING_API_REQUEST")
	g.loop("WAITING_FOR_API_RESPONSE")
	g.loop("PROCESSING_API_RESPONSE")
	words := []string{"The", "file", "defines", "a", "main", "function", "that", "does", "nothing", "yet."}
	for i := 0; i < 6+g.rng.Intn(6); i++ {
		g.event(stream, "stream_delta", fmt.Sprintf(`"delta":{"id":"ui-msg-%d","date":%q,"agent_id":%q,"conversation_id":%q,"message_type":"assistant_message","content":[{"type":"text","text":"%s %s"}],"run_id":"local-run-%d","seq_id":%d,"type":"message"}`,
			g.req, g.t.Format(time.RFC3339Nano), g.agent, g.conv, words[g.rng.Intn(len(words))], words[g.rng.Intn(len(words))], g.req, i+1))
	}
	g.event(stream, "stream_delta", fmt.Sprintf(`"delta":{"message_type":"stop_reason","stop_reason":"end_turn","run_id":"local-run-%d"}`, g.req))
	g.loop(protocol.LoopIdle)
	g.event(stream, "update_queue", `"queue":[],"removed":[]`)
	g.event(control, "turn_finished", fmt.Sprintf(`"turn_id":"batch-%s","stop_reason":"end_turn","run_id":"local-run-%d"`, g.uuid(), g.req))
	if g.req%10 == 0 {
		g.ping(control)
		g.ping(stream)
	}
}

// ping queues a client heartbeat on a socket and the relay's pong.
func (g *Generator) ping(conn string) {
	g.queue = append(g.queue, frame(g.tick(), conn, trace.Client, `{"type":"ping"}`))
	g.queue = append(g.queue, frame(g.tick(), conn, trace.Server, fmt.Sprintf(`{"type":"pong","timestamp":%d}`, g.t.UnixMilli())))
}

// attach is what a well-behaved client does first: a heartbeat on both
// sockets and a sync with recover_approvals, answered by state events on
// the stream socket and sync_response on control.
func (g *Generator) attach() {
	g.ping(control)
	g.ping(stream)
	g.queue = append(g.queue, frame(g.tick(), control, trace.Client,
		fmt.Sprintf(`{"type":"sync",%s,"request_id":"sync-1","recover_approvals":true}`, g.runtime())))
	g.event(stream, "update_device_status", `"device_status":{"is_online":true,"is_processing":false,"current_permission_mode":"standard","current_working_directory":"/home/user/project"}`)
	g.loop(protocol.LoopIdle)
	g.event(stream, "update_queue", `"queue":[],"removed":[]`)
	g.server(control, fmt.Sprintf(`"type":"sync_response","request_id":"sync-1",%s,"success":true`, g.runtime()))
}
