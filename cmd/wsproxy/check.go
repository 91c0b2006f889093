package main

import (
	"io"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/internal/cli"
)

const checkUsage = `usage: wsproxy check [flags] TRACE_OR_DIR...

Checks recorded traces against the protocol's invariants (a directory means
its *.jsonl, *.jsonl.zst and *.jsonl.gz files) and prints findings like a
compiler, file:line: severity: rule: message; -format json or junit for
scripts and CI. Exit status: 0 no error findings, 1 error findings, 2 usage
or read error.

Examples:
  wsproxy check traces/
  wsproxy check run.jsonl.zst -format junit > report.xml
  wsproxy check -rules`

// runCheck is "wsproxy check": exit 0 without error findings, 1 with
// some, 2 on a usage or read error.
func runCheck(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy check", checkUsage, stdout, stderr)
	cfg := analysis.DefaultConfig()
	format := f.Format("text", "json", "junit")
	f.CheckerFlags(&cfg)
	listRules := f.Bool("rules", false, "list the rules and exit")
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if *listRules {
		analysis.WriteRules(stdout)
		return 0
	}
	write := map[string]func(io.Writer, *analysis.Report) error{
		"text": analysis.WriteText, "json": analysis.WriteJSON, "junit": analysis.WriteJUnit,
	}[*format]
	if len(pos) == 0 {
		return f.Usagef("no TRACE_OR_DIR given")
	}
	paths, errs := analysis.ExpandPaths(pos)
	for _, err := range errs {
		f.Errorf("%v", err)
	}
	cfg.MaxCollected = 1_000_000
	rep := analysis.CheckFiles(paths, cfg)
	for _, fr := range rep.Files {
		for _, b := range fr.BadLines {
			f.Errorf("skipped bad record: %s", b)
		}
		for _, w := range fr.Warnings {
			f.Errorf("warning: %s; checked up to the cut", w)
		}
		if fr.Err != nil {
			f.Errorf("%v", fr.Err)
		}
	}
	if err := write(stdout, rep); err != nil {
		return f.Failf("%v", err)
	}
	switch {
	case len(errs) > 0 || len(rep.ReadErrors()) > 0:
		return cli.ExitFailure
	case rep.Errors > 0:
		return cli.ExitFindings
	}
	return cli.ExitOK
}
