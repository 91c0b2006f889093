package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/lettadev/wsproxy/analysis"
)

func init() {
	register("check", command{summary: "check traces against the protocol's invariants", run: runCheck})
}

// runCheck is "wsproxy check": exit 0 without error findings, 1 with
// some, 2 on a usage or read error.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := analysis.DefaultConfig()
	cfg := d
	format := fs.String("format", "text", "output format: text, json or junit")
	fs.DurationVar(&cfg.AckTimeout, "ack-timeout", d.AckTimeout, "time a client has to ack a server frame's seq")
	fs.DurationVar(&cfg.ResponseTimeout, "response-timeout", d.ResponseTimeout, "time a command's reply may take")
	fs.DurationVar(&cfg.SyncTimeout, "sync-timeout", d.SyncTimeout, "time a client has to sync after an event_seq gap")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", d.Heartbeat, "the client's expected ping interval")
	fs.DurationVar(&cfg.HeartbeatSlack, "heartbeat-slack", d.HeartbeatSlack, "tolerance on top of -heartbeat")
	fs.DurationVar(&cfg.PongTimeout, "pong-timeout", d.PongTimeout, "time a ping's pong may take")
	fs.IntVar(&cfg.ReorderEvents, "reorder-events", d.ReorderEvents, "events a missing event_seq may still arrive within")
	fs.DurationVar(&cfg.ReorderWindow, "reorder-window", d.ReorderWindow, "record time a missing event_seq may still arrive within")
	disable := fs.String("disable", "", "comma-separated rule ids not to report")
	listRules := fs.Bool("rules", false, "list the rules and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wsproxy check [flags] TRACE_OR_DIR...")
		fmt.Fprintln(stderr, "Checks recorded traces (a directory means its *.jsonl, *.jsonl.zst and *.jsonl.gz")
		fmt.Fprintln(stderr, "files). Exit status: 0 no error findings, 1 error findings, 2 usage or read error.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if cfg.HeartbeatSlack == 0 {
		cfg.HeartbeatSlack = -1 // an explicit 0: no slack (the Config zero value means the default)
	}
	if *listRules {
		analysis.WriteRules(stdout)
		return 0
	}
	write := map[string]func(io.Writer, *analysis.Report) error{
		"text": analysis.WriteText, "json": analysis.WriteJSON, "junit": analysis.WriteJUnit,
	}[*format]
	if write == nil {
		fmt.Fprintf(stderr, "wsproxy check: unknown -format %q (text, json or junit)\n", *format)
		return 2
	}
	for _, id := range strings.Split(*disable, ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if _, ok := analysis.LookupRule(id); !ok {
			fmt.Fprintf(stderr, "wsproxy check: unknown rule %q in -disable (see -rules)\n", id)
			return 2
		}
		cfg.Disable = append(cfg.Disable, id)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	paths, errs := analysis.ExpandPaths(fs.Args())
	for _, err := range errs {
		fmt.Fprintf(stderr, "wsproxy check: %v\n", err)
	}
	cfg.MaxCollected = 1_000_000
	rep := analysis.CheckFiles(paths, cfg)
	for _, f := range rep.Files {
		for _, b := range f.BadLines {
			fmt.Fprintf(stderr, "wsproxy check: skipped bad record: %s\n", b)
		}
		for _, w := range f.Warnings {
			fmt.Fprintf(stderr, "wsproxy check: warning: %s; checked up to the cut\n", w)
		}
		if f.Err != nil {
			fmt.Fprintf(stderr, "wsproxy check: %v\n", f.Err)
		}
	}
	if err := write(stdout, rep); err != nil {
		fmt.Fprintf(stderr, "wsproxy check: %v\n", err)
		return 2
	}
	switch {
	case len(errs) > 0 || len(rep.ReadErrors()) > 0:
		return 2
	case rep.Errors > 0:
		return 1
	}
	return 0
}
