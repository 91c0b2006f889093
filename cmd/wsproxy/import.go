package main

import (
	"errors"
	"io"
	"os"
	"strings"

	"github.com/lettadev/wsproxy/capture"
	"github.com/lettadev/wsproxy/internal/cli"
	"github.com/lettadev/wsproxy/redact"
)

const importUsage = `usage: wsproxy import [flags] CAPTURE...

Turns packet captures (.pcap with µs or ns times, .pcapng with several
interfaces, gzip-compressed too) of plain ws:// traffic into traces
(source pcap): TCP reassembled, every HTTP/1.1 upgrade on any port a
connection (c1, c2, … as the proxy names them), its frames decoded by the
proxy's wire tap, plain HTTP exchanges http records (h1, …), secrets
redacted unless -keep-secrets. Link types: Ethernet, BSD loopback, raw IP,
Linux cooked SLL and SLL2 (tcpdump -i any). TLS connections are skipped
with the reason. -out is a directory (NAME.jsonl.zst per capture, the
default: the current directory) or, for one capture, the trace to write.
A HAR file (Chrome DevTools or HTTP Toolkit, with _webSocketMessages) is
recognised by its content and imported as import-har does.
A summary per capture goes to stdout, progress for big captures to stderr.
Exit status: 0 imported (a cut capture up to the cut, with a warning), 2
on a usage error or a file that is not a capture.

Example:
  sudo tcpdump -i any -s 0 -w session.pcap 'tcp port 8765'
  wsproxy import session.pcap -out imported/`

// runImport is "wsproxy import".
func runImport(args []string, stdout, stderr io.Writer) int {
	f := cli.NewFlags("wsproxy import", importUsage, stdout, stderr)
	out := f.String("out", "", "output directory, or trace file for a single capture (default: the current directory)")
	split := f.Bool("split", false, "write one trace per connection (NAME-c1.jsonl.zst, …)")
	keep := f.Bool("keep-secrets", false, "do not redact secrets (tokens, Authorization, cookies, secret values)")
	var maxMsg int64
	f.Size(&maxMsg, "max-message", 16<<20, "bound on a frame or (inflated) message, e.g. 16MB")
	window := int64(capture.DefaultWindow)
	f.Size(&window, "window", capture.DefaultWindow, "out-of-order bytes buffered per connection before a missing segment counts as lost, e.g. 4MB")
	quiet := f.Bool("q", false, "print nothing but errors (no summary, no progress)")
	mkdir := f.Bool("mkdir", false, "create -out's missing parent directories")
	pos, code, ok := f.Parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return f.Usagef("no CAPTURE given")
	}
	if len(pos) > 1 && cli.IsTraceFileName(*out) {
		return f.Usagef("-out %s is a file, but %d captures were given: use a directory", *out, len(pos))
	}
	dest := ""
	if *out != "" {
		// The same -out rules as the proxy's: a missing directory is made
		// (its parents only with -mkdir), an existing non-trace file refused.
		plan, err := cli.PlanOut(*out, *mkdir, timeNow())
		if err != nil {
			return f.Usagef("%v", err)
		}
		if err := plan.Prepare(); err != nil {
			return f.Failf("%v", err)
		}
		dest = *out
		if !cli.IsTraceFileName(dest) && !strings.HasSuffix(dest, string(os.PathSeparator)) {
			dest += string(os.PathSeparator)
		}
	}
	o := capture.ImportOptions{Options: capture.Options{Redact: redact.Policy{Keep: *keep}, MaxMessage: maxMsg, Window: int(window)},
		Out: dest, Split: *split, ToolVersion: version}
	if !*quiet {
		o.Progress = stderr
	}
	code = cli.ExitOK
	for _, path := range pos {
		// A HAR file (a browser's or HTTP Toolkit's save) is told by its
		// content, not its name.
		if handled, err := importIfHAR(path, *out, *keep, stdout, *quiet); handled {
			if err != nil {
				code = f.Failf("%v", err)
			}
			continue
		}
		sum, err := capture.Import(path, o)
		if err != nil {
			code = f.Failf("%v", err)
			var nc *capture.NotCaptureError
			if sum == nil || errors.As(err, &nc) {
				continue
			}
		}
		if !*quiet && sum != nil {
			sum.WriteText(stdout)
		}
	}
	return code
}
