package sim_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/sim"
)

func input(id, text string) map[string]any {
	return map[string]any{"type": "input", "request_id": id, "runtime": runtime,
		"payload": map[string]any{"kind": "create_message", "messages": []any{map[string]any{"role": "user", "content": text}}}}
}

func lastStatus(ms []msg) string {
	s := ""
	for _, m := range ms {
		if m.str("type") == "update_loop_status" {
			s = status(m)
		}
	}
	return s
}

func TestAbortAndRecoverApprovals(t *testing.T) {
	s := &sim.Server{}
	start(t, s)
	w := dial(t, s, "", nil)
	w.send(input("in1", "run make test"))
	first := w.until("control_request")
	perm := first[len(first)-1].str("request_id")

	// sync without recover_approvals: state only; with it: the pending
	// control_request again, as a new event.
	w.send(map[string]any{"type": "sync", "request_id": "s1", "runtime": runtime})
	if got := types(w.until("sync_response")); strings.Contains(strings.Join(got, ","), "control_request") {
		t.Fatalf("sync without recover_approvals replayed approvals: %v", got)
	}
	w.send(map[string]any{"type": "sync", "request_id": "s2", "runtime": runtime, "recover_approvals": true})
	got := w.until("sync_response")
	var replay msg
	for _, m := range got {
		if m.str("type") == "control_request" {
			replay = m
		}
	}
	if replay == nil || replay.str("request_id") != perm || replay.num("event_seq") <= first[len(first)-1].num("event_seq") {
		t.Fatalf("recovered approval: %v", types(got))
	}
	if st := lastStatus(got); st != "WAITING_ON_APPROVAL" {
		t.Fatalf("synced loop status %q", st)
	}

	w.send(map[string]any{"type": "abort_message", "request_id": "ab1", "runtime": runtime})
	got = w.until("abort_message_response")
	end := got[len(got)-1]
	if end["aborted"] != true || lastStatus(got) != "WAITING_ON_INPUT" {
		t.Fatalf("abort: %v %v", types(got), end)
	}
	stop := ""
	for _, m := range got {
		if m.str("type") == "turn_finished" {
			stop = m.str("stop_reason")
		}
	}
	if stop != "cancelled" {
		t.Fatalf("turn_finished stop_reason %q", stop)
	}
	// The approval is gone: answering it is refused.
	w.send(map[string]any{"type": "input", "request_id": "ap", "runtime": runtime,
		"payload": map[string]any{"kind": "approval_response", "request_id": perm, "decision": map[string]any{"behavior": "allow"}}})
	if m := w.recv(); m.str("type") != "input_accepted" || m["accepted"] != false {
		t.Fatalf("stale approval: %v", m)
	}
	// Idle abort.
	w.send(map[string]any{"type": "abort_message", "request_id": "ab2", "runtime": runtime})
	if m := w.recv(); m.str("type") != "abort_message_response" || m["aborted"] != false {
		t.Fatalf("idle abort: %v", m)
	}
	// Unknown payload kind: a loop_error delta.
	w.send(map[string]any{"type": "input", "request_id": "bad", "runtime": runtime, "payload": map[string]any{"kind": "bogus"}})
	m := w.recv()
	if d, _ := m["delta"].(map[string]any); m.str("type") != "stream_delta" || d["message_type"] != "loop_error" {
		t.Fatalf("bogus kind: %v", m)
	}
}

func TestReferenceDialect(t *testing.T) {
	s := &sim.Server{Dialect: sim.DialectReference}
	start(t, s)
	w := dial(t, s, "", nil)
	w.send(map[string]any{"type": "sync", "request_id": "s1", "runtime": runtime})
	if got := types(w.fence()); strings.Join(got, ",") != "update_device_status,update_loop_status,update_queue" {
		t.Fatalf("reference sync: %v", got)
	}
	w.send(map[string]any{"type": "abort_message", "request_id": "ab", "runtime": runtime})
	if m := w.recv(); m.str("type") != "cancel_ack" || m.str("request_id") != "ab" || m["accepted"] != true {
		t.Fatalf("abort: %v", m)
	}
	w.send(map[string]any{"type": "change_device_state", "runtime": runtime, "payload": map[string]any{"cwd": "/workspace/project/docs"}})
	got := w.fence()
	if strings.Join(types(got), ",") != "update_device_status,cwd_changed" || got[1].str("cwd") != "/workspace/project/docs" {
		t.Fatalf("change_device_state cwd: %v", got)
	}
	ds, _ := got[0]["device_status"].(map[string]any)
	if ds["current_working_directory"] != "/workspace/project/docs" || ds["cwd_revision"] != float64(1) {
		t.Fatalf("device status %v", ds)
	}
	w.send(input("in", "hello"))
	got = w.fence()
	for _, typ := range types(got) {
		if typ == "input_accepted" || typ == "turn_finished" {
			t.Errorf("reference dialect sent %s", typ)
		}
	}
	if lastStatus(got) != "WAITING_ON_INPUT" {
		t.Errorf("turn did not end idle: %v", types(got))
	}
	w.send(map[string]any{"type": "search_branches", "request_id": "sb", "query": ""})
	if m := w.recv(); len(m["branches"].([]any)) != 3 {
		t.Fatalf("branches: %v", m)
	} else if _, ok := m["branches"].([]any)[0].(string); !ok {
		t.Fatalf("reference branches are strings: %v", m)
	}
}

func TestQueueAndPace(t *testing.T) {
	s := &sim.Server{Pace: time.Millisecond}
	start(t, s)
	w := dial(t, s, "", nil)
	w.send(input("a", "first"))
	w.send(input("b", "second"))
	var accepted []string
	idle := 0
	for idle < 2 {
		m := w.recv()
		switch m.str("type") {
		case "input_accepted":
			accepted = append(accepted, m.str("disposition"))
		case "update_loop_status":
			if status(m) == "WAITING_ON_INPUT" {
				idle++
			}
		}
	}
	if strings.Join(accepted, ",") != "started,queued" {
		t.Fatalf("dispositions %v", accepted)
	}
}

func TestReregister(t *testing.T) {
	s := &sim.Server{}
	start(t, s)
	w := dial(t, s, "", nil)
	w.send(map[string]any{"type": "sync", "request_id": "s", "runtime": runtime})
	w.until("sync_response")
	old := s.ConnectionID()
	id, err := s.Reregister(old)
	if err != nil || id == old || s.ConnectionID() != id {
		t.Fatalf("reregister: %q %v", id, err)
	}
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = w.c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("want close 1008, got %v", err)
	}
	w2 := dial(t, s, "", nil)
	w2.send(map[string]any{"type": "sync", "request_id": "s", "runtime": runtime})
	if m := w2.recv(); m.num("event_seq") != 1 {
		t.Fatalf("event_seq after re-registration: %v", m)
	}
	if _, err := s.Reregister("nope"); err == nil {
		t.Error("reregister of an unknown connection succeeded")
	}
}

func TestDevicePing(t *testing.T) {
	s := &sim.Server{DevicePingInterval: 5 * time.Millisecond}
	start(t, s)
	w := dial(t, s, "", nil)
	for i := 0; i < 4; i++ { // answered: the socket stays
		m := w.recv()
		if m.str("type") != "ping" || m.num("seq") != int64(i+1) {
			t.Fatalf("device ping %d: %v", i, m)
		}
		w.send(`{"type":"pong"}`)
	}
	// Unanswered: dropped after three pings.
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := w.c.ReadMessage()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("socket not dropped after unanswered pings: %v", err)
		}
		break
	}
}

// The fault choices follow the seed: the same seed and traffic give the
// same faults, another seed other ones.
func TestSeedChoosesFaults(t *testing.T) {
	knobs := sim.Faults{GapEvery: 4, DuplicateEvery: 5, AlterEvery: 7}
	positions := func(seed int64) string {
		s := &sim.Server{Seed: seed, Inject: knobs}
		start(t, s)
		w := dial(t, s, "", nil)
		for i := 0; i < 6; i++ {
			w.send(map[string]any{"type": "sync", "request_id": "s", "runtime": runtime})
			w.until("sync_response")
		}
		var out []string
		for _, f := range s.Faults() {
			d := f.Detail
			if i := strings.Index(d, "event_seq"); i >= 0 {
				d = d[i:]
			}
			out = append(out, f.Knob+" "+d)
		}
		w.c.Close()
		return strings.Join(out, "; ")
	}
	a, b, c := positions(1), positions(1), positions(2)
	if a == "" || a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatalf("seeds 1 and 2 chose the same faults: %s", a)
	}
}
