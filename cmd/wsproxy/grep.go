package main

import (
	"io"
	"strings"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/filter"
	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/view"
)

const grepUsage = `usage: wsproxy grep [flags] FILTER TRACE...
       wsproxy grep [flags] -e FILTER TRACE...

Prints the records that match FILTER, the inspector's filter language, as
cat does (-format jsonl for scripts), or with -o writes them as a new trace
(each kept connection with its open and close records, so the excerpt
still checks and replays: cut a big trace down for a bug report). FILTER is
one argument: quote it when it has several terms; a filter that starts with
'-' goes after -e. Terms (all must match; -term negates):

  type:stream_delta  type:stream_*  from:client  conn:c2  req:ID
  rule:unacked-seq  rule:*  seq:7  event_seq:10-20  kind:close  op:ping
  line:100-200  free text (a substring of the payload), "quoted text"

Exit status: 0 when a record matched, 1 when none did, 2 on a usage error
or when a trace cannot be read.

Examples:
  wsproxy grep 'type:read_file from:client' traces/sim-files-models.jsonl.zst
  wsproxy grep 'rule:*' run.jsonl.zst
  wsproxy grep 'conn:c1 -type:ack -type:ping' big.jsonl.zst -o bug.jsonl.zst`

func runGrep(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy grep", grepUsage, stdout, stderr)
	expr := f.String("e", "", "the FILTER (when it starts with '-')")
	out := f.String("o", "", "write the matching records as a trace to `FILE` (.jsonl.zst or .jsonl) instead of printing them")
	mkdir := f.Bool("mkdir", false, "create -o's missing parent directories")
	format := f.Format("text", "jsonl")
	color := colorFlag(f)
	cfg := analysis.DefaultConfig()
	f.CheckerFlags(&cfg)
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	src := *expr
	if src == "" {
		if len(pos) == 0 {
			return f.Usagef("no FILTER given")
		}
		src, pos = pos[0], pos[1:]
	}
	if len(pos) == 0 {
		return f.Usagef("no TRACE given")
	}
	flt, err := filter.Parse(src)
	if err != nil {
		return f.Usagef("%v", err)
	}
	pos, code = expand(f, pos)
	// rule: terms need the checker's findings, by file and line.
	rules := map[string]map[int64][]string{}
	if strings.Contains(src, "rule:") {
		cfg.Collect, cfg.MaxCollected = true, 1_000_000
		rep := analysis.CheckFiles(pos, cfg)
		for _, fd := range rep.Findings {
			if rules[fd.File] == nil {
				rules[fd.File] = map[int64][]string{}
			}
			rules[fd.File][fd.Line] = append(rules[fd.File][fd.Line], fd.Rule)
		}
	}
	matched := 0
	keep := func(path string) func(*trace.Record) bool {
		return func(r *trace.Record) bool {
			if r.Kind == trace.KindHeader {
				return false
			}
			ok := flt.Match(r, filter.Facts{Rules: rules[path][r.Line]})
			if ok {
				matched++
			}
			return ok
		}
	}
	c := cli.ExitOK
	if *out == "" {
		c = catRecordsBy(f, pos, *format, view.ColorFor(*color, stdout, f.Getenv), keep)
	} else {
		c = writeExcerpt(f, pos, *out, *mkdir, keep)
	}
	if c != cli.ExitOK {
		return c
	}
	if code == cli.ExitOK && matched == 0 {
		return cli.ExitFindings
	}
	return code
}

// writeExcerpt writes the records of paths that keep selects, with their
// connections' open and close records, to a new trace at out.
func writeExcerpt(f *cli.Flags, paths []string, out string, mkdir bool, keep func(string) func(*trace.Record) bool) int {
	if !cli.IsTraceFileName(out) {
		return f.Usagef("-o %s: want a trace name ending in .jsonl.zst or .jsonl", out)
	}
	plan, err := cli.PlanOut(out, mkdir, timeNow())
	if err != nil {
		return f.Usagef("%v", err)
	}
	first, err := recorder.Open(paths[0])
	if err != nil {
		return f.Failf("%v", err)
	}
	hdr := *first.Header()
	first.Close()
	hdr.Part = 0
	if err := plan.Prepare(); err != nil {
		return f.Failf("%v", err)
	}
	opts := recorder.Options{}
	if strings.HasSuffix(out, ".jsonl") {
		opts.Compression = recorder.Plain
	}
	w, err := recorder.Create(plan.Path, opts)
	if err != nil {
		return f.Failf("%v", err)
	}
	code := cli.ExitOK
	if err := w.Write(&trace.Record{Kind: trace.KindHeader, T: hdr.Created, Header: &hdr}); err != nil {
		code = f.Failf("%v", err)
	}
	x := view.NewExcerpt(w)
	for _, path := range paths {
		if code != cli.ExitOK {
			break
		}
		k := keep(path)
		res, err := view.Read(path, func(r *trace.Record) error { return x.Offer(r, k(r)) })
		if !reportRead(f, path, res, err) {
			code = cli.ExitFailure
		}
	}
	if err := w.Close(); err != nil {
		return f.Failf("%v", err)
	}
	return code
}
