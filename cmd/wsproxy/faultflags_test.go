package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/sim"
)

// TestFaultFlagErrors: a bad rule is refused before anything starts, with
// the rule, the offset and a caret; a rules file adds FILE:LINE:COL.
func TestFaultFlagErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run.jsonl.zst")
	code, _, errs := wsp(t, nil, "-listen", "127.0.0.1:0", "-out", out, "-fault", "drop tpye=ack")
	if code != 2 || !strings.Contains(errs, `unknown term "tpye"`) || !strings.Contains(errs, "drop tpye=ack\n\t     ^") {
		t.Errorf("bad -fault: exit %d\n%s", code, errs)
	}
	rules := filepath.Join(dir, "f.rules")
	os.WriteFile(rules, []byte("# comment\ndrop from=server nth=50\nduplicate p=2\n"), 0o600)
	code, _, errs = wsp(t, nil, "-listen", "127.0.0.1:0", "-out", out, "-faults", rules)
	if code != 2 || !strings.Contains(errs, rules+":3:13:") || !strings.Contains(errs, "probability") {
		t.Errorf("bad -faults: exit %d\n%s", code, errs)
	}
	code, _, errs = wsp(t, nil, "-listen", "127.0.0.1:0", "-out", out, "-fault", "inject=missing.json")
	if code != 2 || !strings.Contains(errs, "missing.json") {
		t.Errorf("missing inject file: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused start created %s", out)
	}
}

// TestFaultSummaryAtExit runs wsproxy with fault rules as a process in
// front of the simulator, drives the reference client through it, and
// checks the summary printed at exit: faults per rule and the client's
// reactions.
func TestFaultSummaryAtExit(t *testing.T) {
	env := &sim.Server{Token: "tok", Seed: 1}
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	out := filepath.Join(t.TempDir(), "run.jsonl.zst")
	cmd, addr, lines := startWsproxy(t, "-listen", "127.0.0.1:0", "-upstream", simURL, "-out", out, "-q",
		"-fault", "drop from=server has=event_seq nth=20", "-fault", "drop from=server type=never_sent", "-fault-seed", "3")
	cl := &client.Client{URL: "http://" + addr, Token: "tok", RequestTimeout: 5 * time.Second, GapGrace: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cl.Run(ctx, nil); err != nil {
		t.Fatalf("client: %v", err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	var all []string
	for l := range lines {
		all = append(all, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wsproxy exited with %v", err)
	}
	text := strings.Join(all, "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`faults injected:\n\s+[1-9]\d*  drop from=server has=event_seq nth=20\n\s+0  drop from=server type=never_sent`),
		regexp.MustCompile(`client reactions \([1-9]\d* findings explained by the faults, reported as expected\):\n\s+[1-9]\d*  ok\s+drop from=server has=event_seq nth=20`),
		regexp.MustCompile(`checker: 0 errors`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output does not match %s:\n%s", want, text)
		}
	}
}
