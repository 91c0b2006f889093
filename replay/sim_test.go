package replay_test

import (
	"context"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/internal/testenv"
	"github.com/lettadev/wsproxy/replay"
	"github.com/lettadev/wsproxy/sim"
)

// recordClientAgainstSim runs the reference client's default script
// through the recording proxy to the simulator and returns the trace.
func recordClientAgainstSim(t *testing.T, seed int64) string {
	t.Helper()
	cl := &client.Client{RequestTimeout: 5 * time.Second, RequestIDPrefix: "rec-"}
	r := testenv.Record(t, &sim.Server{Seed: seed}, cl, nil, testenv.Options{Timeout: time.Minute})
	if !r.Report.OK() {
		t.Fatalf("recording run failed:\n%s", r.Report)
	}
	return r.Path
}

// The reference client, run again with request_ids of its own, talks to a
// replay of its recorded session with the simulator as to the simulator.
func TestReferenceClientAgainstReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("records a full client session")
	}
	path := recordClientAgainstSim(t, 7)
	srv := replay.NewTestServer(t, path, replay.Options{Timeout: 5 * time.Second, Linger: 50 * time.Millisecond})
	cl := &client.Client{URL: srv.HTTP.URL, RequestTimeout: 5 * time.Second, RequestIDPrefix: "live-"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := cl.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("the client found the replay wanting:\n%s", rep)
	}
	r := srv.RequireNoDivergence()
	t.Logf("%s", r)
	if r.Totals.Matched < 50 {
		t.Errorf("only %d frames matched", r.Totals.Matched)
	}
}

// Drive plays the recorded client against a fresh simulator: the
// simulator answers as it did when recorded.
func TestDriveAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("records a full client session")
	}
	path := recordClientAgainstSim(t, 7)
	env := &sim.Server{Seed: 7}
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	// The simulator picks a channel's dm_policy from one of its accounts
	// in map order (sim/channels.go channelSummary), so channel_start and
	// channel_stop answers vary from run to run: not compared.
	o := replay.Options{Timeout: 5 * time.Second, Logf: t.Logf, Volatile: []string{"dm_policy"}}
	r, err := replay.Drive(t.Context(), simURL, path, o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("drive against the simulator:\n%s", r)
		for _, e := range r.All() {
			t.Errorf("%s", e)
		}
	}
	if r.Totals.Matched < 50 {
		t.Errorf("only %d frames matched:\n%s", r.Totals.Matched, r)
	}
}
