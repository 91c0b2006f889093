package proxy

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/inject"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// BenchmarkFaultRuleMatchingNothing streams 300-byte server events through
// two recording proxies in the same run, alternating in rounds: one with
// no rule, one with a rule that matches no message (every message then
// goes through the whole-message relay and the rule engine). It reports
// both rates and their ratio (target: ≥ 0.95). -benchtime sets the
// frames; the upstream writes 64 KiB batches so that the proxy's own cost
// shows.
func BenchmarkFaultRuleMatchingNothing(b *testing.B) {
	up := benchUpstream(b)
	defer up.Close()
	r, err := inject.Parse("drop from=server type=never_sent")
	if err != nil {
		b.Fatal(err)
	}
	eng, err := inject.New([]*inject.Rule{r}, inject.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	plain, stop1 := recordingProxyWith(b, up.URL, b.TempDir(), nil)
	defer stop1()
	faulty, stop2 := recordingProxyWith(b, up.URL, b.TempDir(), eng)
	defer stop2()
	n := max(b.N, 100000)
	var base, rule time.Duration
	const rounds = 10
	for i := 0; i < rounds; i++ {
		base += stream(b, plain.URL, "batched", n/rounds)
		rule += stream(b, faulty.URL, "batched", n/rounds)
	}
	br := float64(n) / base.Seconds()
	rr := float64(n) / rule.Seconds()
	b.ReportMetric(br, "no-rule-frames/s")
	b.ReportMetric(rr, "rule-frames/s")
	b.ReportMetric(rr/br, "rule/no-rule")
	b.ReportMetric(0, "ns/op")
	if s := eng.Stats(); s[0].Faults != 0 {
		b.Fatalf("the rule fired %d times", s[0].Faults)
	}
}

func recordingProxyWith(b testing.TB, up, dir string, eng *inject.Engine) (*httptest.Server, func()) {
	w, err := recorder.Create(filepath.Join(dir, "bench.jsonl.zst"), recorder.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w.Write(trace.NewHeader("bench", "0", trace.SourceProxy, time.Now()))
	w.Flush()
	p, err := New(Options{Upstream: up, Sink: w, Faults: eng})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(p)
	return srv, func() {
		srv.Close()
		p.Close()
		w.Close()
	}
}
