package analysis

import (
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// only returns a config with every rule but these disabled.
func only(ids ...string) Config {
	var off []string
	for _, r := range rules {
		keep := false
		for _, id := range ids {
			keep = keep || r.ID == id
		}
		if !keep {
			off = append(off, r.ID)
		}
	}
	return Config{Disable: off}
}

func TestMissingHeartbeat(t *testing.T) {
	t.Run("pings every 30s", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		for i := 0; i < 5; i++ {
			s.after(30*time.Second).client("c", `{"type":"ping"}`)
			s.server("c", `{"type":"pong"}`)
		}
		s.after(30 * time.Second).close("c")
		none(t, s.run(only(RuleMissingHeartbeat, RulePingWithoutPong)))
	})
	t.Run("silent from open", func(t *testing.T) {
		s := newScript()
		l := s.open("c", "conn-1", "control")
		s.after(100*time.Second).server("c", `{"type":"file_changed"}`)
		check(t, want(t, s.run(only(RuleMissingHeartbeat)), RuleMissingHeartbeat, 1)[0], Warning, l, 0, "")
	})
	t.Run("late ping", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.after(10*time.Second).client("c", `{"type":"ping"}`)
		p := s.after(36*time.Second).client("c", `{"type":"ping"}`)
		s.after(time.Second).close("c")
		check(t, want(t, s.run(only(RuleMissingHeartbeat)), RuleMissingHeartbeat, 1)[0], Warning, l, p, "")
	})
	t.Run("silent until close", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.after(10*time.Second).client("c", `{"type":"ping"}`)
		cl := s.after(40 * time.Second).close("c")
		check(t, want(t, s.run(only(RuleMissingHeartbeat)), RuleMissingHeartbeat, 1)[0], Warning, l, cl, "")
	})
	t.Run("configured interval", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.after(50 * time.Second).close("c")
		cfg := only(RuleMissingHeartbeat)
		cfg.Heartbeat = time.Minute
		none(t, s.run(cfg))
	})
}

func TestPingWithoutPong(t *testing.T) {
	cfg := only(RulePingWithoutPong)
	t.Run("client ping answered", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.client("c", `{"type":"ping"}`)
		s.after(time.Second).server("c", `{"type":"pong","timestamp":1}`)
		s.after(time.Minute).close("c")
		none(t, s.run(cfg))
	})
	t.Run("client ping unanswered", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.client("c", `{"type":"ping"}`)
		s.after(time.Minute).close("c")
		check(t, want(t, s.run(cfg), RulePingWithoutPong, 1)[0], Warning, l, 0, "")
	})
	t.Run("client ping answered late", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.client("c", `{"type":"ping"}`)
		p := s.after(11*time.Second).server("c", `{"type":"pong"}`)
		check(t, want(t, s.run(cfg), RulePingWithoutPong, 1)[0], Warning, l, p, "")
	})
	t.Run("device ping answered on another socket", func(t *testing.T) {
		s := twoSockets()
		s.server("s", `{"type":"ping"}`)
		s.after(time.Second).client("c", `{"type":"pong"}`)
		s.after(time.Minute).close("c")
		none(t, s.run(cfg))
	})
	t.Run("device ping unanswered", func(t *testing.T) {
		s := twoSockets()
		l := s.server("s", `{"type":"ping"}`)
		s.after(time.Minute).close("c")
		f := want(t, s.run(cfg), RulePingWithoutPong, 1)
		check(t, f[0], Warning, l, 0, "")
		if f[0].Conn != "s" {
			t.Fatalf("conn %s", f[0].Conn)
		}
	})
	t.Run("WebSocket control frames", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.op("c", trace.Server, trace.OpPing, "x")
		s.op("c", trace.Client, trace.OpPong, "x")
		s.op("c", trace.Client, trace.OpPing, "y")
		s.op("c", trace.Client, trace.OpPong, "y") // the wrong side
		s.after(time.Minute).close("c")
		check(t, want(t, s.run(cfg), RulePingWithoutPong, 1)[0], Warning, 5, 0, "")
	})
}

func TestNoSyncOnAttach(t *testing.T) {
	cfg := only(RuleNoSyncOnAttach)
	t.Run("sync first", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.client("c", `{"type":"ping"}`)
		s.client("c", `{"type":"read_file","request_id":"rf-1"}`)
		s.client("c", `{"type":"list_models","request_id":"lm-1"}`)
		s.client("c", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
		s.client("c", `{"type":"read_file","request_id":"rf-2"}`)
		none(t, s.run(cfg))
	})
	t.Run("no sync", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.open("s", "conn-1", "stream") // no commands: nothing to say
		l := s.client("c", `{"type":"read_file","request_id":"rf-1"}`)
		s.client("c", `{"type":"sync",`+rt+`}`) // without recover_approvals
		third := s.client("c", `{"type":"list_models","request_id":"lm-1"}`)
		s.client("c", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
		f := want(t, s.run(cfg), RuleNoSyncOnAttach, 1)
		check(t, f[0], Warning, l, third, "")
	})
	t.Run("closed after fewer commands", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.client("c", `{"type":"read_file","request_id":"rf-1"}`)
		s.close("c")
		check(t, want(t, s.run(cfg), RuleNoSyncOnAttach, 1)[0], Warning, l, 0, "")
	})
}
