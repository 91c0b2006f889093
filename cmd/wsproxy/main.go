// Command wsproxy is the Letta Code Remote Client protocol debugging
// toolkit: a recording man-in-the-middle proxy, an invariant checker, a
// replayer, a simulator of the environment, a reference client, views of
// traces and a demo wiring them together. Run "wsproxy help" for the
// commands.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/lettadev/wsproxy/internal/replaycli"
)

// version is the tool version written into trace headers.
const version = "0.1.0"

// command is one subcommand: its one-line summary and its entry point,
// which parses its own flags and returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order help shows them.
func commands() []command {
	return []command{
		{"proxy", "run the recording proxy (the default: wsproxy -listen … -upstream …)", runProxy},
		{"check", "check traces against the protocol's invariants", runCheck},
		{"replay", "serve a recorded session back to a client, or drive a server with it", runReplay},
		{"show", "print one frame (or the frames around a line) for a person", runShow},
		{"cat", "print every record, one summary line each (or JSONL)", runCat},
		{"grep", "print the records that match a filter (type:, from:, conn:, req:, rule:, text), or cut them into a new trace", runGrep},
		{"stats", "counts, bytes, latencies and findings of traces", runStats},
		{"inspect", "browse traces in a terminal UI: frames, payloads, findings, turns, stats", runInspect},
		{"redact", "copy a trace with secrets and your own rules' matches replaced, to share it", runRedact},
		{"export", "write a trace as a HAR 1.2 file (Chrome DevTools, HTTP Toolkit)", runExport},
		{"import-har", "turn HAR files (Chrome DevTools, HTTP Toolkit) into traces", runImportHAR},
		{"import", "turn pcap/pcapng captures of ws:// traffic into traces", runImport},
		{"sim", "serve a simulated Letta Code environment (relay and device) with optional faults", runSim},
		{"client", "run the reference client's scripted session against an environment", runClient},
		{"demo", "run the whole toolkit on the built-in simulator: sim, proxy, reference client, checks", runDemo},
		{"version", "print the version and build information", runVersion},
		{"help", "print the commands, or a command's help (wsproxy help CMD)", nil},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c, true
		}
	}
	return command{}, false
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-version" || args[0] == "--version") {
		return runVersion(args[1:], stdout, stderr)
	}
	// With no command, or flags first (-h included), wsproxy is the proxy.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runProxy(args, stdout, stderr)
	}
	name := args[0]
	if name == "help" {
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		c, ok := lookup(args[1])
		if !ok {
			fmt.Fprintf(stderr, "wsproxy help: unknown command %q\n\n", args[1])
			usage(stderr)
			return 2
		}
		return c.run([]string{"-h"}, stdout, stderr)
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "wsproxy: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wsproxy [flags]                 run the recording proxy (wsproxy help proxy for its flags)")
	fmt.Fprintln(w, "       wsproxy COMMAND [flags] [args]  (flags may also come after the arguments)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "wsproxy help COMMAND" or "wsproxy COMMAND -h" for a command's flags.`)
	fmt.Fprintln(w, "Exit status, for every command: 0 ok, 1 findings, divergence or failed")
	fmt.Fprintln(w, "assertions, 2 usage, connection or I/O errors.")
}

func runReplay(args []string, stdout, stderr io.Writer) int {
	sig := signalContext(stderr)
	defer sig.stop()
	ctx := sig.ctx
	return replaycli.Run(ctx, "wsproxy replay", args, stdout, stderr, nil)
}

// runVersion is "wsproxy version" and "wsproxy -version".
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(stdout, "usage: wsproxy version\n\nPrints the version, the Go version and the build's VCS revision.")
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "wsproxy version: unexpected argument %q\n", args[0])
		return 2
	}
	fmt.Fprintf(stdout, "wsproxy %s\n", version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(stdout, "  go       %s\n", bi.GoVersion)
		fmt.Fprintf(stdout, "  module   %s %s\n", bi.Main.Path, bi.Main.Version)
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			dirty := ""
			if settings["vcs.modified"] == "true" {
				dirty = " (modified)"
			}
			fmt.Fprintf(stdout, "  revision %s%s %s\n", rev, dirty, settings["vcs.time"])
		}
		fmt.Fprintf(stdout, "  platform %s/%s\n", settings["GOOS"], settings["GOARCH"])
	}
	return 0
}
