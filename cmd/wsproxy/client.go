package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/client"
)

func init() {
	register("client", command{summary: "run the reference client's scripted session against an environment", run: runClient})
}

const clientUsage = `usage: wsproxy client [flags] URL

Runs the reference remote client: attaches control and stream sockets (or
one, -single), syncs, acks, pings, dedupes, and runs a script (by default
every command of the Remote Client API reference, three turns with a tool
approved and one denied, and a reconnect). Prints a report; exits 0 when
every assertion passed, 1 otherwise, 2 on bad usage.

URL is the environment base URL (http://host:port: the environments list
picks the connectionId) or a full status URL
(ws://host/v1/environments/{connectionId}/status/ws?agentId=…).

Examples:
  wsproxy client -token secret http://127.0.0.1:8766
  wsproxy client -single -script session.json http://127.0.0.1:8766
  wsproxy client -skip-ack-every 29 -no-sync http://127.0.0.1:8765   (misbehave on purpose)

Flags:
`

func runClient(args []string, stdout, stderr io.Writer) int {
	sig := signalContext(stderr)
	defer sig.stop()
	ctx := sig.ctx
	return runClientContext(ctx, args, stdout, stderr)
}

func runClientContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsproxy client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &client.Client{}
	fs.StringVar(&c.Token, "token", "", "bearer token, sent as Authorization: Bearer, e.g. -token secret")
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
	asJSON := fs.Bool("json", false, "print the report as JSON")
	withLog := fs.Bool("log", false, "include every message sent and received in the JSON report")
	verbose := fs.Bool("v", false, "log sessions, gaps, syncs and faults to stderr")
	fs.IntVar(&c.Inject.SkipAckEvery, "skip-ack-every", 0, "fault: leave unacked every frame whose seq is a multiple of N, e.g. 29")
	skipSeqs := fs.String("skip-ack-seqs", "", "fault: leave these seqs unacked, e.g. 3,17")
	fs.StringVar(&c.Inject.SkipAckChannel, "skip-ack-channel", "", "fault: skip acks only on this channel (control, stream or single)")
	fs.BoolVar(&c.Inject.NeverPing, "never-ping", false, "fault: never send a ping")
	fs.BoolVar(&c.Inject.NoSync, "no-sync", false, "fault: never sync (not on attach, not after gaps)")
	fs.IntVar(&c.Inject.ReuseRequestIDEvery, "reuse-id-every", 0, "fault: every N-th scripted request reuses the previous request_id, e.g. 11")
	fs.Usage = func() { fmt.Fprint(fs.Output(), clientUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "wsproxy client: want exactly one URL (see wsproxy client -h)")
		return 2
	}
	c.URL = fs.Arg(0)
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
			fmt.Fprintf(stderr, "wsproxy client: -skip-ack-seqs: %v\n", err)
			return 2
		}
		c.Inject.SkipAckSeqs = append(c.Inject.SkipAckSeqs, n)
	}
	var script *client.Script
	if *scriptArg != "default" && *scriptArg != "" {
		var err error
		if script, err = client.LoadScript(*scriptArg); err != nil {
			fmt.Fprintln(stderr, "wsproxy client:", err)
			return 2
		}
	}
	c.KeepLog = *withLog
	if *verbose {
		c.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	rep, err := c.Run(runCtx, script)
	if err != nil {
		fmt.Fprintln(stderr, "wsproxy client:", err)
		if rep == nil {
			return 2
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		fmt.Fprint(stdout, rep)
	}
	if err != nil || !rep.OK() {
		return 1
	}
	return 0
}
