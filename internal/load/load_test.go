package load

import (
	"context"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lettadev/wsproxy/protocol"
)

func TestMain(m *testing.M) {
	if runChild() {
		return
	}
	goleak.VerifyTestMain(m)
}

// upstream runs a Server and a Relay in front of it, both in this process,
// and returns their ws:// URLs.
func upstream(t *testing.T) (direct, relayed string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ServerOptions{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := NewRelay(rln, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	relayed2 := make(chan error, 1)
	go func() { relayed2 <- rel.Serve() }()
	t.Cleanup(func() {
		rel.Close()
		if err := <-relayed2; err != nil {
			t.Error(err)
		}
		srv.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return "ws://" + ln.Addr().String(), "ws://" + rln.Addr().String()
}

func TestDriveStreamsRoundTripsAndIdles(t *testing.T) {
	direct, relayed := upstream(t)
	ctx := context.Background()
	for _, u := range []string{direct, relayed} {
		res, err := Drive(ctx, DriveOptions{URL: u, Conns: 3, Events: 3000})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if res.Events != 9000 || res.Acks != 9000 {
			t.Fatalf("%s: %d events, %d acks, want 9000 of each", u, res.Events, res.Acks)
		}
		res, err = Drive(ctx, DriveOptions{URL: u, Conns: 2, RTT: 40})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if len(res.RTTs) != 80 || res.P50 <= 0 || res.P99 < res.P50 {
			t.Fatalf("%s: %d round trips, p50 %v, p99 %v", u, len(res.RTTs), res.P50, res.P99)
		}
		// Every reply is sequenced and acked (the syncs' too, one per
		// connection).
		if res.Acks != 80+2 {
			t.Fatalf("%s: %d acks for 80 replies and 2 syncs", u, res.Acks)
		}
		res, err = Drive(ctx, DriveOptions{URL: u, Conns: 4, Idle: true, Ping: 10 * time.Millisecond, For: 60 * time.Millisecond})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if res.Pings == 0 || res.Pongs != res.Pings {
			t.Fatalf("%s: %d pings, %d pongs", u, res.Pings, res.Pongs)
		}
	}
}

func TestEventsAreProtocolMessagesOfTheirSize(t *testing.T) {
	for _, n := range []int64{1, 99, 999999} {
		b := appendEvent(nil, n, n+7, 200)
		if len(b) != 200 {
			t.Fatalf("event %d is %d bytes: %s", n, len(b), b)
		}
		env, err := protocol.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(env.Type) != EventType || env.Info == nil || !env.Info.Envelope || env.EventSeq != n || env.Seq != n+7 ||
			!strings.HasPrefix(string(env.IdempotencyKey), "stream_delta:") {
			t.Fatalf("event %d parses as %+v: %s", n, env, b)
		}
	}
	if b := appendReply(nil, "list_models_response", "r-1", 3); !strings.Contains(string(b), `"request_id":"r-1"`) {
		t.Fatalf("reply: %s", b)
	}
}

func TestRefusesAddressesThatAreNotLoopback(t *testing.T) {
	for _, u := range []string{"ws://10.0.0.1:80", "ws://example.com:80", "wss://127.0.0.1:1", "ws://192.168.1.1"} {
		if _, err := Drive(context.Background(), DriveOptions{URL: u, Events: 1}); err == nil || !strings.Contains(err.Error(), u[strings.Index(u, "//")+2:]) {
			t.Errorf("Drive(%s): %v, want a refusal naming the address", u, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := NewRelay(ln, "8.8.8.8:53"); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("NewRelay to 8.8.8.8:53: %v", err)
	}
}

// runChild makes the test binary act as the wsload command when the
// bench test starts it as a child process (WSLOAD_TEST_CHILD=1).
func runChild() bool {
	if os.Getenv("WSLOAD_TEST_CHILD") != "1" {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
	return true
}

func TestMainRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"drive", "ws://10.1.2.3:80"}, `"10.1.2.3:80" is not loopback`},
		{[]string{"drive"}, "want 1 arguments"},
		{[]string{"relay"}, "-to is required"},
		{[]string{"relay", "-to", "8.8.8.8:53"}, `"8.8.8.8:53" is not loopback`},
		{[]string{"server", "-listen", "0.0.0.0:0"}, `"0.0.0.0:0" is not loopback`},
		{[]string{"server", "-size", "0"}, "-size 0"},
		{[]string{"bench"}, "-proxy PATH_TO_WSPROXY is required"},
		{[]string{"bench", "-proxy", "/nonexistent/wsproxy"}, "not a program file"},
		{[]string{"bench", "-proxy", os.Args[0], "-conns", "1,x"}, `-conns "1,x"`},
		{[]string{"bench", "-proxy", os.Args[0], "-format", "xml"}, `-format "xml"`},
	} {
		var out, errb strings.Builder
		if code := Main(context.Background(), c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("wsload %q: exit %d, stderr %q; want exit 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}
