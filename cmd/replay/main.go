// Command replay serves the sessions of a wsproxy trace back to clients
// as if it were the real status WebSocket, or (with -drive) plays the
// recorded client against a live server, and reports how the live peer
// diverged from the recording. It is the same command as "wsproxy
// replay" (package internal/replaycli); run "replay -h" for its flags.
//
// Exit status: 0, or 1 with -strict when the live peer diverged, or 2 when
// the replay could not run (with -drive: a socket could not connect, or
// its handshake was refused).
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lettadev/wsproxy/internal/replaycli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// run is the command; onListen, if set, gets the address served on.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, onListen func(addr string)) int {
	return replaycli.Run(ctx, "replay", args, stdout, stderr, onListen)
}
