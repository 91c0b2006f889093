package analysis

import (
	"testing"
	"time"
)

func TestUnackedSeq(t *testing.T) {
	t.Run("acked in time", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.server("c", `{"type":"pong","seq":1}`)
		s.after(9*time.Second).client("c", `{"type":"ack","seq":1}`)
		s.close("c")
		none(t, s.run(quiet()))
	})
	t.Run("never acked, socket closes", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l1 := s.server("c", `{"type":"file_changed","seq":1}`)
		s.server("c", `{"type":"file_changed","seq":2}`)
		s.client("c", `{"type":"ack","seq":2}`)
		cl := s.close("c")
		f := want(t, s.run(quiet()), RuleUnackedSeq, 1)
		check(t, f[0], Error, l1, cl, "1")
		if f[0].Channel != "control" || f[0].Socket != 1 || f[0].Session.ConnectionID != "conn-1" || f[0].Conn != "c" {
			t.Fatalf("finding context: %+v", f[0])
		}
	})
	t.Run("acked late", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l1 := s.server("c", `{"type":"file_changed","seq":1}`)
		la := s.after(11*time.Second).client("c", `{"type":"ack","seq":1}`)
		f := want(t, s.run(quiet()), RuleUnackedSeq, 1)
		check(t, f[0], Error, l1, la, "1")
	})
	t.Run("timeout fires on Advance, one finding per seq", func(t *testing.T) {
		var got []Finding
		e := New(Config{Heartbeat: time.Hour, OnFinding: func(f Finding) { got = append(got, f) }})
		s := newScript()
		s.open("c", "conn-1", "control")
		s.server("c", `{"type":"file_changed","seq":1}`)
		s.server("c", `{"type":"file_changed","seq":2}`)
		for _, r := range s.recs {
			e.Write(r)
		}
		e.Advance(t0.Add(9 * time.Second))
		if len(got) != 0 {
			t.Fatalf("early: %s", dump(got))
		}
		e.Advance(t0.Add(10 * time.Second))
		if len(of(got, RuleUnackedSeq)) != 2 {
			t.Fatalf("after the timeout: %s", dump(got))
		}
		// A late ack after the finding is not reported again, nor unknown.
		s2 := newScript().to(12 * time.Second)
		s2.client("c", `{"type":"ack","seq":1}`)
		e.Write(s2.recs[0])
		e.Finish(time.Time{})
		if len(got) != 2 {
			t.Fatalf("after the late ack: %s", dump(got))
		}
	})
	t.Run("socket closes with seq unacked", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "stream")
		l := s.server("c", ev("stream_delta", 1, `"seq":1`))
		lc := s.close("c")
		f := want(t, s.run(quiet()), RuleUnackedSeq, 1)
		check(t, f[0], Error, l, lc, "1")
	})
	t.Run("acks are per socket", func(t *testing.T) {
		s := newScript()
		s.open("a", "conn-1", "control")
		s.open("b", "conn-1", "stream")
		l := s.server("a", `{"type":"file_changed","seq":1}`)
		lb := s.client("b", `{"type":"ack","seq":1}`)
		s.close("a")
		s.close("b")
		fs := s.run(quiet())
		check(t, want(t, fs, RuleUnackedSeq, 1)[0], Error, l, l+2, "1")
		check(t, want(t, fs, RuleAckUnknownSeq, 1)[0], Error, lb, 0, "1")
	})
}

func TestAckUnknownSeq(t *testing.T) {
	s := newScript()
	s.open("c", "conn-1", "control")
	s.server("c", `{"type":"file_changed","seq":1}`)
	s.server("c", `{"type":"file_changed","seq":2}`)
	s.client("c", `{"type":"ack","seq":1}`)
	s.client("c", `{"type":"ack","seq":1}`) // a repeat: fine
	s.client("c", `{"type":"ack","seq":2}`)
	l := s.client("c", `{"type":"ack","seq":7}`)
	f := want(t, s.run(quiet()), RuleAckUnknownSeq, 1)
	check(t, f[0], Error, l, 0, "7")
}

func TestSeqRegression(t *testing.T) {
	t.Run("increasing", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		for i, p := range []string{`{"type":"file_changed","seq":1}`, `{"type":"file_changed","seq":2}`, `{"type":"file_changed","seq":5}`} {
			s.server("c", p)
			s.client("c", `{"type":"ack","seq":`+[]string{"1", "2", "5"}[i]+`}`)
		}
		none(t, s.run(quiet()))
	})
	t.Run("repeat and backwards", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.server("c", `{"type":"file_changed","seq":1}`)
		l2 := s.server("c", `{"type":"file_changed","seq":2}`)
		r1 := s.server("c", `{"type":"file_changed","seq":2}`)
		r2 := s.server("c", `{"type":"file_changed","seq":1}`)
		s.client("c", `{"type":"ack","seq":1}`)
		s.client("c", `{"type":"ack","seq":2}`)
		fs := s.run(quiet())
		f := want(t, fs, RuleSeqRegression, 2)
		check(t, f[0], Error, r1, l2, "2")
		check(t, f[1], Error, r2, l2, "1")
		want(t, fs, RuleUnackedSeq, 0)
	})
}
