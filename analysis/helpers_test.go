package analysis

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// script builds a trace in Go: records get lines 2, 3, ... (line 1 is
// the header a file would have) and times t0 + the current offset.
type script struct {
	t0   time.Time
	at   time.Duration
	recs []*trace.Record
}

var t0 = time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)

func newScript() *script { return &script{t0: t0} }

// after moves the clock forward by d.
func (s *script) after(d time.Duration) *script { s.at += d; return s }

// to sets the clock to d after t0.
func (s *script) to(d time.Duration) *script { s.at = d; return s }

func (s *script) add(r *trace.Record) int64 {
	r.T = s.t0.Add(s.at)
	r.Line = int64(len(s.recs) + 2)
	s.recs = append(s.recs, r)
	return r.Line
}

func statusURL(connID, channel string) string {
	return fmt.Sprintf("/v1/environments/%s/status/ws?agentId=agent-1&conversationId=default&channel=%s", connID, channel)
}

// open opens conn as a status socket of connID on channel ("" for a
// socket with no session info, like the app server's /ws).
func (s *script) open(conn, connID, channel string) int64 {
	o := &trace.Open{URL: "/ws"}
	if connID != "" {
		o.URL = statusURL(connID, channel)
	}
	o.Session = protocol.SessionFromURL(o.URL)
	return s.add(&trace.Record{Kind: trace.KindOpen, Conn: conn, Open: o})
}

func (s *script) frame(conn string, from trace.Side, payload string) int64 {
	p := []byte(payload)
	return s.add(&trace.Record{Kind: trace.KindFrame, Conn: conn, From: from, Op: trace.OpText,
		Payload: p, Form: trace.FormOf(trace.OpText, p), Size: len(p)})
}

func (s *script) client(conn, payload string) int64 { return s.frame(conn, trace.Client, payload) }
func (s *script) server(conn, payload string) int64 { return s.frame(conn, trace.Server, payload) }

func (s *script) op(conn string, from trace.Side, op trace.Op, payload string) int64 {
	return s.add(&trace.Record{Kind: trace.KindFrame, Conn: conn, From: from, Op: op, Payload: []byte(payload), Form: trace.FormData})
}

func (s *script) close(conn string) int64 {
	return s.add(&trace.Record{Kind: trace.KindClose, Conn: conn, By: trace.Client, Code: 1000})
}

func (s *script) errorRec(conn, msg string) int64 {
	return s.add(&trace.Record{Kind: trace.KindError, Conn: conn, Message: msg})
}

const rt = `"runtime":{"agent_id":"agent-1","conversation_id":"default"}`

// ev returns a device event payload with the envelope.
func ev(typ string, n int64, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"type":%q%s,%s,"event_seq":%d,"emitted_at":"2026-11-28T17:00:00Z","idempotency_key":"%s:%d:u-%d"}`,
		typ, extra, rt, n, typ, n, n)
}

// quiet returns a config whose liveness rules stay out of the way of a
// test about something else.
func quiet() Config {
	return Config{Disable: []string{RuleMissingHeartbeat, RuleNoSyncOnAttach}}
}

// run checks the script's records with cfg and returns every finding.
func (s *script) run(cfg Config) []Finding {
	cfg.Collect = true
	e := New(cfg)
	e.SetFile("test.jsonl")
	for _, r := range s.recs {
		e.Write(r)
	}
	e.Finish(time.Time{})
	return e.Findings()
}

// of returns the findings of rule.
func of(fs []Finding, rule string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s (subject %q, related %d, conn %s, socket %s#%d)", f, f.Subject, f.RelatedLine, f.Conn, f.Channel, f.Socket)
	}
	return b.String()
}

// want checks that fs holds exactly n findings of rule (and nothing
// else when exclusive), and returns them.
func want(t *testing.T, fs []Finding, rule string, n int) []Finding {
	t.Helper()
	got := of(fs, rule)
	if len(got) != n {
		t.Fatalf("%s: got %d findings, want %d; all findings:%s", rule, len(got), n, dump(fs))
	}
	return got
}

// none checks that fs is empty.
func none(t *testing.T, fs []Finding) {
	t.Helper()
	if len(fs) != 0 {
		t.Fatalf("want no findings, got:%s", dump(fs))
	}
}

func check(t *testing.T, f Finding, sev Severity, line, related int64, subject string) {
	t.Helper()
	if f.Severity != sev || f.Line != line || f.RelatedLine != related || f.Subject != subject {
		t.Fatalf("finding %s: severity %s line %d related %d subject %q; want %s line %d related %d subject %q",
			f, f.Severity, f.Line, f.RelatedLine, f.Subject, sev, line, related, subject)
	}
}
