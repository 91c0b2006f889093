// Command wsload measures the recording proxy as a user runs it: a load
// upstream (server), a plain TCP relay, a client (drive) and the bench
// that runs them and the proxy as separate processes on loopback. See
// "wsload -h" and package internal/load.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lettadev/wsproxy/internal/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := load.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
