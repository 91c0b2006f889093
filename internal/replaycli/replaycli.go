// Package replaycli is the replayer's command line, shared by "wsproxy
// replay" and the replay binary (a thin alias): the flags, their checks,
// and the wiring of package replay to a listener or a live server.
package replaycli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/replay"
)

// Usage is the replayer's help text, before its flags.
const Usage = `usage: %[1]s [flags] TRACE...
       %[1]s -drive ws://HOST:PORT [flags] TRACE...

Serves the sessions of a wsproxy trace back to clients as if it were the
real status WebSocket, or (with -drive) plays the recorded client against a
live server, and reports how the live peer diverged from the recording.
TRACE is a trace file, several (the rotated parts of one run), or a
directory of them: they are one timeline, and a session spanning parts is
replayed whole. A replay server ignores auth. -drive sends -token (default $LETTA_API_KEY)
as a bearer token, never logged.

The summary report goes to stdout (-report FILE writes it as JSON);
sessions and divergences are logged to stderr as they happen. -timeout is
how long to wait for a frame, socket or write of the live peer.
-drive compares contents ignoring volatile fields; -ignore adds member
names (at any depth) or JSON paths (a.b, list[*].id).
Exit status: 0 ok (or divergence without -strict), 1 divergence with
-strict, 2 usage error or the replay could not run (with -drive: a socket
that could not connect, or a refused handshake, with its HTTP status and
body).

Examples:
  %[1]s -once -strict -report report.json traces/sim-turn-approval.jsonl.zst
  %[1]s -drive ws://127.0.0.1:8766 -strict -ignore run_id traces/sim-turn-approval.jsonl.zst
  %[1]s -once recordings/   (the rotated parts of a run)
  %[1]s -list traces/real-device-paired-full.jsonl.zst`

// Run is the command named name ("replay" or "wsproxy replay"); onListen,
// if set, gets the address served on.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer, onListen func(addr string)) int {
	f := cli.NewFlags(name, fmt.Sprintf(Usage, name), stdout, stderr)
	var (
		listen  = f.String("listen", "127.0.0.1:8766", "address to serve on")
		mode    = f.String("mode", "reactive", "pacing of replayed frames: reactive, timed or fast")
		speed   = f.Float64("speed", 1, "timed mode: scale of the recorded gaps (2 = twice as fast)")
		session = f.String("session", "", "replay only this session: a number, connectionId/agentId/conversationId, or a connectionId")
		conn    = f.String("conn", "", "replay only the session holding this recorded connection (a trace \"conn\" id)")
		once    = f.Bool("once", false, "exit after the first session")
		all     = f.Bool("all", false, "exit after serving every selected session once (default: serve them again until interrupted)")
		strict  = f.Bool("strict", false, "exit 1 on any divergence")
		report  = f.String("report", "", "write a JSON report of matched, unexpected and missing frames to `FILE`")
		timeout = f.Duration("timeout", 10*time.Second, "how long to wait for a frame, socket or write of the live peer")
		linger  = f.Duration("linger", 2*time.Second, "how long to keep a socket open after the recording is over (negative: until the peer closes)")
		drive   = f.String("drive", "", "play the recorded client against the live server at `URL` (ws://HOST:PORT) instead of serving")
		types   = f.Bool("types-only", false, "drive: compare the server's frames by type only, not contents")
		ignore  = f.String("ignore", "", "drive: also ignore these `FIELD[,FIELD...]` when comparing contents: member names (at any depth) or JSON paths (a.b, list[*].id)")
		acks    = f.Bool("require-acks", false, "serve: a frame with a seq the client never acks is a divergence")
		list    = f.Bool("list", false, "list the trace's sessions and exit")
		token   string
	)
	f.Token(&token, "drive: bearer token for the live server")
	quiet := f.Bool("q", false, "log only divergences and the summary")
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return f.Usagef("want a TRACE (usage: %s [flags] TRACE...)", name)
	}
	paths := pos
	volatile, err := replay.ParseIgnore(*ignore)
	if err != nil {
		return f.Usagef("%v", err)
	}
	m, err := replay.ParseMode(*mode)
	if err != nil {
		return f.Usagef("%v", err)
	}
	if *speed <= 0 {
		return f.Usagef("-speed must be positive")
	}
	if *once && *all {
		return f.Usagef("-once and -all exclude each other")
	}
	if *drive != "" && !strings.Contains(*drive, "://") {
		if _, err := cli.ParseURL("-drive", *drive, "ws", "wss", "http", "https"); err != nil {
			return f.Usagef("%v", err)
		}
	}
	if *list {
		return listSessions(paths, stdout, f)
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
	if token != "" && *drive != "" {
		// A live relay wants a token; it is sent, never logged.
		opts.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	if *quiet {
		opts.Logf = nil
		opts.OnDivergence = func(e replay.Entry) { logger.Printf("%s", f.Prefix("divergence: "+e.String())) }
	}

	var rep *replay.Report
	if *drive != "" {
		rep, err = replay.DriveFiles(ctx, *drive, paths, opts)
	} else {
		rep, err = serve(ctx, *listen, paths, opts, f, onListen)
	}
	if err != nil {
		return f.Failf("%v", err)
	}
	fmt.Fprintln(stdout, rep) // the report is structured output: stdout, like every command's
	if *report != "" {
		if err := rep.WriteFile(*report); err != nil {
			return f.Failf("write report: %v", err)
		}
	}
	if rep.Err() != nil {
		// The live server could not be compared with: not a pass, and not
		// a divergence either.
		for _, c := range rep.ConnectErrors {
			f.Errorf("error: %s", c)
		}
		return cli.ExitFailure
	}
	if *strict && (!rep.OK() || len(rep.NotServed) > 0 && !opts.Repeat && opts.MaxSessions == 0) {
		return cli.ExitFindings
	}
	return cli.ExitOK
}

// serve runs a replay server until the sessions are done or ctx ends.
func serve(ctx context.Context, listen string, paths []string, opts replay.Options, f *cli.Flags, onListen func(string)) (*replay.Report, error) {
	srv, err := replay.NewServerFiles(paths, opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		srv.Close()
		return nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	addr := ln.Addr().String()
	fmt.Fprintln(f.Stderr(), f.Prefix(fmt.Sprintf("serving %d session(s) of %s (%s) on ws://%s; environments at http://%s/v1/environments",
		len(srv.Sessions()), srv.Index().Path, opts.Mode, addr, addr)))
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
		return nil, err
	}
	return srv.Report(), nil
}

func listSessions(paths []string, stdout io.Writer, f *cli.Flags) int {
	x, err := replay.ReadIndex(paths...)
	if err != nil {
		return f.Failf("%v", err)
	}
	for _, w := range x.Warnings {
		f.Errorf("warning: %s", w)
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
	return cli.ExitOK
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
