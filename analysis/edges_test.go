package analysis

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/internal/jsonscan"
	"github.com/lettadev/wsproxy/trace"
)

// pendingSession is a socket with one of everything still pending: an
// unacked seq, a command with no reply yet, an approval, a gap in the
// reordering window.
func pendingSession() *script {
	s := newScript()
	s.open("c", "conn-1", "control")
	s.client("c", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
	s.server("c", ev("update_queue", 1, `"seq":1`))
	s.client("c", `{"type":"ack","seq":1}`)
	s.after(time.Second)
	s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
	s.server("c", ev("control_request", 2, `"seq":2,"request_id":"perm-1"`))
	s.server("c", ev("update_queue", 4, `"seq":3`))
	return s
}

func TestCutTraceIsUndetermined(t *testing.T) {
	s := pendingSession()
	fs := s.run(quiet())
	for _, f := range fs {
		if f.Severity != Note {
			t.Errorf("finding at a cut: %s", f)
		}
	}
	n := want(t, fs, RuleUndetermined, 1)[0]
	for _, w := range []string{"the trace ends with the connection open: not judged:", "2 unacked seq(s)",
		"1 request(s) awaiting a reply", "1 event_seq gap(s) still in the reordering window", "1 approval(s) awaiting an answer"} {
		if !strings.Contains(n.Message, w) {
			t.Errorf("note %q lacks %q", n.Message, w)
		}
	}
	if n.Line != 8 || n.Conn != "c" {
		t.Errorf("note at line %d conn %s, want the connection's last record (8)", n.Line, n.Conn)
	}

	// The same socket closed by the client is judged.
	s.close("c")
	fs = s.run(quiet())
	want(t, fs, RuleUnackedSeq, 2)
	want(t, fs, RuleUnmatchedRequest, 1)
	want(t, fs, RuleUnansweredApproval, 1)
	want(t, fs, RuleEventSeqGap, 1)
	want(t, fs, RuleUndetermined, 0)
}

// The proxy closing both sides (its shutdown, a frame too big, a lost
// peer) leaves what was pending undetermined; what was already overdue
// stays an error.
func TestProxyCloseIsUndetermined(t *testing.T) {
	s := newScript()
	s.open("c", "conn-1", "stream")
	s.server("c", ev("update_queue", 1, `"seq":1`)) // never acked: overdue at the close
	s.after(20 * time.Second)
	s.client("c", `{"type":"ping"}`)
	s.server("c", ev("update_queue", 2, `"seq":2`)) // sent in the last moment
	s.add(&trace.Record{Kind: trace.KindClose, Conn: "c", By: trace.Proxy, Code: 1001, Reason: "proxy shutting down"})
	fs := s.run(quiet())
	f := want(t, fs, RuleUnackedSeq, 1)
	check(t, f[0], Error, 3, 0, "1")
	n := want(t, fs, RuleUndetermined, 1)[0]
	if !strings.Contains(n.Message, "the proxy closed the connection (1001 proxy shutting down): not judged: 1 unacked seq(s)") {
		t.Fatalf("note: %s", n)
	}
}

// A connection whose open record is not in the trace (a rotated part, a
// late capture) started before it: acks and replies for frames sent
// before the trace began are not errors, and its event_seq cannot be
// judged without its session's other sockets.
func TestMidStreamConnection(t *testing.T) {
	s := newScript()
	s.client("c", `{"type":"ack","seq":40}`) // before any seq in the trace
	s.server("c", `{"type":"file_changed","seq":41}`)
	s.client("c", `{"type":"ack","seq":39}`) // below the first seq seen
	s.client("c", `{"type":"ack","seq":41}`)
	s.server("c", `{"type":"read_file_response","request_id":"rf-0","success":true}`)
	s.server("c", ev("update_queue", 7, ""))
	s.server("c", ev("update_queue", 9, ""))
	l := s.client("c", `{"type":"ack","seq":99}`) // never sent, and after the first seq: still an error
	s.close("c")
	fs := s.run(quiet())
	check(t, want(t, fs, RuleAckUnknownSeq, 1)[0], Error, l, 0, "99")
	want(t, fs, RuleOrphanResponse, 0)
	want(t, fs, RuleEventSeqGap, 0)
	n := want(t, fs, RuleUndetermined, 1)[0]
	for _, w := range []string{"the connection started before the trace: not judged: 2 ack(s) of seqs sent before the trace began",
		"1 reply(ies) to commands that may predate the trace", "1 event_seq gap(s)"} {
		if !strings.Contains(n.Message, w) {
			t.Errorf("note %q lacks %q", n.Message, w)
		}
	}
	if len(fs) != 2 {
		t.Fatalf("findings:%s", dump(fs))
	}
}

// A loss record makes its connection (and session) unknown from there
// on: nothing that depends on the missing records is reported, one note
// says so, and the proxy's "recording fell behind" error records are not
// frame errors.
func TestLossRecords(t *testing.T) {
	build := func(loss bool) *script {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.open("st", "conn-1", "stream")
		s.client("c", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
		s.server("st", ev("update_queue", 1, `"seq":1`))
		s.client("st", `{"type":"ack","seq":1}`)
		s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
		if loss {
			s.add(&trace.Record{Kind: trace.KindLoss, Conn: "st", From: trace.Server, Count: 3,
				Message: "recording fell behind"})
			s.errorRec("st", "recording fell behind: 3 records dropped so far (relaying was not affected)")
		}
		s.server("st", ev("update_queue", 5, `"seq":5`)) // 2-4 lost
		s.client("st", `{"type":"ack","seq":4}`)         // acks a lost seq
		s.after(11 * time.Second)
		s.server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
		s.close("c")
		s.close("st")
		return s
	}
	// Without the loss record these are errors ...
	fs := build(false).run(quiet())
	want(t, fs, RuleEventSeqGap, 1)
	want(t, fs, RuleAckUnknownSeq, 1)
	want(t, fs, RuleUnackedSeq, 1)
	// ... with it, they are not reported, and one note says why.
	cfg := quiet()
	cfg.Collect = true
	e := New(cfg)
	for _, r := range build(true).recs {
		e.Write(r)
	}
	e.Finish(time.Time{})
	fs = e.Findings()
	n := want(t, fs, RuleUndetermined, 1)[0]
	if n.Conn != "st" || n.Line != 8 || !strings.Contains(n.Message, "3 record(s) from the server were not recorded (-lossy)") {
		t.Fatalf("note: %s", n)
	}
	if len(fs) != 1 || e.Errors() != 0 {
		t.Fatalf("findings:%s", dump(fs))
	}
	if e.Stats().Suppressed != 3 {
		t.Fatalf("suppressed %d, want 3", e.Stats().Suppressed)
	}
}

// A redelivery identical apart from its top-level seq is a warning even
// when the payload has a nested "seq" and the top-level one is spaced.
func TestRedeliveryNestedSeq(t *testing.T) {
	s := twoSockets()
	key := `"idempotency_key":"stream_delta:1:u"`
	s.server("s", `{"type":"stream_delta",`+rt+`,"event_seq":1,`+key+`,"delta":{"seq":5},"seq": 5}`)
	s.client("s", `{"type":"ack","seq":5}`)
	s.server("s", `{"type":"stream_delta",`+rt+`,"event_seq":1,`+key+`,"delta":{"seq":5},"seq": 6}`)
	s.client("s", `{"type":"ack","seq":6}`)
	s.server("s", `{"type":"stream_delta",`+rt+`,"event_seq":1,`+key+`,"delta":{"seq":6},"seq": 7}`)
	s.client("s", `{"type":"ack","seq":7}`)
	s.close("s")
	s.close("c")
	f := want(t, s.run(quiet()), RuleDuplicateKey, 2)
	if f[0].Severity != Warning || f[1].Severity != Error {
		t.Fatalf("redelivery %s, altered %s", f[0].Severity, f[1].Severity)
	}
}

// The reference shows control_request with seq and request_id and no
// event_seq: following it is not a missing field.
func TestControlRequestAsInTheReference(t *testing.T) {
	s := newScript()
	s.open("c", "conn-1", "control")
	s.server("c", `{"type":"control_request","seq":14,"request_id":"req-1","request":{"subtype":"can_use_tool","tool_name":"Bash","tool_call_id":"toolu_1","input":{"cmd":"npm test"}}}`)
	s.client("c", `{"type":"ack","seq":14}`)
	s.client("c", `{"type":"input",`+rt+`,"payload":{"kind":"approval_response","request_id":"req-1","decision":{"behavior":"allow"}}}`)
	s.close("c")
	none(t, s.run(quiet()))
}

// Valid JSON nested deeper than the validator goes is not called invalid.
func TestDeepJSON(t *testing.T) {
	const depth = 100000
	deep := `{"type":"stream_delta","seq":1,"delta":` + strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth) + "}"
	if !json.Valid([]byte(`{"a":1}`)) || jsonscan.Valid([]byte(deep)) {
		t.Fatal("the test needs JSON deeper than jsonscan.Valid checks")
	}
	s := newScript()
	s.open("c", "conn-1", "stream")
	l := s.server("c", deep)
	s.client("c", `{"type":"ack","seq":1}`)
	s.server("c", `{"a":`+strings.Repeat("[", depth)) // too deep and broken
	s.close("c")
	fs := s.run(quiet())
	want(t, fs, RuleInvalidJSON, 0)
	want(t, fs, RuleAckUnknownSeq, 0) // its envelope was checked
	n := want(t, fs, RuleUndetermined, 2)
	if n[0].Line != l || n[0].Message != "text frame from server: nesting deeper than 10000, only its envelope was checked" {
		t.Fatalf("note: %s", n[0])
	}
	if n[1].Message != "text frame from server: nesting deeper than 10000, not checked" {
		t.Fatalf("note: %s", n[1])
	}
}

// A cut file is counted in every output format.
func TestCutInOutputs(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full.jsonl")
	writeTrace(t, full, 0, pendingSession().recs)
	data, _ := os.ReadFile(full)
	at := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	cut := filepath.Join(dir, "cut.jsonl")
	os.WriteFile(cut, data[:len(data)-10], 0o600) // mid-line
	rep := CheckFiles([]string{cut}, quiet())
	if rep.Errors != 0 || rep.Notes != 1 || rep.Files[0].CutAt != int64(at) {
		t.Fatalf("errors %d notes %d cut at %d (want %d):%s", rep.Errors, rep.Notes, rep.Files[0].CutAt, at, dump(rep.Findings))
	}
	var txt, js, ju bytes.Buffer
	WriteText(&txt, rep)
	WriteJSON(&js, rep)
	WriteJUnit(&ju, rep)
	if !strings.Contains(txt.String(), "1 file cut at byte "+itoa(at)) || !strings.Contains(txt.String(), "1 note(s)") {
		t.Errorf("text:\n%s", txt.String())
	}
	var doc struct {
		Notes    int `json:"notes"`
		CutFiles int `json:"cut_files"`
		Files    []struct {
			CutAt *int64 `json:"cut_at_byte"`
		} `json:"files"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.CutFiles != 1 || doc.Notes != 1 ||
		doc.Files[0].CutAt == nil || *doc.Files[0].CutAt != int64(at) {
		t.Errorf("json: %v\n%s", err, js.String())
	}
	if !strings.Contains(ju.String(), `<skipped type="cut" message="file cut at byte `+itoa(at)) {
		t.Errorf("junit:\n%s", ju.String())
	}
}

// A file whose records are all bad lines is a read error, and the summary
// says what failed.
func TestOnlyBadLines(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.jsonl")
	h, _ := os.ReadFile(filepath.Join("testdata", "faults.jsonl"))
	header := h[:bytes.IndexByte(h, '\n')+1]
	os.WriteFile(p, append(header, "{nope\n{\"kind\":\"frame\"}\n"...), 0o600)
	rep := CheckFiles([]string{p}, Config{})
	if rep.Files[0].Err == nil || !strings.Contains(rep.Files[0].Err.Error(), "no valid record after the header: all 2 line(s) were skipped") {
		t.Fatalf("err %v", rep.Files[0].Err)
	}
	var txt bytes.Buffer
	WriteText(&txt, rep)
	if !strings.Contains(txt.String(), "1 of 1 file(s) could not be read, so not checked:") {
		t.Fatalf("summary:\n%s", txt.String())
	}
}

func itoa(n int) string { return seqName(int64(n)) }
