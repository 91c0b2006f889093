package analysis_test

import (
	"fmt"
	"os"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// The engine takes records in and gives findings out; time is the
// records' own.
func Example() {
	t0 := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	url := "/v1/environments/conn-1/status/ws?agentId=agent-1&conversationId=default&channel=control"
	frame := func(line int64, d time.Duration, from trace.Side, msg string) *trace.Record {
		return &trace.Record{Kind: trace.KindFrame, T: t0.Add(d), Conn: "c1", From: from, Op: trace.OpText,
			Payload: []byte(msg), Form: trace.FormMsg, Line: line}
	}
	records := []*trace.Record{
		{Kind: trace.KindOpen, T: t0, Conn: "c1", Line: 2,
			Open: &trace.Open{URL: url, Session: protocol.SessionFromURL(url)}},
		frame(3, 0, trace.Client, `{"type":"sync","runtime":{"agent_id":"agent-1","conversation_id":"default"},"recover_approvals":true}`),
		frame(4, time.Second, trace.Client, `{"type":"read_file","request_id":"rf-1","path":"/a"}`),
		frame(5, 2*time.Second, trace.Server, `{"type":"read_file_response","seq":1,"request_id":"rf-2","success":true}`),
		frame(6, 2*time.Second, trace.Client, `{"type":"ack","seq":1}`),
		{Kind: trace.KindClose, T: t0.Add(3 * time.Second), Conn: "c1", Line: 7},
	}

	e := analysis.New(analysis.Config{
		OnFinding: func(f analysis.Finding) { fmt.Println(f) },
	})
	e.SetFile("session.jsonl")
	for _, r := range records {
		e.Write(r)
	}
	e.Finish(time.Time{})
	fmt.Println(e.Errors(), "errors")
	// Output:
	// session.jsonl:5: error: orphan-response: read_file_response rf-2: no command on this socket had this request_id
	// session.jsonl:4: error: unmatched-request: read_file rf-1 got no reply before the socket closed (accepted: read_file_response)
	// 2 errors
}

// CheckFiles reads traces (on a second goroutine) and checks them; the
// report prints as text, JSON or JUnit XML.
func ExampleCheckFiles() {
	rep := analysis.CheckFiles([]string{"testdata/faults.jsonl"}, analysis.Config{})
	for _, f := range rep.SortedFindings() {
		fmt.Printf("%d %s %s %q\n", f.Line, f.Severity, f.Rule, f.Subject)
	}
	analysis.WriteJSON(os.Stdout, &analysis.Report{}) // an empty report, for its shape
	// Output:
	// 7 error event-seq-gap "2-3"
	// 11 error unmatched-request "rf-1"
	// 12 error orphan-response "rf-9"
	// 12 error unacked-seq "2"
	// 13 warning unknown-type "brand_new_command"
	// {
	//   "summary": {
	//     "ack-unknown-seq": 0,
	//     "binary-frame": 0,
	//     "duplicate-idempotency-key": 0,
	//     "duplicate-request-id": 0,
	//     "event-seq-gap": 0,
	//     "event-seq-regression": 0,
	//     "frame-error": 0,
	//     "gap-without-sync": 0,
	//     "invalid-json": 0,
	//     "missing-field": 0,
	//     "missing-heartbeat": 0,
	//     "no-sync-on-attach": 0,
	//     "orphan-response": 0,
	//     "ping-without-pong": 0,
	//     "response-type-mismatch": 0,
	//     "seq-regression": 0,
	//     "unacked-seq": 0,
	//     "unanswered-approval": 0,
	//     "undetermined": 0,
	//     "unknown-type": 0,
	//     "unmatched-request": 0
	//   },
	//   "errors": 0,
	//   "warnings": 0,
	//   "notes": 0,
	//   "frames": 0,
	//   "cut_files": 0,
	//   "read_errors": 0,
	//   "files": [],
	//   "findings": []
	// }
}
