package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/faults"
	"github.com/lettadev/wsproxy/sim"
)

// A simulated environment that skips event_seq values and withholds a
// reply type, driven by the reference client; the server reports what it
// injected.
func Example() {
	env := &sim.Server{Token: "secret", Seed: 1, Inject: sim.Faults{
		GapEvery:        30,
		UnansweredTypes: []string{"list_models"},
	}}
	url, err := env.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer env.Close()

	c := &client.Client{URL: url, Token: "secret", RequestTimeout: 200 * time.Millisecond}
	rep, err := c.Run(context.Background(), &client.Script{Name: "short", Steps: []client.Step{
		{Send: map[string]any{"type": "list_models"}},
		{Turn: &client.Turn{Message: "Please run ls", Approval: "allow"}},
	}})
	if err != nil {
		panic(err)
	}
	truth := faults.ByRule(env.Faults())
	fmt.Println(truth[faults.RuleUnmatchedRequest], truth[faults.RuleEventSeqGap] == len(rep.Gaps))
	// Output: 1 true
}
