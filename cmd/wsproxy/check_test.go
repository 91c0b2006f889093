package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCheckArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"check"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckExitCodes(t *testing.T) {
	const faults = "../../analysis/testdata/faults.jsonl"
	real, _ := filepath.Glob("../../traces/real-device-*.jsonl.zst")
	if len(real) == 0 {
		t.Fatal("no real-device traces")
	}
	if code, out, errs := runCheckArgs(t, real...); code != 0 {
		t.Fatalf("real-device traces: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ := runCheckArgs(t, "../../traces"); code != 0 || !strings.Contains(out, "0 error(s)") {
		t.Fatalf("traces directory: exit %d\n%s", code, out)
	}
	code, out, _ := runCheckArgs(t, faults)
	if code != 1 || !strings.Contains(out, "faults.jsonl:12: error: orphan-response") {
		t.Fatalf("faults: exit %d\n%s", code, out)
	}
	if code, _, errs := runCheckArgs(t, "-format", "yaml", faults); code != 2 || !strings.Contains(errs, "yaml") {
		t.Fatalf("bad format: exit %d %s", code, errs)
	}
	if code, _, _ := runCheckArgs(t, "-bogus"); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
	if code, _, _ := runCheckArgs(t); code != 2 {
		t.Fatalf("no arguments: exit %d", code)
	}

	// A file that is not a trace is a read error; the others are checked.
	dir := t.TempDir()
	bogus := filepath.Join(dir, "bogus.jsonl")
	os.WriteFile(bogus, []byte("not a trace\n"), 0o600)
	code, out, errs := runCheckArgs(t, bogus, faults)
	if code != 2 || !strings.Contains(errs, "not a wsproxy trace") || !strings.Contains(out, "orphan-response") {
		t.Fatalf("bogus file: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if code, _, errs := runCheckArgs(t, filepath.Join(dir, "missing.jsonl.zst")); code != 2 || errs == "" {
		t.Fatalf("missing file: exit %d", code)
	}
}

func TestCheckTruncatedWarnsOnStderr(t *testing.T) {
	data, err := os.ReadFile("../../analysis/testdata/faults.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.jsonl")
	// Cut inside the orphan reply's line (line 12): the lines before it
	// are checked.
	i := bytes.Index(data, []byte(`"rf-9"`))
	os.WriteFile(cut, data[:i], 0o600)
	code, out, errs := runCheckArgs(t, cut)
	if !strings.Contains(errs, "incomplete") || !strings.Contains(errs, "checked up to the cut") {
		t.Fatalf("stderr: %s", errs)
	}
	// The event_seq gap still in its reordering window and the request
	// still waiting for its reply at the cut are not judged.
	if code != 0 || strings.Contains(out, "event-seq-gap") || strings.Contains(out, "unmatched-request") ||
		strings.Contains(out, "orphan-response") || !strings.Contains(out, "note: undetermined: the trace ends with the connection open") ||
		!strings.Contains(out, "1 file cut at byte ") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// A plain trace cut in the middle of a reply's line: the request pending
// at the cut is undetermined, not an unmatched-request error, and the
// JUnit output says where the file was cut.
func TestCheckCutTraceIsNotAnError(t *testing.T) {
	data, err := os.ReadFile("../../analysis/testdata/faults.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	trace := append([]byte{}, lines[0]...)
	trace = append(trace, `{"kind":"open","t":"2026-11-28T17:00:00Z","conn":"c1","url":"/v1/environments/conn-1/status/ws?agentId=a&conversationId=default&channel=control"}`+"\n"...)
	trace = append(trace, `{"kind":"frame","t":"2026-11-28T17:00:00Z","conn":"c1","from":"client","op":"text","msg":{"type":"sync","runtime":{"agent_id":"a","conversation_id":"default"},"recover_approvals":true}}`+"\n"...)
	trace = append(trace, `{"kind":"frame","t":"2026-11-28T17:00:01Z","conn":"c1","from":"client","op":"text","msg":{"type":"read_file","request_id":"rf-1","path":"/a"}}`+"\n"...)
	at := len(trace)
	trace = append(trace, `{"kind":"frame","t":"2026-11-28T17:00:01.5Z","conn":"c1","from":"server","op":"text","msg":{"type":"read_fi`...)
	cut := filepath.Join(t.TempDir(), "cut.jsonl")
	os.WriteFile(cut, trace, 0o600)
	code, out, errs := runCheckArgs(t, cut)
	if code != 0 || strings.Contains(out, "error:") || !strings.Contains(out, "1 request(s) awaiting a reply") ||
		!strings.Contains(out, fmt.Sprintf("1 file cut at byte %d", at)) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = runCheckArgs(t, "-format", "junit", cut)
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`<skipped type="cut" message="file cut at byte %d`, at)) {
		t.Fatalf("junit: exit %d\n%s", code, out)
	}
}

// A file whose content after the header is only bad lines is a read
// error (exit 2), and the summary says what failed.
func TestCheckOnlyBadLinesIsAReadError(t *testing.T) {
	data, _ := os.ReadFile("../../analysis/testdata/faults.jsonl")
	header := data[:bytes.IndexByte(data, '\n')+1]
	p := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(p, append(append([]byte{}, header...), "{garbage\n[1,2]\n"...), 0o600)
	code, out, errs := runCheckArgs(t, p)
	if code != 2 || strings.Contains(out, "0 error(s), 0 warning(s) in 0 file(s)") ||
		!strings.Contains(out, "nothing checked: 1 of 1 file(s) could not be read, so not checked") ||
		!strings.Contains(errs, "no valid record after the header") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

func TestCheckFormatsAndRules(t *testing.T) {
	const faults = "../../analysis/testdata/faults.jsonl"
	code, out, _ := runCheckArgs(t, "-format", "json", faults)
	var doc struct {
		Summary  map[string]int `json:"summary"`
		Findings []any          `json:"findings"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Findings) != 5 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	code, out, _ = runCheckArgs(t, "-format", "junit", faults)
	if code != 1 || !strings.HasPrefix(out, "<?xml") || !strings.Contains(out, `<testcase name="orphan-response"`) {
		t.Fatalf("junit: exit %d\n%s", code, out)
	}
	code, out, _ = runCheckArgs(t, "-rules")
	if code != 0 || !strings.Contains(out, "unacked-seq") || !strings.Contains(out, "frame-error") {
		t.Fatalf("-rules: exit %d\n%s", code, out)
	}
	// A shorter response timeout and a disabled rule.
	code, out, _ = runCheckArgs(t, "-disable", "orphan-response,unacked-seq,event-seq-gap,unmatched-request", faults)
	if code != 0 || strings.Contains(out, "orphan-response") {
		t.Fatalf("-disable: exit %d\n%s", code, out)
	}
}
