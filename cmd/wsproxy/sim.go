package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/sim"
)

const simUsage = `usage: wsproxy sim [flags]

Serves a simulated Letta Code environment until SIGINT: the environments
list (GET /v1/environments?onlineOnly=true) and the status WebSocket
(/v1/environments/{connectionId}/status/ws) of a relay with a device behind
it. Every command of the Remote Client API reference is answered; input
runs a deterministic turn ("run <cmd>" in the message asks for a Bash
approval). Fault flags make it misbehave on purpose; on exit it prints every
fault it injected (the ground truth a checker must find). -timeout is the
checker's reply timeout the delay faults are judged against. Exit status: 0
after Ctrl-C, 2 on a usage error or when it cannot listen.

Examples:
  wsproxy sim -token secret
  wsproxy sim -listen 127.0.0.1:8766 -dialect reference
  wsproxy sim -gap-every 30 -dup-every 40 -unanswered-every 20 -faults-out truth.jsonl`

func runSim(args []string, stdout, stderr io.Writer) int {
	sig := signalContext(stderr)
	defer sig.stop()
	ctx := sig.ctx
	return runSimContext(ctx, args, stdout, stderr)
}

func runSimContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("wsproxy sim", simUsage, stdout, stderr)
	listen := fs.String("listen", "127.0.0.1:8766", "address to serve on (loopback unless -allow-remote), e.g. 127.0.0.1:0 for any free port")
	allowRemote := fs.Bool("allow-remote", false, "allow a -listen address that is not loopback")
	token := fs.String("token", "", "bearer token clients must send (header or ?token=); empty: no auth, e.g. -token secret")
	dialect := fs.String("dialect", "v2", "reply names: v2 (the real device: abort_message_response, sync_response, input_accepted, turn_finished) or reference (cancel_ack, cwd_changed)")
	connID := fs.String("connection-id", sim.DefaultConnectionID, "connectionId of the environment, e.g. conn-laptop")
	seed := fs.Int64("seed", 1, "seed of uuids, ids and fault choices: the same seed and traffic give the same faults")
	pace := fs.Duration("pace", 0, "delay between the steps of a turn, e.g. 200ms (0: instant)")
	devicePing := fs.Duration("device-ping", 0, "device heartbeat: send {\"type\":\"ping\"} on every socket at this interval, e.g. 30s (0: off)")
	alwaysTool := fs.Bool("always-tool", false, "every turn asks for a tool approval (otherwise only messages containing \"run \")")
	var readLimit int64
	fs.Size(&readLimit, "read-limit", sim.DefaultReadLimit, "largest frame accepted, e.g. 1MiB; a bigger one closes the socket with 1009")
	level := fs.Verbosity("print only the URL lines and the faults on exit", "log sockets and injected faults to stderr")
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
	pos, code, ok := fs.Parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return fs.Usagef("unexpected argument %q", pos[0])
	}
	d, err := sim.ParseDialect(*dialect)
	if err != nil {
		return fs.Usagef("%v", err)
	}
	if *unansweredTypes != "" {
		f.UnansweredTypes = strings.Split(*unansweredTypes, ",")
	}
	if err := checkListen(*listen, *allowRemote, stderr); err != nil {
		return fs.Usagef("%v", err)
	}
	s := &sim.Server{
		Token: *token, Dialect: d, Seed: *seed, Pace: *pace, DevicePingInterval: *devicePing,
		AlwaysTool: *alwaysTool, ReadLimit: readLimit, Inject: f,
		Environments: []sim.Environment{{ConnectionID: *connID}},
	}
	if level.Verbose() {
		s.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	base, err := s.Start(*listen)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe // "listen tcp ADDR: bind: address already in use", once
		}
		return fs.Failf("%v", err)
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
	if !level.Quiet() {
		fmt.Fprintf(stdout, "try                    wsproxy client%s %s\n", tokenFlag, base)
		fmt.Fprintln(stdout, "press Ctrl-C to stop")
	}

	<-ctx.Done()
	closeErr := s.Close()
	code = cli.ExitOK
	if err := writeFaults(s.Faults(), *faultsOut, stdout); err != nil {
		code = fs.Failf("%v", err)
	}
	if closeErr != nil {
		code = fs.Failf("%v", closeErr)
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
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
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
