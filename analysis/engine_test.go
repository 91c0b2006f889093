package analysis

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// TestStateIsReleased opens and closes many sockets, sessions and
// requests: nothing stays behind, and the key window stays bounded.
func TestStateIsReleased(t *testing.T) {
	e := New(Config{KeyWindow: 100, SessionLinger: time.Second, Disable: quiet().Disable})
	s := newScript()
	for i := 0; i < 200; i++ {
		c := fmt.Sprintf("c%d", i)
		s.open(c, fmt.Sprintf("conn-%d", i%10), "control")
		s.client(c, `{"type":"read_file","request_id":"rf-1"}`)
		s.server(c, `{"type":"read_file_response","request_id":"rf-1"}`)
		s.server(c, ev("update_queue", int64(i/10+1), ""))
		s.after(10 * time.Millisecond).close(c)
	}
	for _, r := range s.recs {
		e.Write(r)
	}
	if st := e.Stats(); st.Sockets != 0 || st.MaxSockets != 1 || st.Sessions != 10 {
		t.Fatalf("stats after the closes: %+v", st)
	}
	e.Advance(t0.Add(time.Hour))
	if st := e.Stats(); st.Sessions != 0 || len(e.order) > 64 || len(e.sessList) > 64 {
		t.Fatalf("after the linger: %+v, %d sockets and %d sessions listed", st, len(e.order), len(e.sessList))
	}
	if e.Errors()+e.Warnings() != 0 {
		t.Fatalf("findings:%s", dump(e.Findings()))
	}

	// One session, many events: the key window stays at its bound.
	e = New(Config{KeyWindow: 100, Disable: quiet().Disable})
	s = newScript()
	s.open("s", "conn-1", "stream")
	for r := range 1000 {
		s.server("s", ev("stream_delta", int64(r+1), ""))
	}
	for _, r := range s.recs {
		e.Write(r)
	}
	for _, ss := range e.sessions {
		if len(ss.keys.m) != 100 || len(ss.keys.ring) != 100 {
			t.Fatalf("key window: %d keys, ring %d", len(ss.keys.m), len(ss.keys.ring))
		}
	}
	e.Finish(time.Time{})
}

// TestLocked writes from several goroutines while a ticker advances.
func TestLocked(t *testing.T) {
	l := NewLocked(New(Config{Collect: true, Disable: quiet().Disable}))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := fmt.Sprintf("c%d", g)
			s := newScript()
			s.open(conn, fmt.Sprintf("conn-%d", g), "control")
			for i := range 100 {
				s.client(conn, fmt.Sprintf(`{"type":"read_file","request_id":"rf-%d"}`, i))
				s.server(conn, fmt.Sprintf(`{"type":"read_file_response","request_id":"rf-%d"}`, i))
			}
			for _, r := range s.recs {
				l.Write(r)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			l.Advance(t0)
			l.Counts()
		}
	}()
	wg.Wait()
	l.Finish(time.Time{})
	if fs := l.Findings(); len(fs) != 0 {
		t.Fatalf("findings:%s", dump(fs))
	}
}

// TestRecordsWithoutOpen checks frames of a connection whose open record
// is not in the stream (a trace started late).
func TestRecordsWithoutOpen(t *testing.T) {
	s := newScript()
	s.client("x", `{"type":"read_file","request_id":"rf-1"}`)
	s.server("x", `{"type":"read_file_response","request_id":"rf-1","seq":4}`)
	s.client("x", `{"type":"ack","seq":4}`)
	s.add(&trace.Record{Kind: trace.KindHTTP, Conn: "h1", HTTP: &trace.HTTP{Method: "GET", URL: "/v1/environments", Status: 200}})
	s.close("x")
	none(t, s.run(quiet()))
}
