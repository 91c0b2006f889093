package redact

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Report says what a Redactor changed.
type Report struct {
	// Records counts the records seen and Changed those changed.
	Records, Changed int64
	// Defaults counts values the default rules replaced (secret JSON
	// members, headers, token query parameters).
	Defaults int
	// User counts what the user's rules replaced.
	User Counts
	// KeptURLs counts URLs left as they were because a pattern would have
	// changed the session they name.
	KeptURLs int
}

// String summarises the report on one line.
func (r Report) String() string {
	s := fmt.Sprintf("%d of %d records changed: %d values by the default rules, %d by member names, %d by paths, %d pattern matches",
		r.Changed, r.Records, r.Defaults, r.User.Members, r.User.Paths, r.User.Patterns)
	if r.KeptURLs > 0 {
		s += fmt.Sprintf("; %d URLs kept (a pattern would have changed their session ids)", r.KeptURLs)
	}
	return s
}

// Redactor applies the default rules and, if set, a user's Rules to the
// records of a trace, in place. Types, ids and sequence numbers are never
// changed (Protected, and checked on every message).
type Redactor struct {
	Rules  *Rules // nil: the default rules only
	Report Report
}

// Record redacts r in place. The error names the record's line when a
// rule would change what identifies a message (never with Protected
// intact; a safety net).
func (x *Redactor) Record(r *trace.Record) error {
	if r.Kind == trace.KindHeader {
		if r.Header != nil {
			r.Header.Secrets = "redacted"
		}
		return nil
	}
	x.Report.Records++
	changed := false
	mark := func(c bool) { changed = changed || c }
	switch r.Kind {
	case trace.KindOpen:
		if o := r.Open; o != nil {
			o.URL = x.url(o.URL, mark)
			o.Headers = x.headers(o.Headers, mark)
			o.ResponseHeaders = x.headers(o.ResponseHeaders, mark)
		}
	case trace.KindHTTP:
		if h := r.HTTP; h != nil {
			h.URL = x.url(h.URL, mark)
			h.RequestHeaders = x.headers(h.RequestHeaders, mark)
			h.ResponseHeaders = x.headers(h.ResponseHeaders, mark)
			for _, b := range []*trace.Body{h.RequestBody, h.ResponseBody} {
				if b != nil && len(b.Data) > 0 {
					var c bool
					b.Data, c = x.payload(b.Data, b.Form != trace.FormData)
					if c {
						b.Form = trace.FormAuto
						mark(true)
					}
				}
			}
		}
	case trace.KindError, trace.KindLoss:
		r.Message = x.text(r.Message, mark)
	case trace.KindFault:
		// An injected fault's description and the payload it delivered
		// (corrupt, inject).
		r.Message = x.text(r.Message, mark)
		if len(r.Payload) > 0 {
			if p, c := x.payload(r.Payload, r.Op == trace.OpText); c {
				r.Payload, r.Form = p, trace.FormAuto
				mark(true)
			}
		}
	case trace.KindClose:
		r.Reason = x.text(r.Reason, mark)
	case trace.KindFrame:
		r.Reason = x.text(r.Reason, mark)
		if len(r.Payload) > 0 {
			before := r.Payload
			p, c := x.payload(r.Payload, r.Op == trace.OpText)
			if c {
				if r.Op == trace.OpText && !sameEnvelope(before, p) {
					return fmt.Errorf("line %d: redaction would change the message's type, ids or sequence numbers", r.Line)
				}
				r.Payload, r.Form = p, trace.FormAuto
				mark(true)
			}
		}
	}
	if changed {
		r.Redacted = true
		x.Report.Changed++
	}
	return nil
}

// payload redacts a frame or body payload: JSON objects by the default
// and member/path rules, then patterns over string values; anything else
// by patterns over its bytes.
func (x *Redactor) payload(p []byte, text bool) ([]byte, bool) {
	changed := false
	if text {
		if q, c := JSON(p); c {
			x.Report.Defaults += bytes.Count(q, quotedPlaceholder) - bytes.Count(p, quotedPlaceholder)
			p, changed = q, true
		}
	}
	if x.Rules == nil {
		return p, changed
	}
	if q, c := x.Rules.JSON(p); c.Any() {
		x.Report.User.Add(c)
		return q, true
	}
	if text && firstByte(p) == '{' {
		return p, changed // JSON: patterns were applied to its strings already
	}
	if q, n := x.Rules.Bytes(append([]byte(nil), p...)); n > 0 {
		x.Report.User.Patterns += n
		return q, true
	}
	return p, changed
}

func firstByte(p []byte) byte {
	p = bytes.TrimLeft(p, " \t\r\n")
	if len(p) == 0 {
		return 0
	}
	return p[0]
}

func (x *Redactor) text(s string, mark func(bool)) string {
	if x.Rules == nil || s == "" {
		return s
	}
	t, n := x.Rules.Text(s)
	x.Report.User.Patterns += n
	mark(n > 0)
	return t
}

func (x *Redactor) url(u string, mark func(bool)) string {
	v, c := URL(u)
	if c {
		x.Report.Defaults++
		mark(true)
	}
	if x.Rules == nil {
		return v
	}
	w, n := x.Rules.Text(v)
	if n == 0 {
		return v
	}
	if protocol.SessionFromURL(w) != protocol.SessionFromURL(v) {
		x.Report.KeptURLs++
		return v
	}
	x.Report.User.Patterns += n
	mark(true)
	return w
}

func (x *Redactor) headers(h map[string][]string, mark func(bool)) map[string][]string {
	if len(h) == 0 {
		return h
	}
	out, c := Headers(http.Header(h))
	if c {
		x.Report.Defaults++
		mark(true)
	}
	if x.Rules == nil {
		return out
	}
	for k, vs := range out {
		for i, v := range vs {
			if w, n := x.Rules.Text(v); n > 0 {
				vs[i] = w
				x.Report.User.Patterns += n
				mark(true)
			}
		}
		out[k] = vs
	}
	return out
}

// sameEnvelope reports whether two payloads route and correlate the same.
func sameEnvelope(a, b []byte) bool {
	ea, erra := protocol.Parse(a)
	eb, errb := protocol.Parse(b)
	if (erra == nil) != (errb == nil) {
		return false
	}
	return ea.TypeString() == eb.TypeString() && bytes.Equal(ea.RequestID, eb.RequestID) &&
		ea.Seq == eb.Seq && ea.HasSeq == eb.HasSeq && ea.EventSeq == eb.EventSeq && ea.HasEventSeq == eb.HasEventSeq &&
		bytes.Equal(ea.IdempotencyKey, eb.IdempotencyKey) && bytes.Equal(ea.TerminalID, eb.TerminalID) &&
		bytes.Equal(ea.ApprovalRequestID, eb.ApprovalRequestID) && bytes.Equal(ea.PayloadKind, eb.PayloadKind) &&
		bytes.Equal(ea.AgentID, eb.AgentID) && bytes.Equal(ea.ConversationID, eb.ConversationID) &&
		bytes.Equal(ea.LoopStatus, eb.LoopStatus) && ea.RecoverApprovals == eb.RecoverApprovals &&
		ea.HasRuntime == eb.HasRuntime
}
