package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/inspector"
)

func init() {
	register("inspect", command{summary: "browse traces in a terminal UI (frames, findings, turns, stats)", run: runInspect})
}

// runInspect is "wsproxy inspect": exit 0 after q, 2 on a usage or read
// error.
func runInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := analysis.DefaultConfig()
	flt := fs.String("filter", "", "start with this filter (the language of the / prompt)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wsproxy inspect [flags] TRACE_OR_DIR...")
		fmt.Fprintln(stderr, "Browses recorded traces in the terminal (a directory means its trace files;")
		fmt.Fprintln(stderr, "rotated parts and several files open together). Press ? inside for the keys.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if err := inspector.Inspect(fs.Args(), inspector.FilesOptions{Check: cfg, Filter: *flt}); err != nil {
		fmt.Fprintf(stderr, "wsproxy inspect: %v\n", err)
		return 2
	}
	return 0
}
