package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lettadev/wsproxy/sim"
)

func init() {
	register("sim", command{summary: "serve a simulated Letta Code environment (relay and device) with optional faults", run: runSim})
}

const simUsage = `usage: wsproxy sim [flags]

Serves a simulated Letta Code environment until SIGINT: the environments
list (GET /v1/environments?onlineOnly=true) and the status WebSocket
(/v1/environments/{connectionId}/status/ws) of a relay with a device behind
it. Every command of the Remote Client API reference is answered; input
runs a deterministic turn ("run <cmd>" in the message asks for a Bash
approval). Fault flags make it misbehave on purpose; on exit it prints every
fault it injected (the ground truth a checker must find).

Examples:
  wsproxy sim -token secret
  wsproxy sim -listen 127.0.0.1:8766 -dialect reference
  wsproxy sim -gap-every 30 -dup-every 40 -unanswered-every 20 -faults-out truth.jsonl

Flags:
`

func runSim(args []string, stdout, stderr io.Writer) int {
	sig := signalContext(stderr)
	defer sig.stop()
	ctx := sig.ctx
	return runSimContext(ctx, args, stdout, stderr)
}

func runSimContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsproxy sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8766", "address to serve on (loopback unless -allow-remote), e.g. 127.0.0.1:0 for any free port")
	allowRemote := fs.Bool("allow-remote", false, "allow a -listen address that is not loopback")
	token := fs.String("token", "", "bearer token clients must send (header or ?token=); empty: no auth, e.g. -token secret")
	dialect := fs.String("dialect", "v2", "reply names: v2 (the real device: abort_message_response, sync_response, input_accepted, turn_finished) or reference (cancel_ack, cwd_changed)")
	connID := fs.String("connection-id", sim.DefaultConnectionID, "connectionId of the environment, e.g. conn-laptop")
	seed := fs.Int64("seed", 1, "seed of uuids, ids and fault choices: the same seed and traffic give the same faults")
	pace := fs.Duration("pace", 0, "delay between the steps of a turn, e.g. 200ms (0: instant)")
	devicePing := fs.Duration("device-ping", 0, "device heartbeat: send {\"type\":\"ping\"} on every socket at this interval, e.g. 30s (0: off)")
	alwaysTool := fs.Bool("always-tool", false, "every turn asks for a tool approval (otherwise only messages containing \"run \")")
	readLimit := fs.Int64("read-limit", sim.DefaultReadLimit, "largest frame accepted in bytes; a bigger one closes the socket with 1009")
	verbose := fs.Bool("v", false, "log sockets and injected faults to stderr")
	faultsOut := fs.String("faults-out", "", "write the injected faults as JSON lines to FILE on exit (default: print them to stdout)")
	var f sim.Faults
	fs.IntVar(&f.GapEvery, "gap-every", 0, "skip event_seq values before every N-th event, e.g. 30")
	fs.IntVar(&f.GapSize, "gap-size", 1, "at most this many values per gap, e.g. 3")
	fs.IntVar(&f.DuplicateEvery, "dup-every", 0, "send every N-th event twice, byte for byte, e.g. 40")
	fs.IntVar(&f.AlterEvery, "alter-every", 0, "resend every N-th event with its idempotency_key but a different payload, e.g. 150")
	fs.IntVar(&f.UnansweredEvery, "unanswered-every", 0, "leave every N-th request unanswered, e.g. 20")
	unansweredTypes := fs.String("unanswered-types", "", "leave every request of these command types unanswered, e.g. get_tree,list_models")
	fs.IntVar(&f.OrphanEvery, "orphan-every", 0, "follow every N-th reply with a copy for a request_id nobody sent, e.g. 25")
	fs.IntVar(&f.DelayEvery, "delay-every", 0, "delay every N-th reply by -delay, e.g. 10")
	fs.DurationVar(&f.Delay, "delay", 0, "how long -delay-every delays a reply, e.g. 500ms")
	fs.DurationVar(&f.Timeout, "timeout", 0, "the checker's reply timeout: a delay at or over it is reported as unmatched-request (default 10s)")
	fs.IntVar(&f.DropAfterFrames, "drop-after", 0, "drop a socket abruptly (no close frame) after N frames, at a quiet point, e.g. 100")
	fs.IntVar(&f.DropMax, "drop-max", 0, "at most this many drops (default 1)")
	fs.DurationVar(&f.QuietFor, "quiet-for", 0, "silence a drop waits for (default 25ms)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), simUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wsproxy sim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	d, err := sim.ParseDialect(*dialect)
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy sim:", err)
		return 2
	}
	if *unansweredTypes != "" {
		f.UnansweredTypes = strings.Split(*unansweredTypes, ",")
	}
	if err := checkListen(*listen, *allowRemote, stderr); err != nil {
		fmt.Fprintln(stderr, "wsproxy sim:", err)
		return 2
	}
	s := &sim.Server{
		Token: *token, Dialect: d, Seed: *seed, Pace: *pace, DevicePingInterval: *devicePing,
		AlwaysTool: *alwaysTool, ReadLimit: *readLimit, Inject: f,
		Environments: []sim.Environment{{ConnectionID: *connID}},
	}
	if *verbose {
		s.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	base, err := s.Start(*listen)
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy sim:", err)
		return 1
	}
	auth := "no auth"
	tokenFlag := ""
	if *token != "" {
		auth = "token required (Authorization: Bearer or ?token=)"
		tokenFlag = " -token " + *token
	}
	fmt.Fprintf(stdout, "simulated environment  %s (dialect %s, %s)\n", base, d, auth)
	fmt.Fprintf(stdout, "connectionId           %s\n", s.ConnectionID())
	fmt.Fprintf(stdout, "status socket          %s\n", s.StatusURL(s.ConnectionID(), "agent-remote-1", "default", "control"))
	fmt.Fprintf(stdout, "try                    wsproxy client%s %s\n", tokenFlag, base)
	fmt.Fprintln(stdout, "press Ctrl-C to stop")

	<-ctx.Done()
	closeErr := s.Close()
	code := 0
	if err := writeFaults(s.Faults(), *faultsOut, stdout); err != nil {
		fmt.Fprintln(stderr, "wsproxy sim:", err)
		code = 1
	}
	if closeErr != nil {
		fmt.Fprintln(stderr, "wsproxy sim:", closeErr)
		code = 1
	}
	return code
}

// writeFaults writes the ground truth as JSON lines to path, or a summary
// to stdout when path is empty.
func writeFaults(fs []sim.Fault, path string, stdout io.Writer) error {
	if path == "" {
		fmt.Fprintf(stdout, "injected faults: %d\n", len(fs))
		for _, f := range fs {
			fmt.Fprintf(stdout, "  %s\n", f)
		}
		return nil
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	enc := json.NewEncoder(out)
	for _, f := range fs {
		if err := enc.Encode(f); err != nil {
			out.Close()
			return fmt.Errorf("faults: %s: %w", path, err)
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("faults: %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "injected faults: %d, written to %s\n", len(fs), path)
	return nil
}
