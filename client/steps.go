package client

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/protocol"
)

// turnObs follows one turn on the loop.
type turnObs struct {
	decision   string
	sent       bool
	finished   bool
	startedSeq int64
	approvals  int
	toolStatus []string
	done       chan struct{}
}

// sessionState returns the current session and whether it is broken.
func (r *run) sessionState() (*session, bool) {
	var s *session
	var broken bool
	r.exec(func() {
		s = r.sess
		broken = s != nil && s.broken
	})
	return s, broken
}

// runScript runs the steps; a step cut short by a lost socket is retried
// after reconnecting.
func (r *run) runScript() error {
	for i, st := range r.script.Steps {
		for attempt := 0; ; attempt++ {
			if s, broken := r.sessionState(); s == nil || broken {
				if err := r.recover(); err != nil {
					return fmt.Errorf("step %d: reconnect: %w", i+1, err)
				}
			}
			err := r.drain()
			if err == nil {
				err = r.step(st)
			}
			if errors.Is(err, errDisconnected) {
				r.c.logf("client: step %d interrupted by a disconnect", i+1)
				if attempt >= 2 {
					r.exec(func() { r.rep.failf("step %d: %v after %d attempts", i+1, err, attempt+1) })
					break
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("step %d: %w", i+1, err)
			}
			break
		}
	}
	return nil
}

func (r *run) step(st Step) error {
	switch {
	case st.Send != nil:
		return r.stepSend(st)
	case st.Turn != nil:
		return r.stepTurn(st.Turn)
	case st.WaitIdle:
		return r.stepWaitIdle()
	case st.Reconnect:
		r.closeSession(true)
		return r.attach(true)
	case st.Pause > 0:
		return sleepCtx(r.ctx, time.Duration(st.Pause))
	}
	return nil
}

// substitute replaces ${agent_id}, ${conversation_id} and ${cwd} in every
// string of a (copied) command.
func (r *run) substitute(v any, rep *strings.Replacer) any {
	switch x := v.(type) {
	case string:
		return rep.Replace(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = r.substitute(e, rep)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.substitute(e, rep)
		}
		return out
	}
	return v
}

func (r *run) replacer() *strings.Replacer {
	var cwd string
	r.exec(func() { cwd = r.cwd })
	return strings.NewReplacer("${agent_id}", r.agentID, "${conversation_id}", r.convID, "${cwd}", cwd)
}

func (r *run) stepSend(st Step) error {
	cmd := r.substitute(st.Send, r.replacer()).(map[string]any)
	typ, _ := cmd["type"].(string)
	if typ == "ping" {
		return r.stepPing()
	}
	info := r.c.model().Lookup(typ)
	switch {
	case wantsRequestID(info):
		return r.sendMatched(cmd, typ, info, st.AllowFailure)
	case info.Correlate == protocol.ByTerminalID:
		return r.sendTerminal(cmd, typ, info)
	default:
		return r.sendUncorrelated(cmd, typ)
	}
}

// sendMatched sends a command answered by request_id. A required reply is
// awaited; an optional one (sync, input, change_cwd) is checked after a
// barrier.
func (r *run) sendMatched(cmd map[string]any, typ string, info *protocol.TypeInfo, allowFailure bool) error {
	var q *request
	var err error
	if xerr := r.exec(func() {
		q, err = r.startRequest(cmd, "rq", true)
		if err == nil && typ == "sync" {
			r.rep.SyncsSent++
		}
	}); xerr != nil {
		return xerr // the run is over: the request was never started
	}
	if err != nil {
		return err
	}
	if info.ReplyOptional {
		if err := r.barrier(); err != nil {
			return err
		}
		var f *frame
		var rerr error
		done := false
		r.exec(func() {
			done = q.finished
			if done {
				f, rerr = q.reply, q.err
			}
		})
		if !done {
			return nil
		}
		if errors.Is(rerr, errDisconnected) {
			return rerr
		}
		r.checkReply(q, cmd, f, rerr, allowFailure)
		return nil
	}
	f, rerr := r.await(q, r.c.requestTimeout())
	if errors.Is(rerr, errDisconnected) {
		return rerr
	}
	if r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	r.checkReply(q, cmd, f, rerr, allowFailure)
	return nil
}

// checkReply applies the client's assertions to a reply.
func (r *run) checkReply(q *request, cmd map[string]any, f *frame, err error, allowFailure bool) {
	r.exec(func() {
		switch {
		case errors.Is(err, errTimeout):
			r.rep.Unanswered = append(r.rep.Unanswered, q.typ+" "+q.id)
			r.rep.failf("%s %s: no accepted reply within %v", q.typ, q.id, r.c.requestTimeout())
			return
		case err != nil:
			if !allowFailure {
				r.rep.failf("%s %s: %v", q.typ, q.id, err)
			}
			return
		}
		var v map[string]any
		if f.decode(&v) != nil {
			r.rep.failf("%s %s: reply is not JSON", q.typ, q.id)
			return
		}
		if s, ok := v["success"].(bool); ok && !s {
			if !allowFailure {
				r.rep.failf("%s %s: %s success=false: %v", q.typ, q.id, f.typ, v["error"])
			}
			return
		}
		if a, ok := v["accepted"].(bool); ok && !a && !allowFailure {
			r.rep.failf("%s %s: %s accepted=false: %v", q.typ, q.id, f.typ, v["error"])
			return
		}
		r.trackFiles(q.typ, cmd, v)
	})
}

// trackFiles checks that read_file returns what write_file and edit_file
// left.
func (r *run) trackFiles(typ string, cmd, reply map[string]any) {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	switch typ {
	case "write_file":
		r.written[str(cmd, "path")] = str(cmd, "content")
	case "edit_file":
		p := str(cmd, "file_path")
		if old, ok := r.written[p]; ok {
			n := 1
			if b, _ := cmd["replace_all"].(bool); b {
				n = -1
			}
			r.written[p] = strings.Replace(old, str(cmd, "old_string"), str(cmd, "new_string"), n)
		}
	case "read_file":
		p := str(cmd, "path")
		want, ok := r.written[p]
		if !ok || (str(cmd, "encoding") != "" && str(cmd, "encoding") != "utf8") {
			return
		}
		if got := str(reply, "content"); got != want {
			r.rep.failf("read_file %s returned %q, want %q (what was written)", p, got, want)
		}
	}
}

// sendTerminal sends a terminal command correlated by terminal_id.
func (r *run) sendTerminal(cmd map[string]any, typ string, info *protocol.TypeInfo) error {
	id, _ := cmd["terminal_id"].(string)
	var w *waiter
	var s *session
	var err error
	if xerr := r.exec(func() {
		s = r.sess
		w = r.addWaiter(func(f *frame) bool { return info.Accepts(f.typ) && string(f.env.TerminalID) == id })
		if _, err = r.startRequest(cmd, "term", true); err != nil {
			r.waiters = r.waiters[:len(r.waiters)-1]
		}
	}); xerr != nil {
		return xerr
	}
	if err != nil {
		return err
	}
	if !info.ReplyOptional {
		_, err := r.wait(w, s, r.c.requestTimeout())
		if errors.Is(err, errTimeout) {
			r.exec(func() { r.rep.failf("%s %s: no %v within %v", typ, id, info.Replies, r.c.requestTimeout()) })
			return nil
		}
		return err
	}
	if err := r.barrier(); err != nil {
		return err
	}
	r.dropWaiter(w)
	return nil
}

// sendUncorrelated sends a command without a matched reply and waits for
// its effect: update_device_status for change_device_state, the echo for
// terminal_input, a barrier otherwise.
func (r *run) sendUncorrelated(cmd map[string]any, typ string) error {
	var match func(*frame) bool
	what := ""
	switch typ {
	case "change_device_state":
		p, _ := cmd["payload"].(map[string]any)
		cwd, _ := p["cwd"].(string)
		mode, _ := p["mode"].(string)
		what = "update_device_status reflecting the change"
		match = func(f *frame) bool {
			if f.typ != "update_device_status" {
				return false
			}
			var v struct {
				S struct {
					Cwd  string `json:"current_working_directory"`
					Mode string `json:"current_permission_mode"`
				} `json:"device_status"`
			}
			if f.decode(&v) != nil {
				return false
			}
			return (cwd == "" || strings.TrimRight(v.S.Cwd, "/") == strings.TrimRight(cwd, "/")) && (mode == "" || v.S.Mode == mode)
		}
	case "terminal_input":
		id, _ := cmd["terminal_id"].(string)
		data, _ := cmd["data"].(string)
		line := strings.TrimRight(data, "\r\n")
		what = "terminal_output echoing the input"
		match = func(f *frame) bool {
			if f.typ != "terminal_output" && f.typ != "terminal_exited" || string(f.env.TerminalID) != id {
				return false
			}
			var v struct {
				Data string `json:"data"`
			}
			f.decode(&v)
			return f.typ == "terminal_exited" || strings.Contains(v.Data, line)
		}
	}
	var w *waiter
	var s *session
	var err error
	r.exec(func() {
		s = r.sess
		if match != nil {
			w = r.addWaiter(match)
		}
		if _, err = r.startRequest(cmd, "cmd", true); err != nil && w != nil {
			r.waiters = r.waiters[:len(r.waiters)-1]
		}
	})
	if err != nil {
		return err
	}
	if w == nil {
		return r.barrier()
	}
	_, err = r.wait(w, s, r.c.requestTimeout())
	if errors.Is(err, errTimeout) {
		r.exec(func() { r.rep.failf("%s: no %s within %v", typ, what, r.c.requestTimeout()) })
		return nil
	}
	return err
}

// stepPing sends a ping on the command socket and waits for the pong.
func (r *run) stepPing() error {
	if r.c.Inject.NeverPing {
		return nil
	}
	s, _ := r.sessionState()
	if s == nil {
		return errDisconnected
	}
	ch := make(chan struct{})
	ok := false
	r.exec(func() {
		ok = r.ping(s.control, func() { close(ch) })
		if ok {
			r.commandTypes["ping"] = true
		}
	})
	if !ok {
		return errDisconnected
	}
	t := time.NewTimer(r.c.requestTimeout())
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-s.lost:
		return errDisconnected
	case <-t.C:
		r.exec(func() { r.rep.failf("ping: no pong within %v", r.c.requestTimeout()) })
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// stepTurn runs a turn and checks it: it goes idle again, asks for an
// approval when expected, and the tool ran (allow) or did not (deny).
func (r *run) stepTurn(t *Turn) error {
	obs := &turnObs{decision: t.decision(), done: make(chan struct{})}
	var s *session
	var err error
	r.exec(func() {
		s = r.sess
		r.rep.Turns++
		r.turn = obs
		r.nreq++
		cmd := map[string]any{
			"type":    "input",
			"runtime": map[string]any{"agent_id": r.agentID, "conversation_id": r.convID},
			"payload": map[string]any{"kind": "create_message", "supports_control_response": true,
				"messages": []any{map[string]any{"role": "user", "content": t.Message,
					"client_message_id": fmt.Sprintf("cm-%s-%d", r.prefix, r.nreq)}}},
		}
		if _, err = r.startRequest(cmd, "in", true); err == nil {
			obs.sent = true
		}
	})
	if err != nil {
		return err
	}
	tm := time.NewTimer(r.c.turnTimeout())
	defer tm.Stop()
	select {
	case <-obs.done:
	case <-s.lost:
		return errDisconnected
	case <-tm.C:
		r.exec(func() {
			obs.finished = true
			r.rep.failf("turn %q did not reach %s within %v", t.Message, protocol.LoopIdle, r.c.turnTimeout())
		})
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
	r.exec(func() {
		want := t.expectsApproval()
		switch {
		case want && obs.approvals == 0:
			r.rep.failf("turn %q: no control_request to approve", t.Message)
		case !want && obs.approvals > 0:
			r.rep.failf("turn %q: unexpected control_request", t.Message)
		case want:
			status := "success"
			if obs.decision != "allow" {
				status = "error"
			}
			found := false
			for _, st := range obs.toolStatus {
				found = found || st == status
			}
			if !found {
				r.rep.failf("turn %q: no tool_return_message with status %s after %s", t.Message, status, obs.decision)
			}
		}
	})
	return nil
}

// stepWaitIdle waits until the loop status is WAITING_ON_INPUT (an unknown
// status counts as idle).
func (r *run) stepWaitIdle() error {
	var w *waiter
	var s *session
	r.exec(func() {
		s = r.sess
		if r.status != "" && r.status != protocol.LoopIdle {
			w = r.addWaiter(func(f *frame) bool {
				return f.typ == "update_loop_status" && string(f.env.LoopStatus) == protocol.LoopIdle
			})
		}
	})
	if w == nil {
		return nil
	}
	_, err := r.wait(w, s, r.c.turnTimeout())
	if errors.Is(err, errTimeout) {
		r.exec(func() { r.rep.failf("wait_idle: not %s within %v", protocol.LoopIdle, r.c.turnTimeout()) })
		return nil
	}
	return err
}
