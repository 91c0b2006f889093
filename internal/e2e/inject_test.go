package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/inject"
	"github.com/lettadev/wsproxy/internal/testenv"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/proxy"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/sim"
	"github.com/lettadev/wsproxy/trace"
)

func faultRules(t *testing.T, dir string, seed uint64, rules ...string) *inject.Engine {
	t.Helper()
	var rs []*inject.Rule
	for _, s := range rules {
		r, err := inject.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	e, err := inject.New(rs, inject.Options{Seed: seed, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// faultRun records the default client script against the simulator
// through a proxy with fault rules, the checker live.
func faultRun(t *testing.T, env *sim.Server, eng *inject.Engine, cfg analysis.Config) testenv.Recording {
	t.Helper()
	cl := &client.Client{Token: "tok", RequestTimeout: time.Second, GapGrace: 100 * time.Millisecond}
	return testenv.Record(t, env, cl, nil, testenv.Options{Check: &cfg, Plain: true, Proxy: proxy.Options{Faults: eng}})
}

func checkCfg() analysis.Config {
	cfg := analysis.DefaultConfig()
	cfg.ResponseTimeout = 800 * time.Millisecond
	return cfg
}

// traceFaults returns the trace's fault records that name a frame, those
// frames, and the release and undelivered records (what became of held or
// delayed messages at the end: no frame of their own).
func traceFaults(t *testing.T, path string) (faults []*trace.Record, frames map[int64]*trace.Record, holds []*trace.Record) {
	t.Helper()
	rd, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	frames = map[int64]*trace.Record{}
	want := map[int64]bool{}
	for {
		r, err := rd.Next()
		if err != nil {
			break
		}
		switch {
		case r.Kind == trace.KindFault && (r.Action == "release" || r.Action == "undelivered"):
			c := *r
			holds = append(holds, &c)
		case r.Kind == trace.KindFault:
			c := *r
			faults = append(faults, &c)
			want[r.Frame] = true
		case want[r.N]:
			c := *r
			frames[r.N] = &c
		}
	}
	return faults, frames, holds
}

// TestInjectedFaultsEachAction runs the reference client through the
// proxy against a healthy simulator with one rule per action, and checks
// the client's side (its report), the trace (fault records naming their
// frames) and the checker (live and offline: every finding explained by a
// fault is expected, nothing is an error, and the client's reactions).
func TestInjectedFaultsEachAction(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bogus.json"), []byte(`{"type":"list_models_response","request_id":"bogus-1","models":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule      string
		action    string
		expected  []string // rules of findings the faults must explain (at least one each)
		reaction  string   // the outcome every fault report must have ("" = any)
		clientSaw func(*client.Report) string
	}{
		{rule: "drop from=server has=event_seq nth=25", action: "drop", expected: []string{analysis.RuleEventSeqGap}, reaction: analysis.OutcomeOK,
			clientSaw: func(r *client.Report) string {
				if r.SyncsSent < 2 {
					return "no sync after the gap"
				}
				return ""
			}},
		{rule: "duplicate from=server has=idempotency_key nth=20", action: "duplicate", expected: []string{analysis.RuleDuplicateKey},
			clientSaw: func(r *client.Report) string {
				if r.DuplicatesDropped == 0 {
					return "no duplicate dropped"
				}
				return ""
			}},
		{rule: "duplicate from=server type=control_request", action: "duplicate", expected: []string{analysis.RuleDuplicateKey}, reaction: analysis.OutcomeOK},
		{rule: "drop from=server reply-to=list_models count=1", action: "drop", expected: []string{analysis.RuleUnmatchedRequest},
			clientSaw: func(r *client.Report) string {
				if !slices.ContainsFunc(r.Unanswered, func(s string) bool { return strings.HasPrefix(s, "list_models ") }) {
					return "list_models did not time out: " + strings.Join(r.Unanswered, ", ")
				}
				return ""
			}},
		{rule: "drop from=client type=ack nth=10", action: "drop", expected: []string{analysis.RuleUnackedSeq}},
		{rule: "close=1011 from=server nth=40 count=1", action: "close", reaction: analysis.OutcomeOK,
			clientSaw: func(r *client.Report) string {
				if r.Reconnects == 0 {
					return "no reconnect"
				}
				return ""
			}},
		{rule: "truncate from=server nth=40 count=1", action: "truncate", reaction: analysis.OutcomeOK,
			clientSaw: func(r *client.Report) string {
				if r.Reconnects == 0 {
					return "no reconnect"
				}
				return ""
			}},
		{rule: "corrupt from=server type=list_models_response count=1", action: "corrupt", expected: []string{analysis.RuleInvalidJSON, analysis.RuleUnmatchedRequest}},
		{rule: "inject=bogus.json from=server type=list_models_response count=1", action: "inject", expected: []string{analysis.RuleOrphanResponse},
			clientSaw: func(r *client.Report) string {
				if !slices.Contains(r.Orphans, "bogus-1") {
					return "the injected reply was not an orphan to the client: " + strings.Join(r.Orphans, ", ")
				}
				return ""
			}},
		{rule: "delay=30ms from=server has=event_seq nth=20", action: "delay"},
		{rule: "reorder=1 from=server type=stream_delta nth=10", action: "reorder"},
		{rule: "stall=50ms from=server nth=40", action: "stall"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			env := &sim.Server{Token: "tok", Seed: 5}
			rec := faultRun(t, env, faultRules(t, dir, 1, tc.rule), checkCfg())
			if d := os.Getenv("WSPROXY_KEEP_TRACES"); d != "" {
				b, _ := os.ReadFile(rec.Path)
				os.WriteFile(filepath.Join(d, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".jsonl"), b, 0o600)
			}
			faults, frames, holds := traceFaults(t, rec.Path)
			if len(faults) == 0 {
				t.Fatal("no fault record in the trace")
			}
			for _, f := range faults {
				fr := frames[f.Frame]
				if f.Rule != tc.rule || f.Action != tc.action || fr == nil || fr.Kind != trace.KindFrame || fr.N != f.N+1 {
					t.Errorf("fault record %+v names frame %+v", f, fr)
				}
			}
			// Messages still held or delayed at the end are delivered
			// ahead of the close (or recorded as never delivered), for
			// the rules that hold messages only.
			for _, h := range holds {
				if (tc.action != "delay" && tc.action != "reorder") || h.Rule != tc.rule {
					t.Errorf("%s record %q (rule %q) for a %s rule", h.Action, h.Message, h.Rule, tc.action)
				}
			}
			if tc.clientSaw != nil {
				if msg := tc.clientSaw(rec.Report); msg != "" {
					t.Errorf("client: %s\n%s", msg, rec.Report)
				}
			}
			offline := analysis.CheckFiles([]string{rec.Path}, checkCfg())
			for name, fs := range map[string][]analysis.Finding{"live": rec.Live, "offline": offline.Findings} {
				seen := map[string]bool{}
				for _, f := range fs {
					if f.Severity != analysis.Expected && f.Severity != analysis.Note { // notes never fail a check
						t.Errorf("%s: not explained by the fault: %s", name, f)
					}
					seen[f.Rule] = true
				}
				for _, r := range tc.expected {
					if !seen[r] {
						t.Errorf("%s: no expected %s finding", name, r)
					}
				}
			}
			reps := offline.FaultReports
			if len(reps) != len(faults) {
				t.Errorf("%d fault reports for %d faults", len(reps), len(faults))
			}
			for _, r := range reps {
				if tc.reaction != "" && r.Outcome != tc.reaction {
					t.Errorf("reaction: %s", r)
				}
			}
			t.Logf("%d faults; first reaction: %v", len(faults), reps[0])
		})
	}
}

// faultSites lists, sorted, where a run's faults hit: connection, direction,
// action and the affected message (type, event_seq, seq; request ids are
// random per run, so they are left out).
func faultSites(t *testing.T, path string) []string {
	faults, frames, _ := traceFaults(t, path)
	var out []string
	for _, f := range faults {
		fr := frames[f.Frame]
		env, _ := protocolParse(fr.Payload)
		out = append(out, strings.Join([]string{f.Conn, string(f.From), f.Action, env}, " "))
	}
	// The two directions of a connection interleave in the trace as they
	// happen; the faults of each are in order.
	slices.Sort(out)
	return out
}

// TestSameSeedSameFaultsThroughTheProxy: two runs with the same seed
// inject the same faults at the same messages; another seed differs.
func TestSameSeedSameFaultsThroughTheProxy(t *testing.T) {
	rules := []string{"drop from=server has=event_seq p=0.03", "duplicate from=server has=idempotency_key p=0.03", "drop from=client type=ack p=0.05"}
	run := func(seed uint64) []string {
		env := &sim.Server{Token: "tok", Seed: 5}
		rec := faultRun(t, env, faultRules(t, "", seed, rules...), checkCfg())
		return faultSites(t, rec.Path)
	}
	a, b := run(3), run(3)
	if len(a) < 3 {
		t.Fatalf("only %d faults: %q", len(a), a)
	}
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("same seed, different faults:\n%s\n--\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if c := run(4); strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Fatalf("seeds 3 and 4 gave the same faults: %q", c)
	}
}

// TestCheckerSeparatesInjectedFromRealFaults runs the simulator with its
// own (real, from the checker's view) faults and the proxy with injected
// ones: the findings not marked expected are exactly the simulator's
// ground truth (no real fault hidden), and the injected faults' findings
// are all expected (none reported as an error).
func TestCheckerSeparatesInjectedFromRealFaults(t *testing.T) {
	env := &sim.Server{Token: "tok", Seed: 42, Inject: sim.Faults{
		GapEvery: 35, GapSize: 3,
		DuplicateEvery: 40,
		OrphanEvery:    25,
	}}
	eng := faultRules(t, "", 9,
		"drop from=server has=event_seq p=0.02",
		"duplicate from=server has=idempotency_key p=0.03",
		"drop from=client type=ack p=0.03",
		"drop from=server reply-to=list_models count=1")
	cfg := checkCfg()
	rec := faultRun(t, env, eng, cfg)
	injected := 0
	for _, st := range eng.Stats() {
		injected += int(st.Faults)
		if st.Faults == 0 {
			t.Errorf("rule %q injected nothing: the test would prove nothing for it", st.Rule.Text)
		}
	}
	offline := analysis.CheckFiles([]string{rec.Path}, cfg)
	for name, fs := range map[string][]analysis.Finding{"live": rec.Live, "offline": offline.Findings} {
		var real []analysis.Finding
		expected := 0
		for _, f := range fs {
			if f.Severity == analysis.Note {
				continue // notes judge nothing (a cut, an injected close's leftovers)
			}
			if f.Severity == analysis.Expected {
				expected++
			} else {
				real = append(real, f)
			}
		}
		if expected == 0 {
			t.Errorf("%s: no finding marked expected for %d injected faults", name, injected)
		}
		compare(t, name, faultsExpected(rec), real)
	}
	t.Logf("%d injected faults, %d expected findings, %d fault reports", injected, offline.Expected, len(offline.FaultReports))
}

func faultsExpected(rec testenv.Recording) []faults.Fault {
	return faults.Expected(append(append([]faults.Fault(nil), rec.SimFaults...), rec.Report.Faults...))
}

func protocolParse(p []byte) (string, error) {
	env, err := protocol.Parse(p)
	if err != nil {
		return "", err
	}
	s := env.TypeString()
	if env.HasEventSeq {
		s += fmt.Sprintf(" event_seq=%d", env.EventSeq)
	}
	if env.HasSeq {
		s += fmt.Sprintf(" seq=%d", env.Seq)
	}
	return s, nil
}
