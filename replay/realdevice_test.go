package replay_test

import (
	"path/filepath"
	"testing"

	"github.com/lettadev/wsproxy/replay"
)

// The real device's recordings replay, reactively, to a client playing
// their client side with request_ids of its own.
func TestRealDeviceTraces(t *testing.T) {
	files, _ := filepath.Glob("../traces/real-device-*.jsonl.zst")
	if len(files) == 0 {
		t.Skip("no real-device traces")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			recs := readAll(t, f)
			x, err := replay.ReadIndex(f)
			if err != nil {
				t.Fatal(err)
			}
			srv := replay.NewTestServer(t, f, testOpts())
			play(t, srv.URL, recs, playOpts{})
			r := srv.RequireNoDivergence()
			if len(r.Sessions) != len(x.Sessions) {
				t.Errorf("served %d sessions, trace has %d", len(r.Sessions), len(x.Sessions))
			}
			if r.Totals.Matched == 0 {
				t.Errorf("nothing matched: %s", r)
			}
			t.Logf("%s", r)
		})
	}
}
