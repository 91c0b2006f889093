package hub

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lettadev/wsproxy/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collect is a sink that keeps what it gets; block, if set, holds each
// Write until it can receive.
type collect struct {
	mu      sync.Mutex
	recs    []*trace.Record
	skipped [][2]int64
	block   chan struct{}
}

func (c *collect) Write(r *trace.Record) error {
	if c.block != nil {
		<-c.block
	}
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
	return nil
}

func (c *collect) Skipped(first, last int64) {
	c.mu.Lock()
	c.skipped = append(c.skipped, [2]int64{first, last})
	c.mu.Unlock()
}

func frame(conn string, n int) *trace.Record {
	return &trace.Record{Kind: trace.KindFrame, Conn: conn, From: trace.Server, Op: trace.OpText,
		Payload: fmt.Appendf(nil, `{"type":"stream_delta","i":%d}`, n)}
}

func TestNumbersInOrderForEverySubscriber(t *testing.T) {
	h := New(Options{})
	a, b := &collect{}, &collect{}
	h.Subscribe(a, SubOptions{Name: "a"})
	h.Subscribe(b, SubOptions{Name: "b", QueueBytes: 1 << 10})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				h.Emit(frame(fmt.Sprintf("c%d", g), i), frame(fmt.Sprintf("c%d", g), i))
			}
		}()
	}
	wg.Wait()
	h.Close()
	for _, c := range []*collect{a, b} {
		if len(c.recs) != 4000 {
			t.Fatalf("got %d records, want 4000", len(c.recs))
		}
		for i, r := range c.recs {
			if r.N != int64(i+1) {
				t.Fatalf("record %d has N %d", i, r.N)
			}
		}
	}
}

// A lossless subscriber that cannot keep up makes Emit wait: nothing is
// dropped and the queue stays within its bound.
func TestLosslessWaits(t *testing.T) {
	h := New(Options{})
	slow := &collect{block: make(chan struct{})}
	waited := make(chan struct{}, 1)
	s := h.Subscribe(slow, SubOptions{Name: "recorder", QueueBytes: 3 * (recordOverhead + 40)})
	s.mu.Lock()
	s.testOnWait = func() {
		select {
		case waited <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		for i := 0; i < 20; i++ {
			h.Emit(frame("c1", i))
		}
	}()
	<-waited // Emit is waiting for room
	s.mu.Lock()
	if s.bytes > s.o.QueueBytes {
		t.Errorf("queue holds %d bytes, over its bound %d", s.bytes, s.o.QueueBytes)
	}
	s.mu.Unlock()
	close(slow.block) // the sink catches up
	<-emitted
	h.Close()
	if len(slow.recs) != 20 {
		t.Fatalf("delivered %d of 20", len(slow.recs))
	}
	if st := s.Stats(); st.Waits == 0 || st.Skipped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A skipping viewer never holds Emit up; it is told which records it
// missed, and those plus the delivered ones are every record.
func TestSkipTellsWhatWasMissed(t *testing.T) {
	h := New(Options{})
	viewer := &collect{block: make(chan struct{})}
	rec := &collect{}
	h.Subscribe(rec, SubOptions{Name: "recorder"})
	v := h.Subscribe(viewer, SubOptions{Name: "viewer", Policy: Skip, QueueBytes: 4 * (recordOverhead + 40)})
	for i := 0; i < 100; i++ {
		h.Emit(frame("c1", i)) // never waits: the viewer is blocked
	}
	close(viewer.block)
	h.Close()
	if len(rec.recs) != 100 {
		t.Fatalf("recorder got %d", len(rec.recs))
	}
	seen := map[int64]bool{}
	for _, r := range viewer.recs {
		seen[r.N] = true
	}
	for _, g := range viewer.skipped {
		for n := g[0]; n <= g[1]; n++ {
			if seen[n] {
				t.Fatalf("record %d both delivered and skipped", n)
			}
			seen[n] = true
		}
	}
	if len(seen) != 100 || len(viewer.skipped) == 0 {
		t.Fatalf("delivered+skipped cover %d of 100 records (skips %v)", len(seen), viewer.skipped)
	}
	if st := v.Stats(); st.Skipped+st.Delivered != 100 {
		t.Errorf("stats %+v", st)
	}
}

// A lossy subscriber gets loss records naming connection, direction and
// count in place of what it dropped.
func TestLossyWritesLossRecords(t *testing.T) {
	h := New(Options{})
	sink := &collect{block: make(chan struct{})}
	h.Subscribe(sink, SubOptions{Name: "recorder", Policy: Lossy, QueueBytes: 2 * (recordOverhead + 40)})
	for i := 0; i < 30; i++ {
		conn := "c1"
		if i%3 == 0 {
			conn = "c2"
		}
		h.Emit(frame(conn, i))
	}
	close(sink.block)
	h.Close()
	frames, lost := 0, map[string]int64{}
	for _, r := range sink.recs {
		switch r.Kind {
		case trace.KindFrame:
			frames++
		case trace.KindLoss:
			if r.From != trace.Server {
				t.Errorf("loss record from %q", r.From)
			}
			lost[r.Conn] += r.Count
		}
	}
	if int64(frames)+lost["c1"]+lost["c2"] != 30 || lost["c1"] == 0 {
		t.Fatalf("%d frames delivered, losses %v: they must add up to 30", frames, lost)
	}
}

// Subscribers attach and detach while records flow.
func TestAttachDetach(t *testing.T) {
	h := New(Options{Stamp: true, Now: func() time.Time { return time.Unix(100, 0) }})
	a := &collect{}
	h.Emit(frame("c1", 0))
	s := h.Subscribe(a, SubOptions{Name: "late"})
	h.Emit(frame("c1", 1), frame("c1", 2))
	s.Close()
	h.Emit(frame("c1", 3))
	h.Close()
	if len(a.recs) != 2 || a.recs[0].N != 2 || a.recs[1].N != 3 {
		t.Fatalf("got %v", a.recs)
	}
	if !a.recs[0].T.Equal(time.Unix(100, 0)) {
		t.Errorf("not stamped: %v", a.recs[0].T)
	}
	h.Emit(frame("c1", 4)) // after Close: dropped, no panic
}

// Closing a lossless subscription releases an Emit waiting on it.
func TestCloseReleasesWaitingEmit(t *testing.T) {
	h := New(Options{})
	slow := &collect{block: make(chan struct{})}
	s := h.Subscribe(slow, SubOptions{QueueBytes: 1})
	waited := make(chan struct{})
	s.mu.Lock()
	s.testOnWait = func() { close(waited) }
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Emit(frame("c1", 0))
		h.Emit(frame("c1", 1)) // waits
	}()
	<-waited
	go func() { close(slow.block) }()
	s.Close()
	<-done
	h.Close()
}
