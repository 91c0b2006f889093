package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/analysis"
)

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	caps := filepath.Join("..", "..", "traces", "captures")
	var out, errb strings.Builder
	code := run([]string{"import", "-out", dir + "/", filepath.Join(caps, "basic.pcap"), filepath.Join(caps, "tls-http.pcap")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, w := range []string{
		"basic.pcap: pcap, 15 packets",
		"c1   127.0.0.1:40001 → 127.0.0.1:8765 /v1/environments/conn-1/status/ws?agentId=agent-1&conversationId=default&channel=control&token=%5BREDACTED%5D",
		"skipped 10.0.0.1:40011 → 10.0.0.2:443: TLS",
		"upgrade refused: 401 Unauthorized",
		"wrote " + filepath.Join(dir, "basic.jsonl.zst"),
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	// The traces check like any other.
	rep := analysis.CheckFiles([]string{filepath.Join(dir, "basic.jsonl.zst")}, analysis.DefaultConfig())
	if len(rep.Files) != 1 || rep.Files[0].Err != nil {
		t.Fatalf("check: %+v", rep.Files)
	}

	// A cut capture: imported up to the cut, with a warning, exit 0.
	data, err := os.ReadFile(filepath.Join(caps, "basic.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, data[:len(data)-30], 0o600)
	out.Reset()
	errb.Reset()
	if code := run([]string{"import", "-out", filepath.Join(dir, "cut.jsonl"), cut}, &out, &errb); code != 0 {
		t.Fatalf("cut: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "warning: "+cut+": capture cut at byte") {
		t.Errorf("cut: no warning naming the cut:\n%s", out.String())
	}

	// Not a capture: a clear error and exit 2.
	out.Reset()
	errb.Reset()
	notCap := filepath.Join(dir, "basic.jsonl.zst")
	if code := run([]string{"import", "-out", dir, notCap}, &out, &errb); code != 2 {
		t.Errorf("not a capture: exit %d", code)
	}
	if !strings.Contains(errb.String(), "wsproxy import: "+notCap+": not a packet capture: it starts with 28 b5 2f fd") {
		t.Errorf("not a capture: %q", errb.String())
	}
	// Usage errors.
	if code := run([]string{"import"}, &out, &errb); code != 2 {
		t.Errorf("no capture: exit %d", code)
	}
	if code := run([]string{"import", "-out", filepath.Join(dir, "one.jsonl.zst"), cut, cut}, &out, &errb); code != 2 {
		t.Errorf("-out file with two captures: exit %d", code)
	}
}
