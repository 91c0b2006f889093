package load

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildProxy builds cmd/wsproxy into a temporary directory.
func buildProxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wsproxy")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/lettadev/wsproxy/cmd/wsproxy")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build wsproxy: %v\n%s", err, out)
	}
	return bin
}

// childEnv makes this test binary the wsload server and relay (runChild).
var childEnv = []string{"WSLOAD_TEST_CHILD=1"}

// TestBenchCountsAgree runs a small bench end to end, the server, the
// relay and the proxy as separate processes, and checks the counts (no
// timing): every path delivers every event, and every event the clients
// received through the proxy is a record in its trace.
func TestBenchCountsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsproxy and runs processes")
	}
	proxy := buildProxy(t)
	var log bytes.Buffer
	res, err := Bench(context.Background(), BenchOptions{
		Proxy: proxy, Self: os.Args[0], SelfEnv: childEnv,
		Events: 2000, Conns: []int{2}, Rounds: 1, RTT: 20, Dir: t.TempDir(), Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("\n%s", log.String())
	if len(res.Runs) != 6 {
		t.Fatalf("%d runs, want 3 streaming and 3 round-trip runs", len(res.Runs))
	}
	for _, r := range res.Runs {
		switch {
		case r.Mode == "stream" && r.Drive.Events != 4000:
			t.Errorf("%s: the clients received %d events, want 4000", r.Path, r.Drive.Events)
		case r.Mode == "stream" && r.Path == PathProxy && r.EventRecords != r.Drive.Events:
			t.Errorf("proxy: %d events received, %d stream_delta records in %s", r.Drive.Events, r.EventRecords, r.Trace)
		case r.Mode == "rtt" && len(r.Drive.RTTs) != 20:
			t.Errorf("%s: %d round trips, want 20", r.Path, len(r.Drive.RTTs))
		case r.Path == PathProxy && (r.PeakRSS <= 0 || r.Records <= r.EventRecords):
			t.Errorf("proxy: peak RSS %d, %d records for %d events", r.PeakRSS, r.Records, r.EventRecords)
		}
	}
	if !res.CountsOK {
		t.Errorf("counts: %s", res.Counts)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	if !strings.Contains(text.String(), "every event received is a record in the trace") {
		t.Errorf("table:\n%s", text.String())
	}
}

// TestBenchIdleFollowsMemory runs the idle bench small: the proxy's RSS is
// sampled, every ping gets its pong through the proxy, and the trace holds
// the connections.
func TestBenchIdleFollowsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsproxy and runs processes")
	}
	proxy := buildProxy(t)
	res, err := BenchIdle(context.Background(), IdleOptions{
		Proxy: proxy, Self: os.Args[0], SelfEnv: childEnv,
		Conns: 20, Ping: 20 * time.Millisecond, For: 200 * time.Millisecond, After: 50 * time.Millisecond, Every: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pings < 20 || res.Pongs != res.Pings {
		t.Errorf("%d pings, %d pongs", res.Pings, res.Pongs)
	}
	if res.Baseline <= 0 || len(res.Samples) == 0 || res.AfterClose <= 0 {
		t.Errorf("baseline %d, %d samples, after close %d", res.Baseline, len(res.Samples), res.AfterClose)
	}
	// An open and a close per connection, a frame per ping and per pong.
	if min := 2*int64(res.Conns) + res.Pings + res.Pongs; res.Records < min {
		t.Errorf("%d records in the trace, want at least %d", res.Records, min)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	t.Logf("\n%s", text.String())
}
