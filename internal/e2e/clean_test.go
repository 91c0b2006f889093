package e2e

import (
	"fmt"
	"testing"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/sim"
)

// TestCleanLongSessionHasNoFindings records a long healthy session of the
// reference client against the simulator through the proxy (over 100,000
// frames: turns with and without approvals, filesystem and model commands)
// and checks that the checker, live and offline, finds nothing at all.
func TestCleanLongSessionHasNoFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("long session")
	}
	var steps []client.Step
	for i := 0; len(steps) < 7800; i++ {
		steps = append(steps,
			client.Step{Turn: &client.Turn{Message: fmt.Sprintf("explain file %d", i)}},
			client.Step{Send: map[string]any{"type": "read_file", "path": "${cwd}/README.md"}},
			client.Step{Send: map[string]any{"type": "list_models"}},
		)
		if i%10 == 0 {
			steps = append(steps, client.Step{Turn: &client.Turn{Message: fmt.Sprintf("run go test ./pkg%d", i), Approval: "allow"}})
		}
	}
	env := &sim.Server{Token: "tok", Seed: 11}
	cl := &client.Client{Token: "tok"}
	path, rep, _, live := session(t, env, cl, &client.Script{Name: "long", Steps: steps}, analysis.DefaultConfig())
	if !rep.OK() {
		t.Fatalf("client assertions failed:\n%s", rep)
	}
	offline := analysis.CheckFiles([]string{path}, analysis.DefaultConfig())
	t.Logf("%d frames in %s", offline.Frames, rep.Duration)
	if offline.Frames < 100000 {
		t.Errorf("only %d frames", offline.Frames)
	}
	for _, f := range live {
		t.Errorf("live: %s", f)
	}
	for _, f := range offline.Findings {
		t.Errorf("offline: %s", f)
	}
}
