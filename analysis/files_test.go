package analysis

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// TestRealDeviceTraces checks the recordings of the real device: a healthy
// device must give no error (warnings are allowed).
func TestRealDeviceTraces(t *testing.T) {
	paths, errs := ExpandPaths([]string{"../traces"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var real []string
	for _, p := range paths {
		if strings.Contains(filepath.Base(p), "real-device-") {
			real = append(real, p)
		}
	}
	if len(real) < 4 {
		t.Fatalf("real-device traces: %v", real)
	}
	rep := CheckFiles(real, Config{})
	if errs := rep.ReadErrors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, f := range rep.Findings {
		if f.Severity == Error {
			t.Errorf("error on a real device trace: %s", f)
		}
		if f.Rule == RuleUnknownType && f.Subject == "listener_ready" {
			t.Errorf("listener_ready called unknown: %s", f)
		}
	}
	if rep.Frames < 200 {
		t.Fatalf("only %d frames read", rep.Frames)
	}
	t.Logf("%d frames, %d warnings", rep.Frames, rep.Warnings)
}

// knownSynthDefects are findings internal/synth's healthy session is
// known to give (faults of the generator, not of the rules). It is empty:
// the generator pings on both sockets and syncs with recover_approvals on
// attach, so the session must be clean.
var knownSynthDefects = map[string]int{}

// TestSynthClean checks a 100,000-frame healthy synth session.
func TestSynthClean(t *testing.T) {
	e := New(Config{Collect: true})
	frames := 0
	synthStream(1, 100_000, func(r *trace.Record) {
		if r.Kind == trace.KindFrame {
			frames++
		}
		e.Write(r)
	})
	e.Finish(time.Time{})
	got := e.Counts()
	for rule, n := range got {
		if knownSynthDefects[rule] != n {
			t.Errorf("%s: %d findings", rule, n)
		}
	}
	for rule, n := range knownSynthDefects {
		if got[rule] != n {
			t.Errorf("known synth defect %s: got %d findings, want %d (fixed? update knownSynthDefects)", rule, got[rule], n)
		}
	}
	if t.Failed() {
		t.Logf("findings:%s", dump(e.Findings()))
	}
	for _, f := range e.Findings() {
		if f.Rule == RuleMissingHeartbeat && f.Channel != "stream" || f.Rule == RuleNoSyncOnAttach && f.Channel != "control" {
			t.Errorf("unexpected socket: %s on %s", f, f.Channel)
		}
	}
	if frames < 100_000 {
		t.Fatalf("%d frames", frames)
	}
	if st := e.Stats(); st.Sockets != 0 || st.Sessions != 0 {
		t.Fatalf("state left after Finish: %+v", st)
	}
}

// writeTrace writes records (after a header with part) to path; plain
// JSON Lines unless the name ends in .zst.
func writeTrace(t *testing.T, path string, part int, recs []*trace.Record) {
	t.Helper()
	opts := recorder.Options{Compression: recorder.Plain}
	if strings.HasSuffix(path, ".zst") {
		opts.Compression = recorder.Zstd
	}
	w, err := recorder.Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := trace.NewHeader("analysis-test", "0", trace.SourceSimulator, t0)
	h.Header.Part = part
	w.Write(h)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTruncatedTrace(t *testing.T) {
	dir := t.TempDir()
	var recs []*trace.Record
	synthStream(2, 2000, func(r *trace.Record) { recs = append(recs, r) })
	full := filepath.Join(dir, "full.jsonl")
	writeTrace(t, full, 0, recs)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	// Cut in the middle of a line, two thirds in.
	cut := len(data) * 2 / 3
	for data[cut] == '\n' {
		cut++
	}
	lines := bytes.Count(data[:cut], []byte("\n")) - 1 // complete records after the header
	part := filepath.Join(dir, "cut.jsonl")
	if err := os.WriteFile(part, data[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	rep := CheckFiles([]string{part}, Config{Disable: quiet().Disable})
	fr := rep.Files[0]
	if fr.Err != nil || !fr.Truncated || len(fr.Warnings) == 0 {
		t.Fatalf("file report: %+v", fr)
	}
	if fr.Records != int64(lines) {
		t.Fatalf("checked %d records, want the %d complete lines", fr.Records, lines)
	}
	// What was outstanding at the cut cannot be judged: no error, and
	// one undetermined note per connection still open, naming the cut.
	if rep.Errors != 0 {
		t.Fatalf("%d errors on a cut trace:%s", rep.Errors, dump(rep.Findings))
	}
	notes := of(rep.Findings, RuleUndetermined)
	conns := map[string]bool{}
	for _, f := range notes {
		if conns[f.Conn] {
			t.Errorf("two notes for connection %s", f.Conn)
		}
		conns[f.Conn] = true
		if !strings.Contains(f.Message, fmt.Sprintf("cut.jsonl is cut at byte %d", fr.CutAt)) {
			t.Errorf("note does not name the cut: %s", f)
		}
	}
	if fr.CutAt != int64(bytes.LastIndexByte(data[:cut], '\n')+1) {
		t.Fatalf("notes %d, cut at %d:%s", len(notes), fr.CutAt, dump(rep.Findings))
	}
	t.Logf("%s; %d findings", fr.Warnings[0], len(rep.Findings))

	// zstd, cut in a block.
	zfull := filepath.Join(dir, "full.jsonl.zst")
	writeTrace(t, zfull, 0, recs)
	zdata, _ := os.ReadFile(zfull)
	zpart := filepath.Join(dir, "cut.jsonl.zst")
	os.WriteFile(zpart, zdata[:len(zdata)*2/3], 0o600)
	rep = CheckFiles([]string{zpart}, Config{})
	if fr := rep.Files[0]; fr.Err != nil || !fr.Truncated || fr.Records == 0 {
		t.Fatalf("zstd file report: %+v", fr)
	}
}

func TestBadLinesAndReadErrors(t *testing.T) {
	dir := t.TempDir()
	s := newScript()
	s.open("c", "conn-1", "control")
	s.client("c", `{"type":"read_file","request_id":"rf-1"}`)
	s.server("c", `{"type":"read_file_response","request_id":"rf-1"}`)
	good := filepath.Join(dir, "a.jsonl")
	writeTrace(t, good, 0, s.recs)
	data, _ := os.ReadFile(good)
	ls := bytes.SplitAfter(data, []byte("\n"))
	// Replace line 3 (the command) by garbage: the reply is then an orphan.
	bad := bytes.Join([][]byte{ls[0], ls[1], []byte("{not a record\n"), ls[3]}, nil)
	badPath := filepath.Join(dir, "b.jsonl")
	os.WriteFile(badPath, bad, 0o600)
	notTrace := filepath.Join(dir, "c.jsonl")
	os.WriteFile(notTrace, []byte("hello\n"), 0o600)

	rep := CheckFiles([]string{badPath, notTrace, good, filepath.Join(dir, "missing.jsonl")}, quiet())
	if len(rep.Files[0].BadLines) != 1 || !strings.Contains(rep.Files[0].BadLines[0], "line 3") {
		t.Fatalf("bad lines: %v", rep.Files[0].BadLines)
	}
	if rep.Files[1].Err == nil || !strings.Contains(rep.Files[1].Err.Error(), "not a wsproxy trace") {
		t.Fatalf("not a trace: %v", rep.Files[1].Err)
	}
	if rep.Files[2].Err != nil || rep.Files[2].Records != 3 {
		t.Fatalf("good file: %+v", rep.Files[2])
	}
	if rep.Files[3].Err == nil {
		t.Fatal("missing file: no error")
	}
	if len(rep.ReadErrors()) != 2 {
		t.Fatal(rep.ReadErrors())
	}
	f := want(t, rep.Findings, RuleOrphanResponse, 1)
	if f[0].File != badPath || f[0].Line != 4 {
		t.Fatalf("orphan: %s", f[0])
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("findings:%s", dump(rep.Findings))
	}
}

func TestRotatedParts(t *testing.T) {
	dir := t.TempDir()
	s := newScript()
	s.open("c", "conn-1", "control")
	s.client("c", `{"type":"read_file","request_id":"rf-1"}`)
	p1 := s.recs
	s = newScript()
	s.after(time.Second).server("c", `{"type":"read_file_response","request_id":"rf-1"}`)
	s.close("c")
	p2 := s.recs
	writeTrace(t, filepath.Join(dir, "run.1.jsonl"), 1, p1)
	writeTrace(t, filepath.Join(dir, "run.2.jsonl.zst"), 2, p2)
	paths, errs := ExpandPaths([]string{dir})
	if len(errs) > 0 || len(paths) != 2 {
		t.Fatal(paths, errs)
	}
	rep := CheckFiles(paths, quiet())
	none(t, rep.Findings)
	if rep.Files[0].Stream != rep.Files[1].Stream {
		t.Fatalf("parts in different streams: %+v", rep.Files)
	}

	// Not consecutive parts: two streams, each read alone. The first ends
	// with the request pending and the second starts with its reply:
	// neither can be judged, so each connection gets one undetermined
	// note and there is no error.
	os.Rename(filepath.Join(dir, "run.2.jsonl.zst"), filepath.Join(dir, "run.3.jsonl.zst"))
	writeTrace(t, filepath.Join(dir, "run.3.jsonl.zst"), 3, p2)
	paths, _ = ExpandPaths([]string{dir})
	rep = CheckFiles(paths, quiet())
	if rep.Errors != 0 || rep.Notes != 2 {
		t.Fatalf("errors %d notes %d:%s", rep.Errors, rep.Notes, dump(rep.Findings))
	}
	f := want(t, rep.Findings, RuleUndetermined, 2)
	if f[0].File != paths[0] || !strings.Contains(f[0].Message, "the trace ends with the connection open: not judged: 1 request(s) awaiting a reply") {
		t.Fatalf("first part: %s", f[0])
	}
	if f[1].File != paths[1] || f[1].Line != 2 || !strings.Contains(f[1].Message, "the connection started before the trace: not judged: 1 reply(ies)") {
		t.Fatalf("second part: %s", f[1])
	}
}

func TestExpandPaths(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.jsonl.gz", "a.jsonl", "c.jsonl.zst", "notes.txt", "d.json"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	paths, errs := ExpandPaths([]string{dir, "x.jsonl"})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	wantPaths := []string{filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl.gz"), filepath.Join(dir, "c.jsonl.zst"), "x.jsonl"}
	if strings.Join(paths, ",") != strings.Join(wantPaths, ",") {
		t.Fatalf("got %v", paths)
	}
	empty := t.TempDir()
	if _, errs := ExpandPaths([]string{empty}); len(errs) != 1 {
		t.Fatal("empty directory: no error")
	}
}
