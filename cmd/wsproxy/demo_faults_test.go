package main

import (
	"bytes"
	"strings"
	"testing"
)

// wsproxy demo -faults compares the injected ground truth with the live
// findings, per rule, and exits 0 only when they agree.
func TestDemoFaultsComparesGroundTruth(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"demo", "-faults", "-q", "-out", t.TempDir()}, &out, &errb)
	s := out.String()
	if code != 0 || !strings.Contains(s, "RULE                       MATCHED  MISSED UNEXPECTED") ||
		!strings.Contains(s, "the checker found exactly the injected faults") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, s, errb.String())
	}
	for _, rule := range []string{"event-seq-gap", "unacked-seq", "orphan-response", "unmatched-request"} {
		if !strings.Contains(s, "\n"+rule+" ") {
			t.Errorf("no %s row:\n%s", rule, s)
		}
	}
}
