package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/internal/cli"
)

const clientUsage = `usage: wsproxy client [flags] URL

Runs the reference remote client: attaches control and stream sockets (or
one, -single), syncs, acks, pings, dedupes, and runs a script (by default
every command of the Remote Client API reference, three turns with a tool
approved and one denied, and a reconnect). Prints a report on stdout (-format json
for scripts); logs go to stderr. Exit status: 0 when every assertion passed,
1 when one failed, 2 on a usage error or when it could not connect (a
refused handshake is not retried when permanent: 401, 403, 404, TLS).

URL is the environment base URL (http://host:port: the environments list
picks the connectionId) or a full status URL
(ws://host/v1/environments/{connectionId}/status/ws?agentId=…).

-timeout is how long one reply may take; -token defaults to $LETTA_API_KEY.
TLS: -ca FILE trusts a PEM certificate (e.g. the one wsproxy
-tls-self-signed writes), -insecure skips verification.

Examples:
  wsproxy client -token secret http://127.0.0.1:8766
  wsproxy client -single -script session.json http://127.0.0.1:8766
  wsproxy client -skip-ack-every 29 -no-sync http://127.0.0.1:8765   (misbehave on purpose)
  wsproxy client -ca proxy-cert.pem https://127.0.0.1:8765`

func runClient(args []string, stdout, stderr io.Writer) int {
	sig := signalContext(stderr)
	defer sig.stop()
	ctx := sig.ctx
	return runClientContext(ctx, args, stdout, stderr)
}

func runClientContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlags("wsproxy client", clientUsage, stdout, stderr)
	c := &client.Client{}
	fs.Token(&c.Token, "bearer token, sent as Authorization: Bearer, e.g. -token secret")
	fs.BoolVar(&c.TokenInQuery, "query-token", false, "send the token as ?token= (the browser way) instead of a header")
	scriptArg := fs.String("script", "default", "script to run: default, or a JSON FILE ({\"name\":…,\"steps\":[{\"send\":{\"type\":\"list_models\"}},{\"turn\":{\"message\":\"run ls\",\"approval\":\"allow\"}}]})")
	single := fs.Bool("single", false, "one socket carrying everything instead of control + stream")
	channels := fs.String("channel", "", "comma-separated channels, one socket each, e.g. control,stream (default) or control; \"single\" is one socket without channel")
	fs.StringVar(&c.ConnectionID, "connection", "", "connectionId to use (default: the first listed, or the one in a status URL)")
	fs.StringVar(&c.AgentID, "agent", "", "agent id of the runtime (default "+client.DefaultAgentID+")")
	fs.StringVar(&c.ConversationID, "conversation", "", "conversation id of the runtime (default default)")
	fs.DurationVar(&c.RequestTimeout, "timeout", client.DefaultRequestTimeout, "how long a reply may take, e.g. 2s")
	fs.DurationVar(&c.TurnTimeout, "turn-timeout", client.DefaultTurnTimeout, "how long a turn may take to go idle, e.g. 1m")
	fs.DurationVar(&c.PingInterval, "ping", client.DefaultPingInterval, "heartbeat interval, e.g. 10s (a ping is also sent on attach)")
	fs.StringVar(&c.RequestIDPrefix, "prefix", "", "request_id prefix (default: random per run), e.g. run1")
	fs.BoolVar(&c.Compression, "compress", false, "offer permessage-deflate")
	format := fs.Format("text", "json")
	var caFile string
	var insecure bool
	fs.StringVar(&caFile, "ca", "", "trust this PEM CA or certificate for https:// and wss://, e.g. -ca proxy-cert.pem")
	fs.BoolVar(&insecure, "insecure", false, "do not verify the server's TLS certificate (explicit opt-in)")
	withLog := fs.Bool("log", false, "include every message sent and received in the JSON report")
	level := fs.Verbosity("print only the verdict line and failures", "log sessions, gaps, syncs and faults to stderr")
	fs.IntVar(&c.Inject.SkipAckEvery, "skip-ack-every", 0, "fault: leave unacked every frame whose seq is a multiple of N, e.g. 29")
	skipSeqs := fs.String("skip-ack-seqs", "", "fault: leave these seqs unacked, e.g. 3,17")
	fs.StringVar(&c.Inject.SkipAckChannel, "skip-ack-channel", "", "fault: skip acks only on this channel (control, stream or single)")
	fs.BoolVar(&c.Inject.NeverPing, "never-ping", false, "fault: never send a ping")
	fs.BoolVar(&c.Inject.NoSync, "no-sync", false, "fault: never sync (not on attach, not after gaps)")
	fs.IntVar(&c.Inject.ReuseRequestIDEvery, "reuse-id-every", 0, "fault: every N-th scripted request reuses the previous request_id, e.g. 11")
	pos, code, ok := fs.Parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return fs.Usagef("want exactly one URL, e.g. http://127.0.0.1:8766")
	}
	c.URL = pos[0]
	if _, err := cli.ParseURL("URL", c.URL, "http", "ws", "https", "wss"); err != nil {
		return fs.Usagef("%v", err)
	}
	tlsConf, err := cli.ClientTLS(caFile, insecure)
	if err != nil {
		return fs.Usagef("%v", err)
	}
	c.TLS = tlsConf
	switch {
	case *single:
		c.Channels = []string{""}
	case *channels != "":
		for _, ch := range strings.Split(*channels, ",") {
			if ch = strings.TrimSpace(ch); ch == "single" {
				ch = ""
			}
			c.Channels = append(c.Channels, ch)
		}
	}
	for _, s := range strings.Split(*skipSeqs, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fs.Usagef("-skip-ack-seqs: %v", err)
		}
		c.Inject.SkipAckSeqs = append(c.Inject.SkipAckSeqs, n)
	}
	var script *client.Script
	if *scriptArg != "default" && *scriptArg != "" {
		if script, err = client.LoadScript(*scriptArg); err != nil {
			return fs.Usagef("%v", err)
		}
	}
	c.KeepLog = *withLog
	if level.Verbose() {
		c.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	rep, err := c.Run(runCtx, script)
	if err != nil {
		if strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:") {
			err = fmt.Errorf("%w (trust the server's certificate with -ca FILE, or skip verification with -insecure)", err)
		}
		fs.Errorf("%v", err)
		if rep == nil || (rep.ConnectionID == "" && rep.RequestsSent == 0) {
			return cli.ExitFailure // nothing ran: the error line says it all
		}
	}
	switch {
	case *format == "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fs.Failf("%v", err)
		}
	case level.Quiet():
		lines := strings.Split(rep.String(), "\n")
		fmt.Fprintln(stdout, lines[0])
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "  failure: ") {
				fmt.Fprintln(stdout, l)
			}
		}
	default:
		fmt.Fprint(stdout, rep)
	}
	switch {
	case err != nil:
		return cli.ExitFailure // the run could not complete: connection or I/O
	case !rep.OK():
		return cli.ExitFindings
	}
	return cli.ExitOK
}
