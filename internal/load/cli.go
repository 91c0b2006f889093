package load

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

const usage = `usage: wsload <command> [flags]

  server  -listen 127.0.0.1:0            the load upstream (status socket, 200-byte events as fast as acks allow)
  relay   -listen 127.0.0.1:0 -to ADDR   a plain TCP relay: the floor for any proxy hop
  drive   [flags] ws://HOST:PORT         the client: -conns 8 -events 60000, -rtt 2000, or -idle 1000 -ping 1s -for 60s
  bench   -proxy PATH [flags]            direct vs relay vs proxy, as separate processes; -idle for memory

Everything runs on loopback only. Run "wsload <command> -h" for a command's flags.
`

// Main runs the wsload command line (args without the program name) until
// ctx ends, and returns the exit code: 0, 1 when a run failed, 2 for bad
// usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"server": cmdServer, "relay": cmdRelay, "drive": cmdDrive, "bench": cmdBench,
	}
	run, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wsload: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := run(ctx, args[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "wsload %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "wsload %s: %v\n", args[0], err)
		return 1
	}
}

type usageError struct{ error }

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wsload "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string, want int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != want {
		return usageError{fmt.Errorf("want %d arguments, got %q", want, fs.Args())}
	}
	return nil
}

func listenLoopback(addr string) (net.Listener, error) {
	if err := loopbackHost(addr); err != nil {
		return nil, usageError{fmt.Errorf("-listen: %w", err)}
	}
	return net.Listen("tcp", addr)
}

func cmdServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("server", stderr)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	size := fs.Int("size", 200, "bytes per event")
	window := fs.Int64("window", 256, "unacked sequenced frames allowed in flight")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *size <= 0 || *size > 1<<20 {
		return usageError{fmt.Errorf("-size %d: want 1..1048576 (events shorter than their fields, about 190 bytes, are not padded)", *size)}
	}
	ln, err := listenLoopback(*listen)
	if err != nil {
		return err
	}
	srv := NewServer(ServerOptions{EventSize: *size, Window: *window})
	fmt.Fprintf(stdout, "wsload server: listening on ws://%s (status socket /v1/environments/{id}/status/ws?events=N)\n", ln.Addr())
	return serveUntil(ctx, func() error { return srv.Serve(ln) }, srv.Close)
}

func cmdRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("relay", stderr)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	to := fs.String("to", "", "loopback host:port to relay to (required)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *to == "" {
		return usageError{errors.New("-to is required")}
	}
	if err := loopbackHost(*to); err != nil {
		return usageError{fmt.Errorf("-to: %w", err)}
	}
	ln, err := listenLoopback(*listen)
	if err != nil {
		return err
	}
	rel, err := NewRelay(ln, *to)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "wsload relay: listening on ws://%s → %s\n", ln.Addr(), *to)
	return serveUntil(ctx, rel.Serve, rel.Close)
}

// serveUntil runs serve until it fails or ctx ends, then closes.
func serveUntil(ctx context.Context, serve func() error, closeFn func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }() // ends when closeFn is called
	select {
	case err := <-errc:
		closeFn()
		return err
	case <-ctx.Done():
		closeFn()
		return <-errc
	}
}

func cmdDrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("drive", stderr)
	conns := fs.Int("conns", 8, "connections")
	events := fs.Int64("events", 60000, "events per connection (streaming mode)")
	rtt := fs.Int("rtt", 0, "request → reply round trips per connection, one at a time (instead of streaming)")
	idle := fs.Int("idle", 0, "this many idle connections, each pinging every -ping for -for (instead of streaming)")
	ping := fs.Duration("ping", time.Second, "idle: ping interval")
	dur := fs.Duration("for", 60*time.Second, "idle: how long the connections stay open")
	format := fs.String("format", "text", "text or json")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	o := DriveOptions{URL: fs.Arg(0), Conns: *conns}
	switch {
	case *idle > 0:
		o.Conns, o.Idle, o.Ping, o.For = *idle, true, *ping, *dur
	case *rtt > 0:
		o.RTT = *rtt
	default:
		o.Events = *events
	}
	if _, err := loopbackURL(o.URL); err != nil {
		return usageError{err}
	}
	res, err := Drive(ctx, o)
	if err != nil {
		return err
	}
	if *format == "json" {
		return writeJSON(stdout, res)
	}
	switch {
	case o.Idle:
		fmt.Fprintf(stdout, "%d idle connections for %v: %d pings, %d pongs\n", res.Conns, o.For, res.Pings, res.Pongs)
	case o.RTT > 0:
		fmt.Fprintf(stdout, "%d round trips on %d connections: p50 %v, p99 %v\n", len(res.RTTs), res.Conns, res.P50, res.P99)
	default:
		fmt.Fprintf(stdout, "%d events on %d connections in %v: %.0f acked events/s\n", res.Events, res.Conns, res.Elapsed.Round(time.Millisecond), res.EventsPerSec)
	}
	return nil
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	proxy := fs.String("proxy", "", "the wsproxy binary to measure (required)")
	proxyArgs := fs.String("proxy-args", "", "more flags for the proxy, space separated (e.g. \"-no-check\")")
	events := fs.Int64("events", 60000, "events per connection")
	conns := fs.String("conns", "1,8", "connection counts to run, comma separated")
	rounds := fs.Int("rounds", 3, "rounds (figures are medians)")
	rtt := fs.Int("rtt", 2000, "round trips per path and round (0: none)")
	dir := fs.String("dir", "", "keep the proxy's traces in this directory (default: a temporary one, removed)")
	format := fs.String("format", "text", "text, or json (the table then goes to standard error)")
	idle := fs.Bool("idle", false, "memory instead: -idle-conns connections through the proxy, each pinging every -ping for -for, then -after")
	idleConns := fs.Int("idle-conns", 1000, "idle: connections")
	ping := fs.Duration("ping", time.Second, "idle: ping interval")
	dur := fs.Duration("for", 60*time.Second, "idle: how long the connections stay open")
	after := fs.Duration("after", 60*time.Second, "idle: how long to follow the RSS after they closed")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageError{fmt.Errorf("-format %q: want text or json", *format)}
	}
	if *proxy == "" {
		return usageError{errors.New("-proxy PATH_TO_WSPROXY is required (go build -o /tmp/wsproxy ./cmd/wsproxy)")}
	}
	if st, err := os.Stat(*proxy); err != nil || st.IsDir() {
		return usageError{fmt.Errorf("-proxy %s: not a program file", *proxy)}
	}
	pargs := strings.Fields(*proxyArgs)
	var log io.Writer = stderr
	if *idle {
		res, err := BenchIdle(ctx, IdleOptions{Proxy: *proxy, ProxyArgs: pargs, Conns: *idleConns, Ping: *ping, For: *dur, After: *after, Dir: *dir, Log: log})
		if err != nil {
			return err
		}
		if *format == "json" {
			res.WriteText(stderr)
			return writeJSON(stdout, res)
		}
		res.WriteText(stdout)
		return nil
	}
	var counts []int
	for _, f := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return usageError{fmt.Errorf("-conns %q: want positive numbers separated by commas", *conns)}
		}
		counts = append(counts, n)
	}
	res, err := Bench(ctx, BenchOptions{Proxy: *proxy, ProxyArgs: pargs, Events: *events, Conns: counts, Rounds: *rounds, RTT: *rtt, Dir: *dir, Log: log})
	if err != nil {
		return err
	}
	if *format == "json" {
		res.WriteText(stderr)
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	} else {
		res.WriteText(stdout)
	}
	if !res.CountsOK {
		return errors.New("the proxy's traces do not hold every event the clients received")
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
