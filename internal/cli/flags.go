// Package cli holds what every wsproxy command line shares: flag parsing
// with flags anywhere among the arguments, help on stdout, the exit codes,
// sizes with units, -format, -q/-v, -token with $LETTA_API_KEY, the
// checker's flag set, URL and -out checks. The mains in cmd/ stay thin.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes, the same for every command.
const (
	// ExitOK: the command did what was asked and found nothing wrong.
	ExitOK = 0
	// ExitFindings: findings with errors, divergence, failed assertions.
	ExitFindings = 1
	// ExitFailure: a usage error, a connection or I/O error.
	ExitFailure = 2
)

// Flags is a command's flag set: a flag.FlagSet that accepts flags after
// arguments, prints its help on stdout for -h, and names the command in
// its errors.
type Flags struct {
	*flag.FlagSet
	name   string // "wsproxy check"
	usage  string // synopsis and description, before the flag list
	stdout io.Writer
	stderr io.Writer
	// Getenv reads the environment (os.Getenv unless replaced, e.g. in
	// tests).
	Getenv func(string) string
	after  []func() error
}

// NewFlags returns the flag set of the command name ("wsproxy check"),
// whose help starts with usage.
func NewFlags(name, usage string, stdout, stderr io.Writer) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &Flags{FlagSet: fs, name: name, usage: usage, stdout: stdout, stderr: stderr, Getenv: os.Getenv}
	fs.Usage = func() {} // errors get a one-line hint instead (see Parse)
	return f
}

// Name is the command's name, e.g. "wsproxy check".
func (f *Flags) Name() string { return f.name }

// Stdout and Stderr are where reports and logs go.
func (f *Flags) Stdout() io.Writer { return f.stdout }

// Stderr is where progress, logs and errors go.
func (f *Flags) Stderr() io.Writer { return f.stderr }

// After registers a check run once the flags are parsed; its error is a
// usage error.
func (f *Flags) After(check func() error) { f.after = append(f.after, check) }

// Help writes the command's help (usage text and flags) to w.
func (f *Flags) Help(w io.Writer) {
	fmt.Fprint(w, strings.TrimRight(f.usage, "\n")+"\n\nFlags:\n")
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(f.stderr)
}

// Parse parses args, flags and arguments in any order ("--" ends the
// flags, a lone "-" is an argument), and returns the arguments. When it
// returns ok false the command must return code: 0 after -h (help printed
// on stdout), 2 after a usage error (printed on stderr with a hint).
func (f *Flags) Parse(args []string) (pos []string, code int, ok bool) {
	for {
		err := f.FlagSet.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.Help(f.stdout)
			return nil, ExitOK, false
		}
		if err != nil {
			// The flag package has printed the error itself.
			return nil, f.hint(), false
		}
		rest := f.FlagSet.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	for _, check := range f.after {
		if err := check(); err != nil {
			return nil, f.Usagef("%v", err), false
		}
	}
	return pos, ExitOK, true
}

// Usagef reports a usage error on stderr, with a hint where the help is,
// and returns ExitFailure.
func (f *Flags) Usagef(format string, a ...any) int {
	fmt.Fprintf(f.stderr, "%s: %s\n", f.name, fmt.Sprintf(format, a...))
	return f.hint()
}

func (f *Flags) hint() int {
	fmt.Fprintf(f.stderr, "run '%s -h' for help\n", f.name)
	return ExitFailure
}

// Failf reports a failure (connection, I/O) on stderr, prefixed by the
// command's name unless the message already starts with it, and returns
// ExitFailure.
func (f *Flags) Failf(format string, a ...any) int {
	f.Errorf(format, a...)
	return ExitFailure
}

// Errorf prints one error line on stderr, prefixed by the command's name
// once (never "client: client: …").
func (f *Flags) Errorf(format string, a ...any) {
	fmt.Fprintln(f.stderr, f.Prefix(fmt.Sprintf(format, a...)))
}

// Prefix puts the command's name before msg unless msg already starts with
// it or with its last word ("client: …" under "wsproxy client").
func (f *Flags) Prefix(msg string) string {
	short := f.name[strings.LastIndexByte(f.name, ' ')+1:]
	for _, p := range []string{f.name + ":", short + ":"} {
		if strings.HasPrefix(msg, p) {
			msg = strings.TrimSpace(strings.TrimPrefix(msg, p))
		}
	}
	return f.name + ": " + msg
}
