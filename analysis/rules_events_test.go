package analysis

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// twoSockets opens the control (c) and stream (s) sockets of conn-1.
func twoSockets() *script {
	s := newScript()
	s.open("c", "conn-1", "control")
	s.open("s", "conn-1", "stream")
	return s
}

func TestEventSeqInterleavingInsideWindow(t *testing.T) {
	s := twoSockets()
	// The stream socket delivers 2, 4, 6 ahead of control's 1, 3, 5.
	for _, n := range []int64{2, 1, 4, 3, 6, 5, 7, 9, 8} {
		conn := "s"
		if n%2 == 1 {
			conn = "c"
		}
		s.after(100*time.Millisecond).server(conn, ev("update_queue", n, ""))
	}
	none(t, s.run(quiet()))
}

func TestEventSeqGap(t *testing.T) {
	s := twoSockets()
	s.server("s", ev("update_queue", 1, ""))
	l2 := s.server("s", ev("update_queue", 2, ""))
	l5 := s.after(10*time.Millisecond).server("c", ev("turn_finished", 5, ""))
	s.after(10*time.Millisecond).server("s", ev("update_queue", 6, ""))
	s.after(10*time.Millisecond).client("c", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
	s.after(2*time.Second).server("s", ev("update_queue", 7, ""))
	fs := s.run(quiet())
	f := want(t, fs, RuleEventSeqGap, 1)
	check(t, f[0], Error, l5, l2, "3-4")
	if f[0].Conn != "c" || f[0].Channel != "control" || !strings.Contains(f[0].Message, "jumped from 2 to 5") {
		t.Fatalf("gap finding: %+v", f[0])
	}
	if len(fs) != 1 {
		t.Fatalf("extra findings:%s", dump(fs))
	}
}

func TestEventSeqWindow(t *testing.T) {
	// late: the missing value arrives d after the one beyond it.
	late := func(d time.Duration, events int) []Finding {
		s := twoSockets()
		s.server("s", ev("update_queue", 1, ""))
		s.server("s", ev("update_queue", 3, ""))
		for i := 0; i < events; i++ {
			s.server("s", ev("update_queue", int64(4+i), ""))
		}
		s.after(d).server("c", ev("turn_finished", 2, ""))
		s.client("c", `{"type":"sync",`+rt+`}`)
		return s.run(quiet())
	}
	none(t, late(900*time.Millisecond, 0))
	none(t, late(0, 63))
	fs := late(1100*time.Millisecond, 0)
	check(t, want(t, fs, RuleEventSeqGap, 1)[0], Error, 5, 4, "2-2")
	want(t, fs, RuleEventSeqRegression, 1)
	fs = late(0, 70)
	want(t, fs, RuleEventSeqGap, 1)
	want(t, fs, RuleEventSeqRegression, 1)

	// A configured window.
	s := twoSockets()
	s.server("s", ev("update_queue", 1, ""))
	s.server("s", ev("update_queue", 3, ""))
	s.after(3*time.Second).server("c", ev("turn_finished", 2, ""))
	none(t, s.run(Config{Disable: quiet().Disable, ReorderWindow: 5 * time.Second}))
}

func TestEventSeqGapFiresOnAdvance(t *testing.T) {
	var got []Finding
	e := New(Config{Heartbeat: time.Hour, OnFinding: func(f Finding) { got = append(got, f) }})
	s := twoSockets()
	s.server("s", ev("update_queue", 1, ""))
	s.server("s", ev("update_queue", 4, ""))
	for _, r := range s.recs {
		e.Write(r)
	}
	e.Advance(t0.Add(999 * time.Millisecond))
	if len(got) != 0 {
		t.Fatalf("inside the window: %s", dump(got))
	}
	e.Advance(t0.Add(time.Second))
	if f := of(got, RuleEventSeqGap); len(f) != 1 || f[0].Subject != "2-3" {
		t.Fatalf("after the window: %s", dump(got))
	}
	e.Advance(t0.Add(11 * time.Second))
	if f := of(got, RuleGapWithoutSync); len(f) != 1 || f[0].Subject != "2-3" {
		t.Fatalf("after the sync timeout: %s", dump(got))
	}
	e.Finish(time.Time{})
}

func TestEventSeqGapAtEnd(t *testing.T) {
	s := twoSockets()
	s.server("s", ev("update_queue", 1, ""))
	s.server("s", ev("update_queue", 2, ""))
	s.server("s", ev("update_queue", 9, ""))
	s.close("c")
	s.close("s")
	fs := s.run(quiet())
	want(t, fs, RuleEventSeqGap, 1)
	if fs[0].Subject != "3-8" || len(fs) != 1 {
		t.Fatalf("findings:%s", dump(fs))
	}
}

func TestEventSeqReconnect(t *testing.T) {
	t.Run("same connection id continues", func(t *testing.T) {
		s := twoSockets()
		s.server("s", ev("update_queue", 1, ""))
		s.server("s", ev("update_queue", 2, ""))
		s.close("c")
		s.close("s")
		s.after(time.Second).open("c2", "conn-1", "control")
		s.open("s2", "conn-1", "stream")
		s.server("s2", ev("update_queue", 3, ""))
		none(t, s.run(quiet()))

		s = twoSockets()
		s.server("s", ev("update_queue", 1, ""))
		s.close("c")
		s.close("s")
		s.after(time.Second).open("c2", "conn-1", "control")
		s.open("s2", "conn-1", "stream")
		l := s.server("s2", ev("update_queue", 4, ""))
		s.client("c2", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
		s.close("c2")
		s.close("s2")
		fs := s.run(quiet())
		f := want(t, fs, RuleEventSeqGap, 1)
		check(t, f[0], Error, l, 4, "2-3")
		if f[0].Socket != 2 || f[0].Channel != "stream" {
			t.Fatalf("socket ordinal: %+v", f[0])
		}
	})
	t.Run("new connection id restarts at 1", func(t *testing.T) {
		s := twoSockets()
		for n := int64(1); n <= 5; n++ {
			s.server("s", ev("update_queue", n, ""))
		}
		s.close("c")
		s.close("s")
		s.open("c2", "conn-2", "control")
		s.open("s2", "conn-2", "stream")
		for n := int64(1); n <= 3; n++ {
			s.server("s2", ev("update_queue", n, ""))
		}
		none(t, s.run(quiet()))
	})
}

func TestEventSeqRegression(t *testing.T) {
	t.Run("backwards with a new key", func(t *testing.T) {
		s := twoSockets()
		for n := int64(1); n <= 4; n++ {
			s.server("s", ev("update_queue", n, ""))
		}
		l4 := int64(len(s.recs) + 1)
		l := s.after(2*time.Second).server("s", strings.Replace(ev("update_queue", 2, ""), "u-2", "other", 1))
		fs := s.run(quiet())
		check(t, want(t, fs, RuleEventSeqRegression, 1)[0], Error, l, l4, "2")
		if len(fs) != 1 {
			t.Fatalf("findings:%s", dump(fs))
		}
	})
	t.Run("repeat inside the window", func(t *testing.T) {
		s := twoSockets()
		s.server("s", ev("update_queue", 1, ""))
		l3 := s.server("s", ev("update_queue", 3, ""))
		l := s.server("c", `{"type":"turn_finished",`+rt+`,"event_seq":3}`)
		s.server("c", ev("turn_finished", 2, ""))
		fs := s.run(quiet())
		check(t, want(t, fs, RuleEventSeqRegression, 1)[0], Error, l, l3, "3")
		if len(fs) != 1 {
			t.Fatalf("findings:%s", dump(fs))
		}
	})
	t.Run("redelivery is not a regression", func(t *testing.T) {
		s := twoSockets()
		for n := int64(1); n <= 4; n++ {
			s.server("s", ev("update_queue", n, ""))
		}
		s.after(2*time.Second).server("s", ev("update_queue", 2, ""))
		fs := s.run(quiet())
		want(t, fs, RuleDuplicateKey, 1)
		want(t, fs, RuleEventSeqRegression, 0)
	})
}

func TestGapWithoutSync(t *testing.T) {
	gap := func(syncAfter time.Duration) (*script, int64) {
		s := twoSockets()
		s.server("s", ev("update_queue", 1, ""))
		l := s.server("s", ev("update_queue", 3, ""))
		s.after(5*time.Second).server("s", ev("update_queue", 4, ""))
		if syncAfter >= 0 {
			s.to(syncAfter).client("c", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
		}
		s.to(30*time.Second).server("s", ev("update_queue", 5, ""))
		return s, l
	}
	s, _ := gap(2 * time.Second)
	want(t, s.run(quiet()), RuleGapWithoutSync, 0)
	s, _ = gap(0) // synced while the gap was still in its window
	want(t, s.run(quiet()), RuleGapWithoutSync, 0)
	s, l := gap(-1)
	check(t, want(t, s.run(quiet()), RuleGapWithoutSync, 1)[0], Warning, l, 0, "2-2")
	s, l = gap(12 * time.Second)
	fs := s.run(quiet())
	check(t, want(t, fs, RuleGapWithoutSync, 1)[0], Warning, l, int64(len(s.recs)), "2-2")
}

func TestDuplicateIdempotencyKey(t *testing.T) {
	t.Run("redelivery, identical apart from seq", func(t *testing.T) {
		s := twoSockets()
		first := s.server("s", `{"type":"update_queue","seq":1,`+rt+`,"event_seq":1,"idempotency_key":"update_queue:1:abc"}`)
		s.client("s", `{"type":"ack","seq":1}`)
		again := s.server("s", `{"type":"update_queue","seq":2,`+rt+`,"event_seq":1,"idempotency_key":"update_queue:1:abc"}`)
		s.client("s", `{"type":"ack","seq":2}`)
		// seq last, the relay's other placement
		s.server("s", `{"type":"update_queue",`+rt+`,"event_seq":2,"idempotency_key":"update_queue:2:def","seq":3}`)
		s.client("s", `{"type":"ack","seq":3}`)
		again2 := s.server("s", `{"type":"update_queue",`+rt+`,"event_seq":2,"idempotency_key":"update_queue:2:def","seq":14}`)
		s.client("s", `{"type":"ack","seq":14}`)
		fs := s.run(quiet())
		f := want(t, fs, RuleDuplicateKey, 2)
		check(t, f[0], Warning, again, first, "update_queue:1:abc")
		if !strings.Contains(f[0].Message, "identical apart from seq") {
			t.Fatalf("message: %s", f[0].Message)
		}
		check(t, f[1], Warning, again2, first+4, "update_queue:2:def")
		if len(fs) != 2 {
			t.Fatalf("findings:%s", dump(fs))
		}
	})
	t.Run("different payload", func(t *testing.T) {
		s := twoSockets()
		first := s.server("s", ev("stream_delta", 1, `"delta":{"content":"a"}`))
		again := s.server("s", ev("stream_delta", 1, `"delta":{"content":"b"}`))
		fs := s.run(quiet())
		f := want(t, fs, RuleDuplicateKey, 1)
		check(t, f[0], Error, again, first, "stream_delta:1:u-1")
		if !strings.Contains(f[0].Message, "different payload") {
			t.Fatalf("message: %s", f[0].Message)
		}
		if len(fs) != 1 {
			t.Fatalf("findings:%s", dump(fs))
		}
	})
	t.Run("distinct keys", func(t *testing.T) {
		s := twoSockets()
		for n := int64(1); n <= 100; n++ {
			s.server("s", ev("stream_delta", n, fmt.Sprintf(`"seq_id":%d`, n)))
		}
		none(t, s.run(quiet()))
	})
}
