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
	self, replay := commandNames()
	fmt.Fprintf(w, "\nnext:\n")
	fmt.Fprintf(w, "  %s check %s    (check it again, offline)\n", self, f)
	fmt.Fprintf(w, "  %s inspect %s    (browse it in the terminal)\n", self, f)
	fmt.Fprintf(w, "  %s %s    (serve it back to a client)\n", replay, f)
	fmt.Fprintf(w, "  zstd -dc %s | jq -c '[.conn, .from, .msg.type // .kind]'\n", f)
}

// commandNames returns how the user can run this program and the replayer:
// the installed names, or "go run" forms when running under go run.
func commandNames() (self, replay string) {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./cmd/wsproxy", "go run ./cmd/replay"
	}
	return "wsproxy", "replay"
}
