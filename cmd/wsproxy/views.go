package main

import (
	"io"
	"os"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/view"
)

// colorFlag defines -color; after Parse, use view.ColorFor.
func colorFlag(f *cli.Flags) *string {
	return f.String("color", "auto", "colours: auto (on a terminal, unless $NO_COLOR is set), always or never")
}

// reportRead prints what reading a trace skipped or where it was cut; it
// returns false when lines were bad or the file could not be read.
func reportRead(f *cli.Flags, path string, res view.ReadResult, err error) bool {
	for _, b := range res.BadLines {
		f.Errorf("skipped bad record: %s", b)
	}
	for _, w := range res.Warnings {
		f.Errorf("warning: %s", w)
	}
	if err != nil {
		f.Errorf("%v", err)
		return false
	}
	return len(res.BadLines) == 0
}

const showUsage = `usage: wsproxy show [flags] TRACE[:LINE]

Prints records for a person: time, connection, direction, type, ids, and
the payload as indented JSON (coloured on a terminal). With :LINE, the
record at that line of the trace (as check's findings name it, e.g.
wsproxy show run.jsonl.zst:83), and with -context N the N records before
and after it; without, every record. -conn keeps one connection's records.
Exit status: 0, 2 when the trace cannot be read or has no such line.

Examples:
  wsproxy show traces/sim-turn-approval.jsonl.zst:12
  wsproxy show traces/sim-turn-approval.jsonl.zst:12 -context 2 -conn c1`

func runShow(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy show", showUsage, stdout, stderr)
	conn := f.String("conn", "", "only this connection's records, e.g. c1")
	context := f.Int("context", 0, "also show this many records before and after LINE")
	color := colorFlag(f)
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return f.Usagef("want one TRACE or TRACE:LINE")
	}
	if *context < 0 {
		return f.Usagef("-context must be 0 or more")
	}
	path, line, err := view.SplitLine(pos[0])
	if err != nil {
		return f.Usagef("%v", err)
	}
	o := view.Options{Color: view.ColorFor(*color, stdout, f.Getenv), File: path}
	var t0 time.Time
	var before []*trace.Record
	found, after, last := false, 0, int64(0)
	show := func(r *trace.Record, mark bool) error {
		if err := view.Show(stdout, r, t0, mark, o); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, "\n")
		return err
	}
	res, err := view.Read(path, func(r *trace.Record) error {
		last = r.Line
		if t0.IsZero() && r.Kind != trace.KindHeader {
			t0 = r.T
		}
		if *conn != "" && r.Conn != *conn {
			return nil
		}
		if line == 0 {
			if r.Kind == trace.KindHeader {
				return nil
			}
			return show(r, false)
		}
		switch {
		case found:
			if after >= *context {
				return view.ErrStop
			}
			after++
			return show(r, false)
		case r.Line == line:
			found = true
			for _, b := range before {
				if err := show(b, false); err != nil {
					return err
				}
			}
			before = nil
			return show(r, *context > 0)
		case r.Line > line:
			return errNoLine
		default:
			if *context > 0 && r.Kind != trace.KindHeader {
				before = append(before, r)
				if len(before) > *context {
					before = before[1:]
				}
			}
		}
		return nil
	})
	if err == errNoLine || (err == nil && line > 0 && !found) {
		what := "no record"
		if *conn != "" {
			what = "no record of " + *conn
		}
		if err == errNoLine || line <= last {
			return f.Failf("%s: %s at line %d", path, what, line)
		}
		return f.Failf("%s: %s at line %d (the trace has %d lines)", path, what, line, last)
	}
	if !reportRead(f, path, res, err) {
		return cli.ExitFailure
	}
	return cli.ExitOK
}

// timeNow is when -out names are made.
func timeNow() time.Time { return time.Now() }

var errNoLine = &lineError{}

type lineError struct{}

func (*lineError) Error() string { return "no such line" }

const catUsage = `usage: wsproxy cat [flags] TRACE...

Prints every record, one line each like tshark's summary lines: line, time
offset (seconds from the first record), connection, direction (→ client to
server, ← server to client), type, request_id, seq, event_seq, size, and a
summary of the content; -format jsonl prints the records as JSON Lines for
scripts. Exit status: 0, 2 when a trace cannot be read.

Examples:
  wsproxy cat traces/real-device-paired-local.jsonl.zst
  wsproxy cat traces/sim-turn-approval.jsonl.zst -conn c2 -format jsonl | jq .msg.type`

func runCat(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy cat", catUsage, stdout, stderr)
	format := f.Format("text", "jsonl")
	conn := f.String("conn", "", "only this connection's records, e.g. c1")
	color := colorFlag(f)
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return f.Usagef("no TRACE given")
	}
	paths, code := expand(f, pos)
	if c := catRecordsBy(f, paths, *format, view.ColorFor(*color, stdout, f.Getenv), func(string) func(*trace.Record) bool {
		return func(r *trace.Record) bool { return *conn == "" || r.Conn == *conn }
	}); c != cli.ExitOK {
		return c
	}
	return code
}

// expand turns directories among args into their traces; code is 2 when
// one could not be read.
func expand(f *cli.Flags, args []string) ([]string, int) {
	paths, errs := analysis.ExpandPaths(args)
	for _, err := range errs {
		f.Errorf("%v", err)
	}
	if len(errs) > 0 {
		return paths, cli.ExitFailure
	}
	return paths, cli.ExitOK
}

// catRecordsBy writes the records of paths that keep(path) selects, as
// summary lines (format text) or JSON Lines; shared by cat and grep.
func catRecordsBy(f *cli.Flags, paths []string, format string, color bool, keepIn func(path string) func(*trace.Record) bool) int {
	code := cli.ExitOK
	multi := len(paths) > 1
	var buf []byte
	for _, path := range paths {
		o := view.Options{Color: color}
		if multi {
			o.File = path
		}
		lines := view.NewCat(f.Stdout(), o)
		keep := keepIn(path)
		res, err := view.Read(path, func(r *trace.Record) error {
			if r.Kind == trace.KindHeader {
				return nil
			}
			lines.SetStart(r.T) // offsets from the trace's first record, not the first shown
			if !keep(r) {
				return nil
			}
			if format == "jsonl" {
				var err error
				if buf, err = trace.AppendLine(buf[:0], r); err != nil {
					return err
				}
				_, err = f.Stdout().Write(buf)
				return err
			}
			return lines.Write(r)
		})
		if !reportRead(f, path, res, err) {
			code = cli.ExitFailure
		}
	}
	return code
}

const statsUsage = `usage: wsproxy stats [flags] TRACE...

Prints counts and bytes per message type and direction, request → reply
latency (p50, p99, max) per command, and the checker's findings per rule
(the checker flags are check's). -format json for scripts. Exit status: 0,
2 when a trace cannot be read.

Examples:
  wsproxy stats traces/sim-turn-approval.jsonl.zst
  wsproxy stats traces/*.jsonl.zst -format json | jq .latency`

func runStats(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy stats", statsUsage, stdout, stderr)
	format := f.Format("text", "json")
	color := colorFlag(f)
	cfg := analysis.DefaultConfig()
	f.CheckerFlags(&cfg)
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return f.Usagef("no TRACE given")
	}
	paths, errs := analysis.ExpandPaths(pos)
	for _, err := range errs {
		f.Errorf("%v", err)
	}
	code = cli.ExitOK
	if len(errs) > 0 {
		code = cli.ExitFailure
	}
	col := view.NewCollector(nil)
	for _, p := range paths {
		col.AddFile(p)
		if _, err := os.Stat(p); err != nil {
			f.Errorf("%v", err)
			code = cli.ExitFailure
		}
	}
	// The checker reads the files itself (rotated parts, several runs);
	// the collector reads them once more.
	rep := analysis.CheckFiles(paths, cfg)
	for _, p := range paths {
		res, err := view.Read(p, col.Write)
		if !reportRead(f, p, res, err) {
			code = cli.ExitFailure
		}
	}
	col.SetFindings(rep.Counts, rep.Errors, rep.Warnings)
	s := col.Result()
	var err error
	if *format == "json" {
		err = view.WriteStatsJSON(stdout, s)
	} else {
		err = view.WriteStatsText(stdout, s, view.Options{Color: view.ColorFor(*color, stdout, f.Getenv)})
	}
	if err != nil {
		return f.Failf("%v", err)
	}
	return code
}
