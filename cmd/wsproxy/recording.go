package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// printNext tells what to do with a trace just written.
func printNext(w io.Writer, files []string) {
	if len(files) == 0 {
		return
	}
	f := files[0]
	self := commandName()
	fmt.Fprintf(w, "\nnext:\n")
	fmt.Fprintf(w, "  %s check %s    (check it again, offline)\n", self, f)
	fmt.Fprintf(w, "  %s inspect %s    (browse it in the terminal)\n", self, f)
	fmt.Fprintf(w, "  %s stats %s    (counts, latencies, findings)\n", self, f)
	fmt.Fprintf(w, "  %s cat %s    (every record, one line each; show %s:LINE for one in full)\n", self, f, f)
	fmt.Fprintf(w, "  %s replay %s    (serve it back to a client)\n", self, f)
}

// commandName returns how the user can run this program: the installed
// name, or the "go run" form when running under go run.
func commandName() string {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./cmd/wsproxy"
	}
	return "wsproxy"
}
