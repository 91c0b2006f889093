package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// floodUpstream streams server events to every connection until it breaks.
func floodUpstream(t *testing.T) string {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		msg := []byte(`{"type":"stream_delta","delta":{"content":"` + strings.Repeat("x", 160) + `"}}`)
		for c.WriteMessage(websocket.TextMessage, msg) == nil {
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// startWsproxy runs the built wsproxy binary with args and returns it,
// the address it listens on, and its stdout lines (closed at its end).
func startWsproxy(t *testing.T, args ...string) (*exec.Cmd, string, chan string) {
	t.Helper()
	cmd := exec.Command(wsproxyBin, args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 10000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	re := regexp.MustCompile(`listening on ws://(\S+)`)
	deadline := time.After(20 * time.Second) // a guard against a hang
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("wsproxy exited before listening")
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return cmd, m[1], lines
			}
		case <-deadline:
			t.Fatal("wsproxy did not start")
		}
	}
}

// stallingClient upgrades through the proxy and then never reads.
func stallingClient(t *testing.T, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /v1/environments/e1/status/ws?channel=control HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", err, resp)
	}
}

func waitFor(t *testing.T, lines chan string, substr string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("wsproxy exited before printing %q", substr)
			}
			if strings.Contains(l, substr) {
				return
			}
		case <-deadline:
			t.Fatalf("no line with %q", substr)
		}
	}
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second): // a guard against a hang, not a measurement
		t.Fatal("wsproxy did not exit")
		return -1
	}
}

func readTrace(t *testing.T, path string) (recs []*trace.Record, truncated bool) {
	t.Helper()
	r, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return recs, r.Truncated()
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

// SIGTERM with a client that stopped reading: the proxy closes it within
// its grace, exits 0, and the trace is complete with a close record.
func TestSIGTERMWithStalledClient(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run.jsonl.zst")
	cmd, addr, lines := startWsproxy(t, "-listen", "127.0.0.1:0", "-upstream", floodUpstream(t), "-out", out, "-no-check", "-shutdown-grace", "1s")
	stallingClient(t, addr)
	waitFor(t, lines, " open ")
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != 0 {
		t.Fatalf("exit %d", code)
	}
	recs, truncated := readTrace(t, out)
	if truncated {
		t.Error("trace not closed cleanly")
	}
	last := recs[len(recs)-1]
	if last.Kind != trace.KindClose || last.By != trace.Proxy || last.Code != 1001 {
		t.Errorf("last record %+v, want the connection's close by the proxy with 1001", last)
	}
}

// A second signal ends the process at once, with the trace readable.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run.jsonl.zst")
	cmd, addr, lines := startWsproxy(t, "-listen", "127.0.0.1:0", "-upstream", floodUpstream(t), "-out", out, "-no-check", "-shutdown-grace", "1h")
	stallingClient(t, addr)
	waitFor(t, lines, " open ")
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, lines, "shutting down")
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, cmd); code != 1 {
		t.Fatalf("exit %d, want 1 (cut short by the second signal)", code)
	}
	recs, _ := readTrace(t, out)
	if len(recs) == 0 || recs[0].Kind != trace.KindOpen {
		t.Fatalf("trace holds %d records, the first %+v", len(recs), recs)
	}
}
