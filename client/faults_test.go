package client_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/sim"
)

// allSimFaults turns on every simulator knob.
func allSimFaults() sim.Faults {
	return sim.Faults{
		GapEvery: 17, GapSize: 2,
		DuplicateEvery: 13, AlterEvery: 19,
		UnansweredEvery: 40, UnansweredTypes: []string{"get_experiments"},
		OrphanEvery: 11,
		DelayEvery:  7, Delay: 15 * time.Millisecond, Timeout: 2 * time.Second,
		// A drop needs 150 ms of silence: the client's waits for withheld
		// replies (300 ms) give it, its other pauses (60 ms) never do. The
		// tests run on a synctest bubble's clock, so these are virtual
		// milliseconds: CPU load cannot stretch a pause.
		DropAfterFrames: 20, DropMax: 1, QuietFor: 150 * time.Millisecond,
	}
}

func allClientFaults() client.Faults {
	return client.Faults{SkipAckEvery: 29, NeverPing: true, NoSync: true, ReuseRequestIDEvery: 17}
}

func subjects(fs []faults.Fault, rule string) []string {
	var out []string
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f.Subject)
		}
	}
	sort.Strings(out)
	return out
}

func ids(list []string) []string {
	var out []string
	for _, s := range list {
		out = append(out, s[strings.LastIndexByte(s, ' ')+1:])
	}
	sort.Strings(out)
	return out
}

func sorted(l []string) []string {
	out := append([]string(nil), l...)
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func knobs(fs []faults.Fault) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[f.Knob]++
	}
	return m
}

// runFaulty runs the default script with every fault knob on, in a
// synctest bubble on an in-memory network (see inMemory).
func runFaulty(t *testing.T, single, clientFaults bool, dialect sim.Dialect) (s *sim.Server, rep *client.Report) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		s = &sim.Server{Seed: 42, Dialect: dialect, Inject: allSimFaults()}
		u, dial := inMemory(t, s)
		c := &client.Client{URL: u, NetDialContext: dial, RequestTimeout: 300 * time.Millisecond,
			GapGrace: 60 * time.Millisecond, RequestIDPrefix: "fx", KeepLog: true}
		if single {
			c.Channels = []string{""}
		}
		if clientFaults {
			c.Inject = allClientFaults()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var err error
		rep, err = c.Run(ctx, nil)
		if err != nil {
			t.Fatalf("client did not finish: %v\n%s", err, rep)
		}
		s.Close()
	})
	return s, rep
}

// checkGroundTruth cross-checks the simulator's ground truth against what
// the client observed, and the client's own ground truth against its
// knobs.
func checkGroundTruth(t *testing.T, s *sim.Server, rep *client.Report, clientFaults bool) {
	t.Helper()
	sf := s.Faults()
	k := knobs(sf)
	for _, knob := range []string{sim.KnobGap, sim.KnobDuplicate, sim.KnobAltered, sim.KnobUnanswered,
		sim.KnobOrphan, sim.KnobDelay, sim.KnobDrop} {
		if k[knob] == 0 {
			t.Errorf("sim knob %s injected nothing", knob)
		}
	}
	if k[sim.KnobDrop] != 1 {
		t.Errorf("drops: %d, want 1", k[sim.KnobDrop])
	}
	for _, f := range sf {
		if (f.Knob == sim.KnobDelay || (f.Knob == sim.KnobDrop && f.Rule == "")) && f.Rule != "" {
			t.Errorf("%s fault expects a finding: %s", f.Knob, f)
		}
		if f.Knob == sim.KnobDrop && f.Rule != "" {
			t.Errorf("a request was lost in the drop: %s", f)
		}
	}
	if got, want := sorted(rep.Gaps), subjects(sf, faults.RuleEventSeqGap); !equal(got, want) {
		t.Errorf("gaps seen by the client %v, injected %v", got, want)
	}
	if rep.DuplicatesDropped != k[sim.KnobDuplicate]+k[sim.KnobAltered] {
		t.Errorf("duplicates dropped %d, injected %d+%d", rep.DuplicatesDropped, k[sim.KnobDuplicate], k[sim.KnobAltered])
	}
	if rep.ConflictingDuplicates != k[sim.KnobAltered] {
		t.Errorf("conflicting duplicates %d, injected %d", rep.ConflictingDuplicates, k[sim.KnobAltered])
	}
	unanswered := ids(append(append([]string(nil), rep.Unanswered...), rep.Abandoned...))
	if want := subjects(sf, faults.RuleUnmatchedRequest); !equal(unanswered, want) {
		t.Errorf("requests the client saw unanswered %v, withheld %v", unanswered, want)
	}
	if got, want := sorted(rep.Orphans), subjects(sf, faults.RuleOrphanResponse); !equal(got, want) {
		t.Errorf("orphans seen %v, injected %v", got, want)
	}
	if len(rep.Failures) != len(rep.Unanswered) {
		t.Errorf("failures beyond the withheld replies:\n%s", strings.Join(rep.Failures, "\n"))
	}
	cf := rep.Faults
	ck := knobs(cf)
	if !clientFaults {
		if len(cf) != 0 {
			t.Errorf("client faults without knobs: %v", cf)
		}
		if rep.SyncsSent < len(rep.Gaps)+rep.Reconnects+1 {
			t.Errorf("syncs %d for %d gaps and %d attaches", rep.SyncsSent, len(rep.Gaps), rep.Reconnects+1)
		}
		return
	}
	attaches := rep.Reconnects + 1
	sockets := attaches * 2
	if len(rep.Log) > 0 && rep.Log[0].Channel == "single" {
		sockets = attaches
	}
	if got := subjects(cf, faults.RuleMissingHeartbeat); len(got) != sockets {
		t.Errorf("missing-heartbeat faults %d, sockets %d", len(got), sockets)
	}
	if got := subjects(cf, faults.RuleNoSyncOnAttach); len(got) != attaches {
		t.Errorf("no-sync-on-attach faults %d, attaches %d", len(got), attaches)
	}
	if got, want := subjects(cf, faults.RuleGapWithoutSync), sorted(rep.Gaps); !equal(got, want) {
		t.Errorf("gap-without-sync %v, gaps %v", got, want)
	}
	for _, f := range cf {
		if f.Rule == faults.RuleUnackedSeq && f.Knob != client.KnobSkipAck {
			t.Errorf("frame unacked for another reason: %s", f)
		}
	}
	if ck[client.KnobSkipAck] == 0 || ck[client.KnobReuseRequestID] == 0 {
		t.Errorf("client knobs idle: %v", ck)
	}
	if rep.SyncsSent != 1 { // the scripted sync only
		t.Errorf("syncs sent with NoSync: %d", rep.SyncsSent)
	}
}

func TestAllFaults(t *testing.T) {
	for _, tc := range []struct {
		name         string
		single       bool
		clientFaults bool
		dialect      sim.Dialect
	}{
		// Single-socket runs are checked by TestSeedDeterminism.
		{"two-channel/client-faults", false, true, sim.DialectV2},
		{"two-channel/well-behaved", false, false, sim.DialectReference},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, rep := runFaulty(t, tc.single, tc.clientFaults, tc.dialect)
			t.Logf("%s", rep)
			for _, f := range s.Faults() {
				t.Logf("sim: %s", f)
			}
			checkGroundTruth(t, s, rep, tc.clientFaults)
		})
	}
}
