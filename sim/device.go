package sim

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/protocol"
)

// environment is one device connection (connectionId): one event_seq
// counter shared by all its sockets and runtimes, its file tree and
// state. mu serialises command handling and emission.
type environment struct {
	srv        *Server
	cfg        Environment
	started    time.Time
	generation int

	mu       sync.Mutex
	id       string
	eventSeq int64
	rng      *rand.Rand
	sockets  []*socket
	runtimes map[rtKey]*runtime
	fs       *memFS
	state    deviceState
	fault    faultState
	owed     int // delayed replies not yet sent
	ids      int // counter for run, tool call and message ids
}

// rtKey names a runtime: agent and conversation.
type rtKey struct{ agent, conv string }

func (k rtKey) obj() obj { return o("agent_id", k.agent, "conversation_id", k.conv) }

func newEnvironment(s *Server, cfg Environment, i int) *environment {
	e := &environment{
		srv:      s,
		cfg:      cfg,
		started:  time.Now(),
		id:       cfg.ConnectionID,
		rng:      newRand(s.seedFor(cfg.ConnectionID, i)),
		runtimes: map[rtKey]*runtime{},
	}
	e.fault = newFaultState(&s.Inject, e.rng.Intn)
	e.fs = newMemFS(cfg.WorkingDirectory)
	e.state = newDeviceState(cfg, e.rng)
	return e
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal: %v", err))
	}
	return b
}

// uuid returns a seeded version-4 UUID.
func (e *environment) uuid() string {
	var b [16]byte
	e.rng.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (e *environment) nextID(prefix string) string {
	e.ids++
	return fmt.Sprintf("%s-%d", prefix, e.ids)
}

func (e *environment) runtime(key rtKey) *runtime {
	rt := e.runtimes[key]
	if rt == nil {
		rt = &runtime{key: key, status: protocol.LoopIdle}
		e.runtimes[key] = rt
	}
	return rt
}

// command is one client command being handled.
type command struct {
	sock         *socket
	typ          string
	info         *protocol.TypeInfo
	raw          []byte
	a            args
	requestID    string
	hasRequestID bool
	hasRuntime   bool
	key          rtKey
}

// handleCommand carries out one device command from socket k.
func (e *environment) handleCommand(k *socket, env *protocol.Envelope, data []byte) {
	typ := string(env.Type)
	rid := string(env.RequestID)
	if env.Type == nil {
		k.sendError(rid, "", "missing_type", `message has no "type"`)
		return
	}
	info := env.Info
	if info == nil || info.Role != protocol.RoleCommand {
		what := "unknown command type"
		if info != nil {
			what = fmt.Sprintf("%s is a %s, not a command", typ, info.Role)
		}
		k.sendError(rid, typ, "unknown_command", fmt.Sprintf("%s: %s", what, typ))
		return
	}
	if info.NeedsRequestID && env.RequestID == nil {
		k.sendError("", typ, "missing_request_id", fmt.Sprintf("%s: missing required request_id", typ))
		return
	}
	a, err := decodeArgs(data)
	if err != nil {
		k.sendError(rid, typ, "invalid_json", fmt.Sprintf("%s: %v", typ, err))
		return
	}
	c := &command{sock: k, typ: typ, info: info, raw: data, a: a, requestID: rid,
		hasRequestID: env.RequestID != nil, hasRuntime: env.HasRuntime}
	if env.HasRuntime {
		c.key = rtKey{string(env.AgentID), string(env.ConversationID)}
	} else {
		c.key = rtKey{k.agentID, k.convID}
	}
	if info.NeedsRuntime && (!env.HasRuntime || env.AgentID == nil) {
		k.sendError(rid, typ, "missing_runtime", fmt.Sprintf("%s: missing runtime {agent_id, conversation_id}", typ))
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	h := handlers[typ]
	if h == nil {
		h = genericHandler
	}
	h(e, c)
}

// targets lists the sockets that receive an event of runtime key.
func (e *environment) targets(key rtKey, typ string) []*socket {
	ch := protocol.ChannelControl
	if info := protocol.DefaultModel.Lookup(typ); info != nil {
		ch = info.Channel
	}
	var out []*socket
	for _, k := range e.sockets {
		if k.matches(key) && k.carries(ch) && k.alive() {
			out = append(out, k)
		}
	}
	return out
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// emit sends a device event with its envelope (runtime, event_seq,
// emitted_at, idempotency_key) to every socket attached to the runtime
// that carries its channel, applying the event fault knobs. e.mu is held.
func (e *environment) emit(key rtKey, typ string, fields obj) {
	targets := e.targets(key, typ)
	f := &e.srv.Inject
	if len(targets) > 0 && e.eventSeq > 0 && e.fault.gap.pick() {
		n := 1
		if f.GapSize > 1 {
			n = 1 + e.rng.Intn(f.GapSize)
		}
		a := e.eventSeq + 1
		e.eventSeq += int64(n)
		t := targets[0]
		e.srv.record(Fault{Knob: KnobGap, Rule: faults.RuleEventSeqGap, Subject: gapSubject(a, e.eventSeq),
			ConnectionID: e.id, Channel: t.channel, Socket: t.ordinal,
			Detail: fmt.Sprintf("skipped before %s event_seq %d", typ, e.eventSeq+1)})
	}
	e.eventSeq++
	seq := e.eventSeq
	now := time.Now()
	ikey := fmt.Sprintf("%s:%d:%s", typ, seq, e.uuid())
	frame := o("type", typ).with(fields).with(o(
		"runtime", key.obj(), "event_seq", seq, "emitted_at", timestamp(now), "idempotency_key", ikey))
	data := mustJSON(frame)
	dup := e.fault.dup.pick()
	alt := e.fault.alt.pick()
	var altData []byte
	if alt {
		altData = mustJSON(frame.set("emitted_at", timestamp(now.Add(time.Millisecond))).set("redelivered", true))
	}
	for _, t := range targets {
		t.send(data)
		if dup {
			t.send(data)
			e.srv.record(Fault{Knob: KnobDuplicate, Rule: faults.RuleDuplicateIdempotencyKey, Subject: ikey,
				ConnectionID: e.id, Channel: t.channel, Socket: t.ordinal,
				Detail: fmt.Sprintf("%s event_seq %d delivered twice, identical", typ, seq)})
		}
		if alt {
			t.send(altData)
			e.srv.record(Fault{Knob: KnobAltered, Rule: faults.RuleDuplicateIdempotencyKey, Subject: ikey,
				ConnectionID: e.id, Channel: t.channel, Socket: t.ordinal,
				Detail: fmt.Sprintf("%s event_seq %d delivered again with a different payload", typ, seq)})
		}
	}
}

// direct sends a frame without envelope (terminal and file events,
// errors) to one socket.
func (e *environment) direct(k *socket, frame obj) {
	k.send(mustJSON(frame))
}

// reply answers command c on the socket that sent it, with the request_id
// when the command had one, applying the reply fault knobs. e.mu is held.
func (e *environment) reply(c *command, typ string, fields obj) {
	frame := o("type", typ)
	if c.hasRequestID {
		frame = frame.set("request_id", c.requestID)
	}
	frame = frame.with(fields)
	if !replyEligible(c, typ) {
		c.sock.send(mustJSON(frame))
		return
	}
	f := &e.srv.Inject
	k := c.sock
	typeListed := false
	for _, t := range f.UnansweredTypes {
		if t == c.typ {
			typeListed = true
		}
	}
	if e.fault.unanswered.pick() || typeListed {
		why := "every-N selection"
		if typeListed {
			why = "command type listed"
		}
		e.srv.record(Fault{Knob: KnobUnanswered, Rule: faults.RuleUnmatchedRequest, Subject: c.requestID,
			ConnectionID: k.connID, Channel: k.channel, Socket: k.ordinal,
			Detail: fmt.Sprintf("%s reply withheld (%s)", typ, why)})
		return
	}
	var orphan []byte
	if e.fault.orphan.pick() {
		oid := fmt.Sprintf("orphan-%08x", e.rng.Uint32())
		orphan = mustJSON(append(obj(nil), frame...).set("request_id", oid))
		e.srv.record(Fault{Knob: KnobOrphan, Rule: faults.RuleOrphanResponse, Subject: oid,
			ConnectionID: k.connID, Channel: k.channel, Socket: k.ordinal,
			Detail: fmt.Sprintf("%s sent after the reply to %s", typ, c.requestID)})
	}
	data := mustJSON(frame)
	if e.fault.delay.pick() && f.Delay > 0 {
		rule := ""
		if f.Delay >= f.timeout() {
			rule = faults.RuleUnmatchedRequest
		}
		e.srv.record(Fault{Knob: KnobDelay, Rule: rule, Subject: c.requestID,
			ConnectionID: k.connID, Channel: k.channel, Socket: k.ordinal,
			Detail: fmt.Sprintf("%s delayed by %v (checker timeout %v)", typ, f.Delay, f.timeout())})
		e.owed++
		e.srv.after(f.Delay, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.owed--
			k.send(data)
			if orphan != nil {
				k.send(orphan)
			}
		})
		return
	}
	k.send(data)
	if orphan != nil {
		k.send(orphan)
	}
}

// after runs fn after d on a goroutine the server owns; fn does not run
// when the server closes first.
func (s *Server) after(d time.Duration, fn func()) {
	if !s.goAdd() {
		return
	}
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			fn()
		case <-s.ctx.Done():
		}
	}()
}

// tryDrop checks the drop fault's quiet point for socket k. It returns how
// long to wait before checking again (0 = until something happens) and
// whether the monitor is finished.
func (e *environment) tryDrop(k *socket) (time.Duration, bool) {
	f := &e.srv.Inject
	e.mu.Lock()
	defer e.mu.Unlock()
	k.mu.Lock()
	sent, gone := k.sent, k.gone
	k.mu.Unlock()
	if gone {
		return 0, true
	}
	if sent < f.DropAfterFrames {
		return 0, false
	}
	e.srv.fmu.Lock()
	exhausted := e.srv.drops >= f.dropMax()
	e.srv.fmu.Unlock()
	if exhausted {
		return 0, true
	}
	if e.owed > 0 {
		return 0, false
	}
	var last time.Time
	for _, x := range e.sockets {
		if x != k && !(x.agentID == k.agentID && x.convID == k.convID) {
			continue
		}
		x.mu.Lock()
		unacked := x.acked < x.seq && !x.gone
		pending := len(x.queue) > 0
		if x.lastRecv.After(last) {
			last = x.lastRecv
		}
		x.mu.Unlock()
		if unacked || pending {
			return 0, false
		}
	}
	for key, rt := range e.runtimes {
		if k.matches(key) && !rt.idle() {
			return 0, false
		}
	}
	if wait := f.quietFor() - time.Since(last); wait > 0 {
		return wait, false
	}
	e.srv.fmu.Lock()
	if e.srv.drops >= f.dropMax() {
		e.srv.fmu.Unlock()
		return 0, true
	}
	e.srv.drops++
	e.srv.fmu.Unlock()
	k.mu.Lock()
	n := k.sent
	k.mu.Unlock()
	e.srv.record(Fault{Knob: KnobDrop, ConnectionID: k.connID, Channel: k.channel, Socket: k.ordinal,
		Detail: fmt.Sprintf("dropped after %d frames at a quiet point (no close frame)", n)})
	k.halfClose()
	return 0, true
}
