package replay_test

import (
	"fmt"
	"strings"

	"github.com/lettadev/wsproxy/trace"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/replay"
)

func testOpts() replay.Options {
	return replay.Options{Timeout: 2 * time.Second, Linger: 50 * time.Millisecond}
}

func TestReactiveTwoSockets(t *testing.T) {
	b := twoSocketTrace()
	path := b.write(t)
	srv := replay.NewTestServer(t, path, testOpts())
	pongs := play(t, srv.URL, b.recs, playOpts{ping: true})
	r := srv.RequireNoDivergence()
	if pongs < 2 {
		t.Errorf("got %d pongs, want a JSON pong and a WebSocket pong", pongs)
	}
	if len(r.Sessions) != 1 {
		t.Fatalf("sessions: %+v", r.Sessions)
	}
	s := r.Sessions[0]
	if s.Counts.Matched != 4 {
		t.Errorf("matched %d, want 4:\n%+v", s.Counts.Matched, s.Matched)
	}
	for _, c := range s.Conns {
		if !c.Connected || c.Unacked != 0 || c.Acked != c.SeqSent || c.SeqSent == 0 {
			t.Errorf("conn %+v", c)
		}
	}
	for _, m := range s.Matched {
		if m.RequestID != "" && (m.LiveRequestID == "" || m.LiveRequestID == m.RequestID) {
			t.Errorf("matched %+v: live request_id not recorded", m)
		}
	}
}

func TestSkippedCommandIsMissing(t *testing.T) {
	b := twoSocketTrace()
	path := b.write(t)
	srv := replay.NewTestServer(t, path, testOpts())
	play(t, srv.URL, b.recs, playOpts{skip: "list_models", noCheck: true})
	r := srv.Report()
	want := lineOf(b.recs, trace.Client, "list_models")
	if r.Totals.Missing != 1 || r.Divergences() != 1 {
		t.Fatalf("want one missing frame:\n%s\n%+v", r, r.All())
	}
	m := r.Sessions[0].Missing[0]
	if m.Line != want || m.Type != "list_models" || m.Conn != "c1" || m.Channel != "control" {
		t.Errorf("missing entry %+v, want list_models at line %d", m, want)
	}
}

func TestExtraCommandIsUnexpected(t *testing.T) {
	b := twoSocketTrace()
	path := b.write(t)
	srv := replay.NewTestServer(t, path, testOpts())
	play(t, srv.URL, b.recs, playOpts{extra: `{"type":"get_experiments","request_id":"gx-1"}`})
	r := srv.Report()
	if r.Totals.Unexpected != 1 || r.Divergences() != 1 {
		t.Fatalf("want one unexpected frame:\n%s\n%+v", r, r.All())
	}
	u := r.Sessions[0].Unexpected[0]
	next := lineOf(b.recs, trace.Client, "input")
	if u.Got != "get_experiments" || u.LiveRequestID != "gx-1" || !strings.Contains(u.Reason, fmt.Sprintf("trace line %d", next)) {
		t.Errorf("unexpected entry %+v, want get_experiments naming line %d", u, next)
	}
}

func TestGarbageFramesAreUnexpected(t *testing.T) {
	b := twoSocketTrace()
	path := b.write(t)
	srv := replay.NewTestServer(t, path, testOpts())
	play(t, srv.URL, b.recs, playOpts{garbage: true})
	r := srv.Report()
	if r.Totals.Unexpected != 2 || r.Divergences() != 2 || r.Totals.Matched != 4 {
		t.Fatalf("want two unexpected frames and the rest matched:\n%s\n%+v", r, r.All())
	}
	got := r.Sessions[0].Unexpected
	if !strings.HasPrefix(got[0].Got, "non-JSON text frame") || got[1].Got != "binary frame" {
		t.Errorf("unexpected entries %+v", got)
	}
}
