package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/sim"
	"github.com/lettadev/wsproxy/trace"
)

// TestMain lets the test binary run as the wsproxy command for tests that
// need a real process (signals), and builds the wsproxy binary into a
// temporary directory for the command-line tests (cli_test.go).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wsproxy-bin-")
	if err != nil {
		panic(err)
	}
	wsproxyBin = filepath.Join(dir, "wsproxy")
	if out, err := exec.Command("go", "build", "-o", wsproxyBin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestProxyHelpExplainsFlags(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	out.Reset()
	if code := run([]string{"proxy", "-h"}, &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, flag := range []string{"-listen", "-upstream", "-out", "-rotate", "-keep-secrets", "-max-frame", "-tls-cert", "-tls-self-signed", "-upstream-ca", "-insecure-upstream", "-allow-remote"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("-h does not explain %s", flag)
		}
	}
	if !strings.Contains(out.String(), "e.g.") {
		t.Error("-h gives no examples")
	}
}

func TestProxyRefusesRemoteListen(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-listen", "0.0.0.0:0", "-out", t.TempDir()}, &out, &out); code != 2 || !strings.Contains(out.String(), "-allow-remote") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}

// TestProxySIGINT runs wsproxy as a process in front of the simulator,
// drives a session through it, sends SIGINT while a connection is open,
// and checks the process exits 0 with the trace complete and the
// connection closed with 1001.
func TestProxySIGINT(t *testing.T) {
	env := &sim.Server{Token: "tok", Seed: 1}
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	out := filepath.Join(t.TempDir(), "run.jsonl.zst")
	cmd, addr, lines := startWsproxy(t, "-listen", "127.0.0.1:0", "-upstream", simURL, "-out", out)
	// A session that stays open: the script ends with the session alive
	// until the client returns, so run one and keep a second attached.
	cl := &client.Client{URL: "http://" + addr, Token: "tok", RequestTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := cl.Run(ctx, &client.Script{Name: "short", Steps: []client.Step{{Send: map[string]any{"type": "list_models"}}}})
	if err != nil || !rep.OK() {
		t.Fatalf("client: %v %v", err, rep)
	}
	// Hold a connection open across the signal.
	held, _, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waitForLine(t, lines, " open ")
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wsproxy exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("wsproxy did not exit after SIGINT")
	}
	r, err := recorder.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var closes []*trace.Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == trace.KindClose {
			closes = append(closes, rec)
		}
	}
	if r.Truncated() {
		t.Error("trace not closed cleanly")
	}
	last := closes[len(closes)-1]
	if last.Code != 1001 || last.By != trace.Proxy {
		t.Errorf("held connection closed with %+v, want 1001 by proxy", last)
	}
}

func waitForLine(t *testing.T, lines chan string, substr string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, substr) && strings.Contains(l, "channel=single") {
				return
			}
		case <-deadline:
			t.Fatalf("no line with %q", substr)
		}
	}
}
