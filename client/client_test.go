package client_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/internal/memnet"
	"github.com/lettadev/wsproxy/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// inMemory serves s on an in-memory network and returns its URL and the
// dial func to set as Client.NetDialContext. Called inside a
// testing/synctest bubble, it puts every timeout of the simulator and the
// client (reply waits, gap grace, fault delays, a drop's quiet time, ping
// intervals) on the bubble's fake clock, which moves only when every
// goroutine waits: what happens before a timeout fires is then everything
// that can happen, however loaded the machine is.
func inMemory(t *testing.T, s *sim.Server) (string, func(ctx context.Context, network, addr string) (net.Conn, error)) {
	t.Helper()
	l := memnet.Listen("sim.test:80")
	u, err := s.Serve(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return u, l.Dial
}

func startSim(t *testing.T, s *sim.Server) string {
	t.Helper()
	u, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return u
}

func TestDefaultScript(t *testing.T) {
	for _, dialect := range []sim.Dialect{sim.DialectV2, sim.DialectReference} {
		for _, single := range []bool{false, true} {
			name := fmt.Sprintf("%s/single=%v", dialect, single)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := &sim.Server{Token: "tok", Dialect: dialect}
				u := startSim(t, s)
				c := &client.Client{URL: u, Token: "tok", RequestTimeout: 2 * time.Second, Compression: !single}
				if single {
					c.Channels = []string{""}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				rep, err := c.Run(ctx, nil)
				if err != nil {
					t.Fatalf("run: %v\n%s", err, rep)
				}
				if !rep.OK() {
					t.Fatalf("assertions failed:\n%s", rep)
				}
				t.Logf("%s", rep)
				if rep.Reconnects != 1 || rep.Turns != 3 || rep.Approvals != 2 {
					t.Errorf("reconnects %d turns %d approvals %d", rep.Reconnects, rep.Turns, rep.Approvals)
				}
				if len(s.Faults()) != 0 {
					t.Errorf("faults without knobs: %v", s.Faults())
				}
				// The request counts add up.
				if sum := rep.RepliesMatched + rep.NoReplyExpected + rep.DeviceErrors + rep.WrongReplies +
					len(rep.Unanswered) + len(rep.Abandoned) + rep.PendingAtEnd; sum != rep.RequestsSent || rep.NoReplyExpected == 0 {
					t.Errorf("%d requests, but the kinds add up to %d:\n%s", rep.RequestsSent, sum, rep)
				}
			})
		}
	}
}
