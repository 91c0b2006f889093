package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/view"
)

const redactUsage = `usage: wsproxy redact [-rules FILE] IN -o OUT

Writes a copy of the trace IN to OUT with secrets replaced by
"[REDACTED]": the proxy's default rules (Authorization and cookie headers,
token query parameters, secret-named JSON members, secret values), plus
the rules in FILE, e.g. file contents, terminal output and home-directory
paths:

  {"members":  ["content", "output"],
   "paths":    [{"type": "read_file_response", "path": "content"},
                {"path": "payload.messages[].content"}],
   "patterns": ["/home/[^/\"]+", "sk-[A-Za-z0-9]{20,}"]}

members are replaced wherever they appear, paths from the top of a message
(of one type if given; name[] for every element of an array), patterns
(Go regular expressions) wherever they match in string values, member
names, URLs, headers, errors and non-JSON payloads. Types, ids and
sequence numbers are never touched, so OUT checks and replays exactly as
IN did. Prints what it changed. Exit status: 0, 2 on a usage or I/O error.

Example:
  wsproxy redact -rules share.json run.jsonl.zst -o run-shared.jsonl.zst`

func runRedact(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy redact", redactUsage, stdout, stderr)
	rulesFile := f.String("rules", "", "JSON `FILE` of extra rules (members, paths, patterns)")
	out := f.String("o", "", "the redacted trace to write, `OUT` (.jsonl.zst or .jsonl)")
	mkdir := f.Bool("mkdir", false, "create -o's missing parent directories")
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return f.Usagef("want one IN trace")
	}
	in := pos[0]
	if *out == "" {
		return f.Usagef("-o OUT is required")
	}
	if !cli.IsTraceFileName(*out) {
		return f.Usagef("-o %s: want a trace name ending in .jsonl.zst or .jsonl", *out)
	}
	if a, b := absPath(in), absPath(*out); a == b {
		return f.Usagef("-o %s is the input: write the redacted copy elsewhere", *out)
	}
	x := &redact.Redactor{}
	if *rulesFile != "" {
		rules, err := redact.LoadRules(*rulesFile)
		if err != nil {
			return f.Usagef("%v", err)
		}
		x.Rules = rules
	}
	plan, err := cli.PlanOut(*out, *mkdir, timeNow())
	if err != nil {
		return f.Usagef("%v", err)
	}
	// Open the input before creating anything.
	rd, err := recorder.Open(in)
	if err != nil {
		return f.Failf("%v", err)
	}
	rd.Close()
	if err := plan.Prepare(); err != nil {
		return f.Failf("%v", err)
	}
	opts := recorder.Options{}
	if strings.HasSuffix(*out, ".jsonl") {
		opts.Compression = recorder.Plain
	}
	w, err := recorder.Create(plan.Path, opts)
	if err != nil {
		return f.Failf("%v", err)
	}
	res, err := view.Read(in, func(r *trace.Record) error {
		if err := x.Record(r); err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		return w.Write(r)
	})
	closeErr := w.Close()
	if !reportRead(f, in, res, err) {
		return cli.ExitFailure
	}
	if closeErr != nil {
		return f.Failf("%v", closeErr)
	}
	fmt.Fprintf(stdout, "%s → %s: %s\n", in, plan.Path, x.Report)
	return cli.ExitOK
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
