package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lettadev/wsproxy/capture"
	"github.com/lettadev/wsproxy/redact"
)

func init() {
	register("import", command{summary: "turn pcap/pcapng captures of ws:// traffic into traces", run: runImport})
}

// runImport is "wsproxy import": exit 0 when every capture was imported
// (cut captures included, with a warning), 2 on a usage error or a file
// that could not be read as a capture.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (NAME.jsonl.zst per capture), or trace file for a single capture (default: the current directory)")
	split := fs.Bool("split", false, "write one trace per connection (NAME-c1.jsonl.zst, …)")
	keep := fs.Bool("keep-secrets", false, "do not redact secrets (tokens, Authorization, secret values)")
	maxMsg := fs.Int64("max-message", 16<<20, "bound on a frame or (inflated) message, in bytes")
	window := fs.Int("window", capture.DefaultWindow, "out-of-order bytes buffered per connection before a missing segment counts as lost")
	quiet := fs.Bool("q", false, "no progress and no summary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wsproxy import [flags] CAPTURE...")
		fmt.Fprintln(stderr, "Turns .pcap/.pcapng captures of plain ws:// traffic into traces (source pcap).")
		fmt.Fprintln(stderr, "Exit status: 0 imported (a cut capture up to the cut, with a warning), 2 usage error or not a capture.")
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
	if fs.NArg() > 1 && *out != "" && !isDir(*out) {
		fmt.Fprintf(stderr, "wsproxy import: -out %s is a file, but %d captures were given: use a directory\n", *out, fs.NArg())
		return 2
	}
	o := capture.ImportOptions{Options: capture.Options{Redact: redact.Policy{Keep: *keep}, MaxMessage: *maxMsg, Window: *window},
		Out: *out, Split: *split, ToolVersion: version}
	if !*quiet {
		o.Progress = stderr
	}
	code := 0
	for _, path := range fs.Args() {
		sum, err := capture.Import(path, o)
		if err != nil {
			fmt.Fprintf(stderr, "wsproxy import: %v\n", err)
			var nc *capture.NotCaptureError
			var cut *capture.CutError
			if errors.As(err, &nc) || errors.As(err, &cut) || sum == nil {
				code = 2
				continue
			}
			code = max(code, 1)
		}
		if !*quiet && sum != nil {
			sum.WriteText(stdout)
		}
	}
	return code
}

func isDir(p string) bool {
	if strings.HasSuffix(p, string(os.PathSeparator)) {
		return true
	}
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
