// Package view renders trace records for a person: one summary line per
// record (cat, grep), a frame in full with its payload as indented JSON
// (show), and statistics (stats). Colour is used only when asked, which
// commands decide with ColorFor (a terminal, and no NO_COLOR).
package view

import (
	"io"
	"os"
)

// ANSI colours.
const (
	reset   = "\x1b[0m"
	bold    = "\x1b[1m"
	dim     = "\x1b[2m"
	red     = "\x1b[31m"
	green   = "\x1b[32m"
	yellow  = "\x1b[33m"
	blue    = "\x1b[34m"
	magenta = "\x1b[35m"
	cyan    = "\x1b[36m"
)

// ColorFor decides whether output to w is coloured: mode "always" or
// "never", or "auto" (also ""): only when w is a terminal, NO_COLOR is
// unset or empty and TERM is not "dumb". getenv reads the environment.
func ColorFor(mode string, w io.Writer, getenv func(string) string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// paint wraps s in colour c when on.
func paint(on bool, c, s string) string {
	if !on || s == "" {
		return s
	}
	return c + s + reset
}
