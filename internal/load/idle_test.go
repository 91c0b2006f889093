package load

import (
	"testing"
	"time"
)

// The figure "once all were open" is the first sample after the
// connections were up, not the last one before (which may predate them).
func TestIdleSummary(t *testing.T) {
	const conns, kib = 1000, 1024
	res := &IdleResult{Conns: conns, Baseline: 10 << 20, Connected: 600 * time.Millisecond, Closed: 60 * time.Second,
		Samples: []rssSample{
			{At: 0, RSS: 10 << 20},
			{At: time.Second, RSS: 10<<20 + 26*kib*conns},
			{At: 30 * time.Second, RSS: 10<<20 + 60*kib*conns},
			{At: 60 * time.Second, RSS: 10<<20 + 63*kib*conns},
			{At: 120 * time.Second, RSS: 20 << 20},
		}}
	res.summarize()
	if got := [3]int64{res.PerConn[0] / kib, res.PerConn[1] / kib, res.PerConn[2] / kib}; got != [3]int64{26, 60, 63} {
		t.Fatalf("per connection %v KiB, want [26 60 63]", got)
	}
	if res.AfterClose != 20<<20 || res.AfterRatio != 2 {
		t.Fatalf("after close %d (%.2fx)", res.AfterClose, res.AfterRatio)
	}
}
