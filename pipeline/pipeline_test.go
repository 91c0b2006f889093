package pipeline

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/hub"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Eight sessions at full speed: every event relayed is a record, and
// the checker, live and offline, finds no error.
func TestEightSessionsLoseNothing(t *testing.T) {
	up := ackUpstream(t)
	pl, path := recordingPipeline(t, up.URL)
	const conns, perConn = 8, 3000
	drive(t, pl.URL(), conns, perConn)
	shutdown(t, pl)
	if n := countEvents(t, path); n != conns*perConn {
		t.Fatalf("%d event records in the trace, %d relayed", n, conns*perConn)
	}
	if e := pl.Checker().Errors(); e != 0 {
		t.Errorf("live checker: %d errors", e)
	}
	eng := analysis.New(analysis.DefaultConfig())
	r, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	eng.SetFile(path)
	if _, err := trace.Copy(eng, r); err != nil {
		t.Fatal(err)
	}
	eng.Finish(time.Now())
	if e := eng.Errors(); e != 0 {
		t.Errorf("offline checker: %d errors", e)
	}
	var prev int64
	r2, _ := recorder.Open(path)
	defer r2.Close()
	for {
		rec, err := r2.Next()
		if err != nil {
			break
		}
		if rec.N != prev+1 {
			t.Fatalf("line %d has n %d after %d", rec.Line, rec.N, prev)
		}
		prev = rec.N
	}
}

// A failed start (the port is taken) creates no trace file.
func TestFailedStartCreatesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(t.TempDir(), "run.jsonl.zst")
	if _, err := Start(Config{Upstream: "ws://127.0.0.1:1", Listen: ln.Addr().String(), Path: path}); err == nil {
		t.Fatal("started on a port in use")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed start left %s (%v)", path, err)
	}
}

// A viewer attaches while the proxy runs, gets what is emitted from then
// on, numbered as in the trace, and detaches.
func TestViewerAttachesWhileRunning(t *testing.T) {
	up := ackUpstream(t)
	pl, path := recordingPipeline(t, up.URL)
	drive(t, pl.URL(), 1, 100)
	v := &viewer{}
	sub := pl.Hub().Subscribe(v, hub.SubOptions{Name: "viewer", Policy: hub.Skip})
	drive(t, pl.URL(), 1, 100)
	sub.Close()
	shutdown(t, pl)
	if len(v.recs) == 0 || v.recs[0].N <= 1 {
		t.Fatalf("viewer got %d records", len(v.recs))
	}
	byN := map[int64]*trace.Record{}
	r, _ := recorder.Open(path)
	defer r.Close()
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		byN[rec.N] = rec
	}
	for _, got := range v.recs {
		if want := byN[got.N]; want == nil || want.Kind != got.Kind || string(want.Payload) != string(got.Payload) {
			t.Fatalf("record %d: the viewer's and the trace's differ", got.N)
		}
	}
}

type viewer struct {
	mu   sync.Mutex
	recs []*trace.Record
}

func (v *viewer) Write(r *trace.Record) error {
	v.mu.Lock()
	v.recs = append(v.recs, r)
	v.mu.Unlock()
	return nil
}
