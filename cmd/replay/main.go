// Command replay serves the sessions of a wsproxy trace back to clients
// as if it were the real status WebSocket, or (with -drive) plays the
// recorded client against a live server, and reports how the live peer
// diverged from the recording.
//
//	replay [-listen 127.0.0.1:8766] [-mode reactive|timed|fast] [-speed 1.0]
//	       [-session KEY|-conn ID] [-once|-all] [-strict] [-report FILE] TRACE...
//	replay -drive ws://HOST:PORT [-ignore FIELD,...] [-strict] [-report FILE] TRACE...
//
// TRACE may be several files or a directory: the rotated parts of a run
// are one timeline, and a session spanning parts is replayed whole.
//
// Exit status: 0, or 1 with -strict when the live peer diverged, or 2 when
// the replay could not run (with -drive: a socket could not connect, or
// its handshake was refused).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lettadev/wsproxy/replay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// run is the command; onListen, if set, gets the address served on.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, onListen func(addr string)) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen  = fs.String("listen", "127.0.0.1:8766", "address to serve on")
		mode    = fs.String("mode", "reactive", "pacing of replayed frames: reactive, timed or fast")
		speed   = fs.Float64("speed", 1, "timed mode: scale of the recorded gaps (2 = twice as fast)")
		session = fs.String("session", "", "replay only this session: a number, connectionId/agentId/conversationId, or a connectionId")
		conn    = fs.String("conn", "", "replay only the session holding this recorded connection (a trace \"conn\" id)")
		once    = fs.Bool("once", false, "exit after the first session")
		all     = fs.Bool("all", false, "exit after serving every selected session once (default: serve them again until interrupted)")
		strict  = fs.Bool("strict", false, "exit 1 on any divergence")
		report  = fs.String("report", "", "write a JSON report of matched, unexpected and missing frames to `FILE`")
		timeout = fs.Duration("timeout", 10*time.Second, "how long to wait for a frame, socket or write of the live peer")
		linger  = fs.Duration("linger", 2*time.Second, "how long to keep a socket open after the recording is over (negative: until the peer closes)")
		drive   = fs.String("drive", "", "play the recorded client against the live server at `URL` (ws://HOST:PORT) instead of serving")
		types   = fs.Bool("types-only", false, "drive: compare the server's frames by type only, not contents")
		ignore  = fs.String("ignore", "", "drive: also ignore these `FIELD[,FIELD...]` when comparing contents: member names (at any depth) or JSON paths (a.b, list[*].id)")
		acks    = fs.Bool("require-acks", false, "serve: a frame with a seq the client never acks is a divergence")
		list    = fs.Bool("list", false, "list the trace's sessions and exit")
		quiet   = fs.Bool("q", false, "log only divergences and the summary")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: replay [flags] TRACE...\n       replay -drive ws://HOST:PORT [flags] TRACE...\n\n"+
			"TRACE is a trace file, several (rotated parts of one run), or a directory of them.\n"+
			"A replay server ignores auth. -drive sends $LETTA_API_KEY, if set, as a bearer token.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	paths := fs.Args()
	m, err := replay.ParseMode(*mode)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *speed <= 0 {
		fmt.Fprintln(stderr, "replay: -speed must be positive")
		return 2
	}
	volatile, err := replay.ParseIgnore(*ignore)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *once && *all {
		fmt.Fprintln(stderr, "replay: -once and -all exclude each other")
		return 2
	}
	if *list {
		return listSessions(paths, stdout, stderr)
	}
	logger := log.New(stderr, "", log.Ltime|log.Lmicroseconds)
	opts := replay.Options{
		Mode: m, Speed: *speed, Session: *session, Conn: *conn, Timeout: *timeout, Linger: *linger,
		Repeat: !*once && !*all, TypesOnly: *types, Volatile: volatile, RequireAcks: *acks, Logf: logger.Printf,
	}
	if *linger == 0 {
		opts.Linger = time.Nanosecond
	}
	if *once {
		opts.MaxSessions = 1
	}
	if key := os.Getenv("LETTA_API_KEY"); key != "" && *drive != "" {
		// A live relay wants a token; it is sent, never logged.
		opts.Header = http.Header{"Authorization": {"Bearer " + key}}
	}
	if *quiet {
		opts.Logf = nil
		opts.OnDivergence = func(e replay.Entry) { logger.Printf("replay: divergence: %s", e) }
	}

	var rep *replay.Report
	if *drive != "" {
		rep, err = replay.DriveFiles(ctx, *drive, paths, opts)
	} else {
		rep, err = serve(ctx, *listen, paths, opts, stderr, onListen)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprintln(stderr, rep)
	if *report != "" {
		if err := rep.WriteFile(*report); err != nil {
			fmt.Fprintf(stderr, "replay: write report: %v\n", err)
			return 2
		}
	}
	if err := rep.Err(); err != nil {
		// The live server could not be compared with: not a pass, and
		// not a divergence either.
		for _, c := range rep.ConnectErrors {
			fmt.Fprintf(stderr, "replay: error: %s\n", c)
		}
		return 2
	}
	if *strict && (!rep.OK() || len(rep.NotServed) > 0 && !opts.Repeat && opts.MaxSessions == 0) {
		return 1
	}
	return 0
}

// serve runs a replay server until the sessions are done or ctx ends.
func serve(ctx context.Context, listen string, paths []string, opts replay.Options, stderr io.Writer, onListen func(string)) (*replay.Report, error) {
	srv, err := replay.NewServerFiles(paths, opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("replay: %w", err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	addr := ln.Addr().String()
	fmt.Fprintf(stderr, "replay: serving %d session(s) of %s (%s) on ws://%s; environments at http://%s/v1/environments\n",
		len(srv.Sessions()), srv.Index().Path, opts.Mode, addr, addr)
	if onListen != nil {
		onListen(addr)
	}
	select {
	case <-ctx.Done():
	case <-srv.Done():
	case err = <-served:
	}
	srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	hs.Shutdown(sctx)
	cancel()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return srv.Report(), nil
}

func listSessions(paths []string, stdout, stderr io.Writer) int {
	x, err := replay.ReadIndex(paths...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	for _, w := range x.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	for _, s := range x.Sessions {
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%d client / %d server frames\t", s.Number, s.Name(), lineRange(x, s), s.ClientFrames, s.ServerFrames)
		for i, c := range s.Conns {
			if i > 0 {
				fmt.Fprint(stdout, " ")
			}
			fmt.Fprintf(stdout, "%s(%s)", c.Conn, c.Channel)
		}
		fmt.Fprintln(stdout)
	}
	return 0
}

// lineRange names a session's lines, with their files when the trace has
// several.
func lineRange(x *replay.Index, s *replay.SessionInfo) string {
	ff, fl := x.Locate(s.FirstLine)
	lf, ll := x.Locate(s.LastLine)
	switch {
	case ff == "":
		return fmt.Sprintf("lines %d-%d", fl, ll)
	case ff == lf:
		return fmt.Sprintf("%s lines %d-%d", ff, fl, ll)
	}
	return fmt.Sprintf("%s line %d - %s line %d", ff, fl, lf, ll)
}
