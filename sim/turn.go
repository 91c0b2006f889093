package sim

import (
	"fmt"
	"strings"
	"time"
)

// turn is one streaming turn of a runtime.
type turn struct {
	rt         *runtime
	runID      string
	turnID     string
	content    string
	toolCallID string
	command    string
	cancelled  bool
	steps      []func() // remaining steps when paced
	running    bool     // a pacing goroutine owns steps
}

// messageText extracts the text of the first user message of an input
// payload: content is a string or a list of {type: text, text}.
func messageText(p args) (text, clientMessageID string) {
	msgs, _ := p["messages"].([]any)
	if len(msgs) == 0 {
		return "", ""
	}
	m, _ := msgs[0].(map[string]any)
	a := args(m)
	clientMessageID = a.str("client_message_id")
	switch c := m["content"].(type) {
	case string:
		return c, clientMessageID
	case []any:
		var b strings.Builder
		for _, part := range c {
			if pm, ok := part.(map[string]any); ok {
				if t, ok := pm["text"].(string); ok {
					b.WriteString(t)
				}
			}
		}
		return b.String(), clientMessageID
	}
	return "", clientMessageID
}

// toolCommand decides whether a message asks for a tool and which
// command: the text after "run ", up to the end of its line.
func (e *environment) toolCommand(text string) (string, bool) {
	i := strings.Index(strings.ToLower(text), "run ")
	if i < 0 {
		if e.srv.AlwaysTool {
			return "ls", true
		}
		return "", false
	}
	cmd := text[i+4:]
	if j := strings.IndexByte(cmd, '\n'); j >= 0 {
		cmd = cmd[:j]
	}
	cmd = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(cmd), ".!?"))
	if cmd == "" {
		cmd = "ls"
	}
	return cmd, true
}

func handleInput(e *environment, c *command) {
	p := c.a.sub("payload")
	rt := e.runtime(c.key)
	switch kind := p.str("kind"); kind {
	case "create_message":
		text, cmid := messageText(p)
		if rt.turn != nil {
			q := queued{id: e.nextID("queue-item"), clientMessageID: cmid, content: text,
				enqueuedAt: timestamp(time.Now()), c: c}
			rt.queue = append(rt.queue, q)
			if e.srv.v2() && c.hasRequestID {
				e.reply(c, "input_accepted", o("runtime", c.key.obj(), "accepted", true, "disposition", "queued"))
			}
			e.emitQueue(rt, nil)
			return
		}
		if e.srv.v2() && c.hasRequestID {
			e.reply(c, "input_accepted", o("runtime", c.key.obj(), "accepted", true, "disposition", "started"))
		}
		e.startTurn(rt, text, cmid)
	case "approval_response":
		e.approve(rt, c, p)
	default:
		e.emit(c.key, "stream_delta", o("delta", o(
			"id", "lifecycle-"+e.uuid(), "date", timestamp(time.Now()), "message_type", "loop_error",
			"message", fmt.Sprintf("Unsupported input payload kind: %s", kind),
			"stop_reason", "error", "is_terminal", false)))
	}
}

func (e *environment) startTurn(rt *runtime, text, clientMessageID string) {
	t := &turn{rt: rt, runID: e.nextID("run"), turnID: "turn-" + e.uuid(), content: text}
	rt.turn = t
	rt.runs = []string{t.runID}
	if clientMessageID != "" {
		if rt.clientIDs == nil {
			rt.clientIDs = map[string][]string{}
		}
		rt.clientIDs[t.runID] = []string{clientMessageID}
	}
	steps := []func(){
		func() { e.emitLoopStatus(rt, "SENDING_API_REQUEST") },
		func() { e.emitDeviceStatus(rt) },
		func() { e.emitLoopStatus(rt, "WAITING_FOR_API_RESPONSE") },
		func() { e.emitLoopStatus(rt, "PROCESSING_API_RESPONSE") },
	}
	cmd, tool := e.toolCommand(text)
	reply := "I looked at your request."
	if tool {
		reply = "I need to run a command for that."
	}
	steps = append(steps, e.assistantChunks(t, reply)...)
	if tool {
		t.toolCallID = "toolu_sim_" + e.nextID("call")
		t.command = cmd
		steps = append(steps,
			func() {
				e.emit(rt.key, "stream_delta", o("delta", o(
					"id", e.nextID("msg"), "date", timestamp(time.Now()), "message_type", "approval_request_message",
					"run_id", t.runID, "tool_call", o("tool_call_id", t.toolCallID, "name", "Bash",
						"arguments", string(mustJSON(o("command", cmd)))))))
			},
			func() {
				e.emit(rt.key, "stream_delta", o("delta", o("message_type", "stop_reason",
					"stop_reason", "requires_approval", "run_id", t.runID)))
			},
			func() { e.emitLoopStatus(rt, "WAITING_ON_APPROVAL") },
			func() {
				a := &approval{requestID: "perm-" + t.toolCallID, turn: t, request: o(
					"subtype", "can_use_tool", "tool_name", "Bash", "input", o("command", cmd),
					"tool_call_id", t.toolCallID, "permission_suggestions", []obj{}, "blocked_path", nil)}
				rt.pending = append(rt.pending, a)
				e.emitControlRequest(rt, a)
			},
		)
	} else {
		steps = append(steps, func() { e.finishTurn(t, "end_turn") })
	}
	e.run(t, steps)
}

func (e *environment) emitControlRequest(rt *runtime, a *approval) {
	e.emit(rt.key, "control_request", o("request_id", a.requestID, "request", a.request))
}

// assistantChunks streams text as three assistant_message deltas.
func (e *environment) assistantChunks(t *turn, text string) []func() {
	id := e.nextID("msg")
	words := strings.Fields(text)
	n := 3
	if len(words) < n {
		n = len(words)
	}
	var steps []func()
	for i := 0; i < n; i++ {
		lo, hi := i*len(words)/n, (i+1)*len(words)/n
		chunk := strings.Join(words[lo:hi], " ")
		if i > 0 {
			chunk = " " + chunk
		}
		steps = append(steps, func() {
			e.emit(t.rt.key, "stream_delta", o("delta", o("id", id, "date", timestamp(time.Now()),
				"message_type", "assistant_message", "run_id", t.runID, "content", chunk)))
		})
	}
	return steps
}

// run carries out a turn's steps: at once, or paced by Server.Pace on a
// goroutine the server owns. e.mu is held.
func (e *environment) run(t *turn, steps []func()) {
	if e.srv.Pace <= 0 {
		for _, s := range steps {
			if t.cancelled {
				return
			}
			s()
		}
		return
	}
	t.steps = append(t.steps, steps...)
	if t.running {
		return
	}
	if !e.srv.goAdd() {
		return
	}
	t.running = true
	go func() {
		defer e.srv.wg.Done()
		timer := time.NewTimer(e.srv.Pace)
		defer timer.Stop()
		for {
			select {
			case <-timer.C:
			case <-e.srv.ctx.Done():
				return
			}
			e.mu.Lock()
			if t.cancelled || len(t.steps) == 0 {
				t.running = false
				t.steps = nil
				e.mu.Unlock()
				return
			}
			s := t.steps[0]
			t.steps = t.steps[1:]
			s()
			e.mu.Unlock()
			timer.Reset(e.srv.Pace)
		}
	}()
}

func (e *environment) approve(rt *runtime, c *command, p args) {
	id := p.str("request_id")
	var a *approval
	for i, x := range rt.pending {
		if x.requestID == id {
			a = x
			rt.pending = append(rt.pending[:i], rt.pending[i+1:]...)
			break
		}
	}
	if a == nil {
		if e.srv.v2() && c.hasRequestID {
			e.reply(c, "input_accepted", o("runtime", c.key.obj(), "accepted", false,
				"error", "Approval request is no longer pending"))
		} else {
			c.sock.sendError(c.requestID, c.typ, "approval_not_pending",
				fmt.Sprintf("approval request %q is not pending", id))
		}
		return
	}
	if e.srv.v2() && c.hasRequestID {
		e.reply(c, "input_accepted", o("runtime", c.key.obj(), "accepted", true))
	}
	t := a.turn
	d := p.sub("decision")
	allow := d.str("behavior") == "allow" && !p.has("error")
	msg := d.str("message")
	var steps []func()
	if allow {
		steps = append(steps,
			func() {
				rt.executing = []string{t.toolCallID}
				rt.status = "EXECUTING_CLIENT_SIDE_TOOL"
				e.emit(rt.key, "update_loop_status", o("loop_status", rt.loopState()))
			},
			func() {
				e.emit(rt.key, "stream_delta", o("delta", o("id", e.nextID("msg"), "date", timestamp(time.Now()),
					"message_type", "tool_return_message", "run_id", t.runID, "tool_call_id", t.toolCallID,
					"status", "success", "tool_return", fmt.Sprintf("$ %s\n(simulated output)\n", t.command))))
			})
	} else {
		if msg == "" {
			msg = p.str("error")
		}
		if msg == "" {
			msg = "denied"
		}
		steps = append(steps, func() {
			e.emit(rt.key, "stream_delta", o("delta", o("id", e.nextID("msg"), "date", timestamp(time.Now()),
				"message_type", "tool_return_message", "run_id", t.runID, "tool_call_id", t.toolCallID,
				"status", "error", "tool_return", "Permission denied by the user: "+msg)))
		})
	}
	steps = append(steps,
		func() { e.emitLoopStatus(rt, "SENDING_API_REQUEST") },
		func() { e.emitLoopStatus(rt, "WAITING_FOR_API_RESPONSE") },
		func() { e.emitLoopStatus(rt, "PROCESSING_API_RESPONSE") },
	)
	text := "The command ran; everything looks fine."
	if !allow {
		text = "Understood, I did not run the command."
	}
	steps = append(steps, e.assistantChunks(t, text)...)
	steps = append(steps, func() { e.finishTurn(t, "end_turn") })
	e.run(t, steps)
}

// finishTurn ends a turn: stop reason, device status, queue, turn_finished
// (v2) and, last, update_loop_status WAITING_ON_INPUT. A queued message
// then starts the next turn.
func (e *environment) finishTurn(t *turn, stopReason string) {
	rt := t.rt
	if rt.turn != t {
		return
	}
	e.emit(rt.key, "stream_delta", o("delta", o("message_type", "stop_reason",
		"stop_reason", stopReason, "run_id", t.runID)))
	rt.turn = nil
	rt.runs = nil
	rt.executing = nil
	e.emitDeviceStatus(rt)
	e.emitQueue(rt, nil)
	if e.srv.v2() {
		e.emit(rt.key, "turn_finished", o("turn_id", t.turnID, "stop_reason", stopReason, "run_id", t.runID))
	}
	e.emitLoopStatus(rt, idleStatus)
	if len(rt.queue) > 0 {
		q := rt.queue[0]
		rt.queue = rt.queue[1:]
		e.emitQueue(rt, []obj{o("client_message_id", q.clientMessageID, "disposition", "dequeued")})
		e.startTurn(rt, q.content, q.clientMessageID)
	}
}

func handleAbort(e *environment, c *command) {
	rt := e.runtime(c.key)
	aborted := false
	runID := c.a.str("run_id")
	if t := rt.turn; t != nil {
		aborted = true
		if runID == "" {
			runID = t.runID
		}
		t.cancelled = true
		t.steps = nil
		var keep []*approval
		for _, a := range rt.pending {
			if a.turn != t {
				keep = append(keep, a)
			}
		}
		rt.pending = keep
		e.finishTurn(t, "cancelled")
	}
	if !c.hasRequestID {
		return
	}
	if e.srv.v2() {
		e.reply(c, "abort_message_response", o("runtime", c.key.obj(), "aborted", aborted, "success", true))
		return
	}
	f := o("accepted", true)
	if runID != "" {
		f = f.set("run_id", runID)
	} else {
		f = f.set("run_id", nil)
	}
	e.reply(c, "cancel_ack", f)
}

func handleSync(e *environment, c *command) {
	rt := e.runtime(c.key)
	e.emitDeviceStatus(rt)
	e.emit(rt.key, "update_loop_status", o("loop_status", rt.loopState()))
	e.emitQueue(rt, nil)
	if e.srv.v2() {
		e.emit(rt.key, "update_subagent_state", o("subagents", []obj{}))
	}
	if c.a.boolean("recover_approvals") {
		for _, a := range rt.pending {
			e.emitControlRequest(rt, a)
		}
	}
	if e.srv.v2() && c.hasRequestID {
		e.reply(c, "sync_response", o("runtime", c.key.obj(), "success", true))
	}
}

func handleChangeDeviceState(e *environment, c *command) {
	rt := e.runtime(c.key)
	p := c.a.sub("payload")
	st := &e.state
	if m := p.str("mode"); m != "" {
		st.mode = m
	}
	cwd := p.str("cwd")
	if cwd != "" {
		if !e.fs.isDir(cwd) {
			e.fs.mkdirAll(cwd)
		}
		st.cwd = cleanPath(cwd)
		st.cwdRevision++
	}
	if op := p.sub("git_op"); op != nil && op.str("branch") != "" {
		e.checkout(op.str("branch"), true)
	}
	e.emitDeviceStatus(rt)
	if cwd != "" && !e.srv.v2() {
		f := o("cwd", st.cwd, "success", true)
		e.reply(c, "cwd_changed", f)
	}
}

func handleChangeCwd(e *environment, c *command) {
	rt := e.runtime(c.key)
	cwd := c.a.str("cwd")
	if cwd == "" {
		cwd = c.a.sub("payload").str("cwd")
	}
	if cwd == "" {
		e.reply(c, "cwd_changed", o("success", false, "error", "missing cwd"))
		return
	}
	e.fs.mkdirAll(cwd)
	e.state.cwd = cleanPath(cwd)
	e.state.cwdRevision++
	e.emitDeviceStatus(rt)
	e.reply(c, "cwd_changed", o("cwd", e.state.cwd, "success", true))
}

func handleRecoverApprovals(e *environment, c *command) {
	rt := e.runtime(c.key)
	for _, a := range rt.pending {
		e.emitControlRequest(rt, a)
	}
	e.reply(c, "recover_pending_approvals_ack", o("success", true, "recovered", true,
		"pending_approval", len(rt.pending) > 0, "approvals_processed", 0))
}

func handleResumeQueue(e *environment, c *command) {
	if !c.hasRequestID {
		return
	}
	e.reply(c, "resume_queue_response", o("runtime", c.key.obj(), "resumed", 0, "success", true))
}
