package analysis

import (
	"fmt"
	"strconv"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Finding is one rule violation.
type Finding struct {
	// Rule is the rule's id and Severity the finding's severity.
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// File and Line locate the record the finding is about (a frame, or
	// the open/close record for socket-level findings). Line is 0 for
	// records that were not read from a file.
	File string `json:"file"`
	Line int64  `json:"line"`
	// Conn is the connection (socket) of that record.
	Conn string `json:"conn"`
	// T is the time of that record.
	T time.Time `json:"t"`
	// Message names the ids involved.
	Message string `json:"message"`
	// RelatedLine is another record of the story: the request of a reply,
	// the first delivery of a duplicate, the late ack or reply, the event
	// before a gap. 0 when there is none. RelatedFile is its file.
	RelatedLine int64  `json:"related_line"`
	RelatedFile string `json:"related_file,omitempty"`

	// Subject identifies the finding within its rule: a request_id, an
	// idempotency key, a transport seq in decimal, an event_seq range
	// "A-B", a type name, or "".
	Subject string `json:"subject,omitempty"`
	// Session is the socket's session (its Key, without channel); Channel
	// is the socket's channel ("control", "stream" or "single").
	Session protocol.Session `json:"session"`
	Channel string           `json:"channel,omitempty"`
	// Socket is the 1-based ordinal of the socket among the sockets of its
	// connection id and channel, in open order (as in faults.Fault).
	Socket int `json:"socket,omitempty"`
}

// String formats the finding like a compiler diagnostic:
// file:line: severity: rule: message.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s: %s", f.File, f.Line, f.Severity, f.Rule, f.Message)
}

// report records one finding about the record at p on the socket id.
func (e *Engine) report(rule string, sev Severity, id *ident, p pos, t int64, related pos, subject, msg string) {
	if e.disabled[rule] {
		return
	}
	if e.lost(rule, id) {
		e.suppressed++
		return
	}
	f := Finding{
		Rule: rule, Severity: sev, File: e.files[p.file], Line: p.line, Conn: id.conn,
		T: time.Unix(0, t).UTC(), Message: msg, RelatedLine: related.line, Subject: subject,
		Session: id.session, Channel: id.channel, Socket: id.ordinal,
	}
	if related.line != 0 {
		f.RelatedFile = e.files[related.file]
	}
	if e.inj != nil && sev != Note && e.inj.explains(&f, p, related) {
		f.Severity, sev = Expected, Expected
	}
	e.counts[rule]++
	e.bySev[sev]++
	if e.cfg.OnFinding != nil {
		e.cfg.OnFinding(f)
	}
	if e.cfg.Collect {
		if e.cfg.MaxCollected > 0 && len(e.findings) >= e.cfg.MaxCollected {
			e.dropped++
		} else {
			e.findings = append(e.findings, f)
		}
	}
}

func sideName(s trace.Side) string {
	if s == "" {
		return "unknown side"
	}
	return string(s)
}

func snippet(p []byte) string {
	const n = 40
	if len(p) > n {
		return strconv.Quote(string(p[:n])) + "…"
	}
	return strconv.Quote(string(p))
}

// dur formats a duration in nanoseconds for messages, to the millisecond.
func dur(ns int64) string {
	d := time.Duration(ns)
	if d >= time.Millisecond {
		d = d.Round(time.Millisecond)
	}
	return d.String()
}

func lineRef(p pos) string {
	if p.line == 0 {
		return "an unknown line"
	}
	return "line " + strconv.FormatInt(p.line, 10)
}

func seqName(n int64) string { return strconv.FormatInt(n, 10) }

func gapName(a, b int64) string {
	return strconv.FormatInt(a, 10) + "-" + strconv.FormatInt(b, 10)
}
