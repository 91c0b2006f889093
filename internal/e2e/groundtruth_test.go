package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/internal/testenv"
	"github.com/lettadev/wsproxy/sim"
)

// session runs one client script against the simulator through the
// recording proxy with the checker live, and returns the trace, the
// client's report, the simulator's ground truth and the live findings.
func session(t *testing.T, env *sim.Server, cl *client.Client, script *client.Script, checkCfg analysis.Config) (string, *client.Report, []faults.Fault, []analysis.Finding) {
	t.Helper()
	r := testenv.Record(t, env, cl, script, testenv.Options{Check: &checkCfg})
	return r.Path, r.Report, r.SimFaults, r.Live
}

// compare checks that the checker found exactly the expected faults (the
// one comparison, faults.Compare, that wsproxy demo -faults prints too).
func compare(t *testing.T, what string, expected []faults.Fault, findings []analysis.Finding) {
	t.Helper()
	c := faults.Compare(expected, findings)
	if !c.OK() {
		var b strings.Builder
		c.Write(&b)
		var fs []string
		for _, f := range findings {
			fs = append(fs, f.String())
		}
		t.Errorf("%s: %d expected faults, %d findings\n%s\nall findings:\n  %s",
			what, len(expected), len(findings), b.String(), strings.Join(fs, "\n  "))
	}
}

// TestEveryFaultKnobIsFoundExactly turns on every fault knob of the
// simulator and of the reference client, records the session through the
// proxy, and checks that the checker, live and offline on the trace,
// reports exactly the injected faults: no more, no fewer.
func TestEveryFaultKnobIsFoundExactly(t *testing.T) {
	env := &sim.Server{Token: "tok", Seed: 42, Inject: sim.Faults{
		GapEvery: 35, GapSize: 3,
		DuplicateEvery: 40, AlterEvery: 150,
		UnansweredEvery: 20, UnansweredTypes: []string{"get_tree"},
		OrphanEvery: 25,
		DelayEvery:  30, Delay: 20 * time.Millisecond, Timeout: 800 * time.Millisecond,
		DropAfterFrames: 120,
	}}
	cl := &client.Client{Token: "tok", RequestTimeout: time.Second, GapGrace: 100 * time.Millisecond,
		Inject: client.Faults{SkipAckEvery: 29, ReuseRequestIDEvery: 13}}
	cfg := analysis.DefaultConfig()
	cfg.ResponseTimeout = 800 * time.Millisecond
	path, rep, simFaults, live := session(t, env, cl, nil, cfg)
	expected := faults.Expected(append(append([]faults.Fault(nil), simFaults...), rep.Faults...))
	byRule := faults.ByRule(expected)
	t.Logf("ground truth: %v", byRule)
	for _, rule := range []string{"event-seq-gap", "duplicate-idempotency-key", "unmatched-request", "orphan-response", "unacked-seq", "duplicate-request-id"} {
		if byRule[rule] == 0 {
			t.Errorf("no %s fault was injected: the test would prove nothing for it", rule)
		}
	}
	compare(t, "live", expected, live)
	offline := analysis.CheckFiles([]string{path}, cfg)
	compare(t, "offline", expected, offline.Findings)
}

// TestClientFaultKnobs covers the client's own knobs that only show with
// a short heartbeat: a client that never pings and never syncs.
func TestClientFaultKnobs(t *testing.T) {
	env := &sim.Server{Token: "tok", Seed: 7, Inject: sim.Faults{GapEvery: 8}}
	cl := &client.Client{Token: "tok", RequestTimeout: 2 * time.Second, GapGrace: 100 * time.Millisecond,
		Inject: client.Faults{NeverPing: true, NoSync: true}}
	cfg := analysis.DefaultConfig()
	cfg.Heartbeat, cfg.HeartbeatSlack = time.Millisecond, -1 // any open socket without a ping
	cfg.SyncTimeout = 50 * time.Millisecond
	script := &client.Script{Name: "short", Steps: []client.Step{
		{Turn: &client.Turn{Message: "tell me about the repo"}},
		{Send: map[string]any{"type": "list_models"}},
		{Turn: &client.Turn{Message: "and the tests"}},
	}}
	path, rep, simFaults, live := session(t, env, cl, script, cfg)
	// A client that never syncs leaves every injected gap without a sync:
	// that ground truth is the simulator's gaps (the client only knows the
	// gaps it happened to notice before the session ended).
	expected := faults.Expected(simFaults)
	for _, f := range simFaults {
		if f.Rule == faults.RuleEventSeqGap {
			expected = append(expected, faults.Fault{Knob: client.KnobNoSync, Rule: faults.RuleGapWithoutSync, Subject: f.Subject, ConnectionID: f.ConnectionID})
		}
	}
	for _, f := range faults.Expected(rep.Faults) {
		if f.Rule != faults.RuleGapWithoutSync {
			expected = append(expected, f)
		}
	}
	t.Logf("ground truth: %v", faults.ByRule(expected))
	for _, rule := range []string{"missing-heartbeat", "no-sync-on-attach", "event-seq-gap", "gap-without-sync"} {
		if faults.ByRule(expected)[rule] == 0 {
			t.Errorf("no %s fault was injected", rule)
		}
	}
	compare(t, "live", expected, live)
	offline := analysis.CheckFiles([]string{path}, cfg)
	compare(t, "offline", expected, offline.Findings)
}
