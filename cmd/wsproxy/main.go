// Command wsproxy is the Letta Code Remote Client protocol debugging
// toolkit: a recording man-in-the-middle proxy, an invariant checker, a
// simulator of the environment, a reference client and a demo wiring them
// together. Run "wsproxy help" for the subcommands.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: its one-line summary and its entry point,
// which parses its own flags and returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is filled by the init functions of this package's files, one
// file per subcommand.
var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// With no command, or flags first (-h included), wsproxy is the proxy.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return commands["proxy"].run(args, stdout, stderr)
	}
	name := args[0]
	if name == "help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "wsproxy: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wsproxy [flags]            run the recording proxy (wsproxy proxy -h for its flags)")
	fmt.Fprintln(w, "       wsproxy <command> [flags] [args]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "wsproxy <command> -h" for a command's flags.`)
}
