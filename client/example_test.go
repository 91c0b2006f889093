package client_test

import (
	"context"
	"fmt"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/sim"
)

// The reference client runs its default script against the simulator.
func Example() {
	env := &sim.Server{Token: "secret"}
	url, err := env.Start("127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer env.Close()

	c := &client.Client{URL: url, Token: "secret"}
	rep, err := c.Run(context.Background(), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.OK(), rep.Turns, rep.Approvals, rep.Reconnects)
	// Output: true 3 2 1
}

// With fault knobs on, the simulator reports what it injected: the ground
// truth a checker must find.
func Example_faults() {
	env := &sim.Server{Seed: 1, Inject: sim.Faults{DuplicateEvery: 10}}
	url, _ := env.Start("")
	defer env.Close()

	c := &client.Client{URL: url}
	rep, _ := c.Run(context.Background(), nil)
	fmt.Println(len(env.Faults()) == rep.DuplicatesDropped, env.Faults()[0].Rule)
	// Output: true duplicate-idempotency-key
}
