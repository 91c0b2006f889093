package analysis

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Injected faults (fault records, from wsproxy -fault). A fault record
// comes right before the frame it affects and tells the checker what the
// receiver really got: a dropped message is not checked as delivered, a
// duplicate is checked twice, a corrupted one as its corrupted bytes, an
// injected message as a frame of its own. Findings that a fault explains
// are reported with severity Expected (never counted as errors); the rest
// keep theirs, so a real fault is never hidden. For each fault the checker
// also says how the client reacted (FaultReports).

// Expected is the severity of a finding an injected fault explains.
const Expected Severity = 4

// FaultReport is one injected fault and the client's reaction to it.
type FaultReport struct {
	File   string     `json:"file"`
	Line   int64      `json:"line"` // the fault record's line
	Conn   string     `json:"conn"`
	From   trace.Side `json:"from"`
	Rule   string     `json:"rule"`
	Action string     `json:"action"`
	// Message describes the affected message ("stream_delta event_seq 12").
	Message string `json:"message"`
	// Want is what a healthy client does; Saw what this one did; Outcome
	// is OutcomeOK, OutcomeFailed or OutcomeUnobservable.
	Want    string `json:"want"`
	Saw     string `json:"saw"`
	Outcome string `json:"outcome"`
}

// Reaction outcomes.
const (
	OutcomeOK           = "ok"
	OutcomeFailed       = "failed"
	OutcomeUnobservable = "unobservable" // nothing on the wire tells
)

// String formats the report like a finding: file:line: fault: ….
func (r FaultReport) String() string {
	return fmt.Sprintf("%s:%d: fault: %s on %s from %s (%s): want %s; saw %s: %s", r.File, r.Line, r.Action, r.Message, r.From, r.Rule, r.Want, r.Saw, r.Outcome)
}

type expKey struct {
	where   string // a conn, or a session's key
	rule    string
	subject string
}

type lineKey struct {
	conn string
	line int64
	file int32
}

type injFault struct {
	rep     FaultReport
	rec     *trace.Record
	p       pos
	session protocol.Session
	channel string
	t       int64

	wantSync   bool   // the client must sync on the session
	wantReopen bool   // the client must reconnect the channel and sync with recover_approvals
	reopened   string // the new socket's conn
	approvalID string // a duplicated control_request: its answers are counted
	answers    int
	done       bool
	// After a close: the line of the first event on a socket of the
	// session opened after the fault (0: none yet). Events the device had
	// not sent when the socket closed are lost until then.
	aftermathEnd int64
}

type injected struct {
	byFrame  map[int64]*injFault // faults waiting for their frame
	faults   []*injFault
	open     []*injFault // faults whose reaction is still awaited
	conn     map[expKey]bool
	sess     map[expKey]bool
	lines    map[lineKey]bool
	withheld map[string]map[int64]bool // session key -> event_seqs not delivered in order
	closedBy map[string]*injFault      // conn -> the close or truncate fault
	closes   []*injFault               // close and truncate faults, in order
	tornDown map[string]bool           // conns the client closed in reaction to an injected close
}

// maxFaults bounds the faults tracked per stream.
const maxFaults = 100000

func newInjected() *injected {
	return &injected{byFrame: map[int64]*injFault{}, conn: map[expKey]bool{}, sess: map[expKey]bool{},
		lines: map[lineKey]bool{}, withheld: map[string]map[int64]bool{}, closedBy: map[string]*injFault{}, tornDown: map[string]bool{}}
}

func sessKey(s protocol.Session) string {
	return s.ConnectionID + "\x00" + s.AgentID + "\x00" + s.ConversationID
}

// noteFault handles a fault record: the frame it names, the next record,
// will be checked as its receiver got it.
func (e *Engine) noteFault(r *trace.Record, t int64, p pos) {
	if e.inj == nil {
		e.inj = newInjected()
	}
	if r.Action == "decline-compression" || r.Frame <= 0 || len(e.inj.byFrame) >= maxFaults {
		return
	}
	e.inj.byFrame[r.Frame] = &injFault{rec: r, p: p, t: t,
		rep: FaultReport{File: e.files[p.file], Line: p.line, Conn: r.Conn, From: r.From, Rule: r.Rule, Action: r.Action}}
}

// faultedFrame checks a frame an injected fault affected, as its receiver
// got it, and notes what the fault explains. It returns false for a frame
// no fault names.
func (e *Engine) faultedFrame(r *trace.Record, t int64, p pos) bool {
	in := e.inj
	if r.From == trace.Client && r.Op == trace.OpClose {
		e.injClientClose(r)
	}
	f := in.byFrame[r.N]
	if r.N == 0 {
		return false
	}
	if f == nil {
		cf := in.closedBy[r.Conn]
		if cf == nil {
			return false
		}
		// Frames recorded on a connection after the fault that closed
		// it were never delivered.
		e.frames++
		f = &injFault{session: cf.session, channel: cf.channel, rec: &trace.Record{Action: "after-close"}}
	} else {
		delete(in.byFrame, r.N)
		s := e.socket(r.Conn, t, p)
		f.session, f.channel = s.id.session, s.id.channel
	}
	var env protocol.Envelope
	parsed := r.Op == trace.OpText && e.model.ParseInto(&env, r.Payload) == nil
	f.rep.Message = describe(r, &env, parsed)
	sk := sessKey(f.session)
	conn := func(rule, subject string) { in.conn[expKey{r.Conn, rule, subject}] = true }
	sess := func(rule, subject string) { in.sess[expKey{sk, rule, subject}] = true }
	event := parsed && r.From == trace.Server && env.HasEventSeq
	// withhold: the receiver did not get the message (yet).
	withhold := func() {
		if !parsed {
			return
		}
		if env.HasEventSeq && r.From == trace.Server {
			m := in.withheld[sk]
			if m == nil {
				m = map[int64]bool{}
				in.withheld[sk] = m
			}
			m[env.EventSeq] = true
			sess(RuleEventSeqRegression, seqName(env.EventSeq))
		}
		switch {
		case r.From == trace.Server && env.RequestID != nil && env.Kind() == protocol.RoleReply:
			conn(RuleUnmatchedRequest, string(env.RequestID))
		case r.From == trace.Client && env.TypeString() == "ack" && env.HasSeq:
			conn(RuleUnackedSeq, seqName(env.Seq))
		case r.From == trace.Client && env.IsApprovalResponse():
			sess(RuleUnansweredApproval, string(env.ApprovalRequestID))
		}
	}
	// repeat: the receiver got the message again, or late.
	repeat := func() {
		if !parsed {
			return
		}
		if env.HasSeq && r.From == trace.Server {
			conn(RuleSeqRegression, seqName(env.Seq))
		}
		if env.IdempotencyKey != nil {
			sess(RuleDuplicateKey, string(env.IdempotencyKey))
		}
		if env.HasEventSeq {
			sess(RuleEventSeqRegression, seqName(env.EventSeq))
		}
		if env.RequestID != nil {
			conn(RuleDuplicateRequestID, string(env.RequestID))
			conn(RuleOrphanResponse, string(env.RequestID))
			conn(RuleResponseMismatch, string(env.RequestID))
		}
	}
	// late: the receiver got the message late, after others.
	late := func() {
		repeat()
		if !parsed {
			return
		}
		if env.HasSeq && r.From == trace.Server {
			conn(RuleUnackedSeq, seqName(env.Seq))
		}
		if env.RequestID != nil {
			conn(RuleUnmatchedRequest, string(env.RequestID))
		}
		if r.From == trace.Client && env.TypeString() == "ack" && env.HasSeq {
			conn(RuleUnackedSeq, seqName(env.Seq))
		}
	}
	if f.rec.Action == "after-close" {
		withhold()
		return true
	}
	e.frames++
	f.rep.Want, f.rep.Saw, f.rep.Outcome = "nothing visible on the wire", "-", OutcomeUnobservable
	switch f.rec.Action {
	case "drop":
		withhold()
		f.expectReaction(in, r, &env, parsed, event)
	case "corrupt":
		withhold()
		e.synthetic(r, f, t)
		f.expectReaction(in, r, &env, parsed, event)
	case "duplicate":
		repeat()
		e.frame(r, t, p)
		e.frame(r, t, f.p)
		if parsed && r.From == trace.Server && env.TypeString() == "control_request" && env.RequestID != nil {
			f.approvalID = string(env.RequestID)
			f.rep.Want, f.rep.Outcome = "answer the control_request once (dedupe by idempotency_key)", ""
			in.open = append(in.open, f)
		} else if env.IdempotencyKey != nil {
			f.rep.Want = "dedupe by idempotency_key (not visible on the wire)"
		}
	case "delay", "stall", "reorder":
		late()
		if event {
			m := in.withheld[sk]
			if m == nil {
				m = map[int64]bool{}
				in.withheld[sk] = m
			}
			m[env.EventSeq] = true
		}
		e.frame(r, t, p)
	case "inject":
		e.frame(r, t, p)
		e.synthetic(r, f, t)
		f.rep.Want = "see the findings at the fault's line"
	case "close", "truncate":
		withhold()
		in.closedBy[r.Conn] = f
		in.closes = append(in.closes, f)
		f.wantReopen = true
		f.rep.Want, f.rep.Outcome = "reconnect the "+f.channel+" socket and sync with recover_approvals", ""
		in.open = append(in.open, f)
	default:
		e.frame(r, t, p)
	}
	if len(in.faults) < maxFaults {
		in.faults = append(in.faults, f)
	}
	return true
}

// expectReaction sets what a healthy client does about a message it
// never got.
func (f *injFault) expectReaction(in *injected, r *trace.Record, env *protocol.Envelope, parsed, event bool) {
	switch {
	case event:
		f.wantSync = true
		in.open = append(in.open, f)
		f.rep.Want, f.rep.Outcome = "notice the event_seq gap and sync", ""
	case parsed && r.From == trace.Server && env.RequestID != nil && env.Kind() == protocol.RoleReply:
		f.rep.Want = "time out the reply (its timeout is not visible on the wire)"
	case parsed && r.From == trace.Client && env.TypeString() == "ack":
		f.rep.Want = "the relay redelivers the unacked frame"
	}
}

// synthetic checks the message a fault delivered in the frame's place or
// after it (corrupt, inject), at the fault record's line: findings there
// are the fault's.
func (e *Engine) synthetic(r *trace.Record, f *injFault, t int64) {
	if f.rec.Payload == nil {
		return
	}
	e.inj.lines[lineKey{r.Conn, f.p.line, f.p.file}] = true
	fr := trace.Record{Kind: trace.KindFrame, T: r.T, Conn: r.Conn, From: r.From, Op: trace.OpText,
		Payload: f.rec.Payload, Form: trace.FormOf(trace.OpText, f.rec.Payload)}
	if fr.Form == trace.FormData {
		fr.Form = trace.FormText
	}
	e.frame(&fr, t, f.p)
	if env, err := e.model.Parse(fr.Payload); err == nil && env.RequestID != nil {
		k := expKey{r.Conn, RuleOrphanResponse, string(env.RequestID)}
		e.inj.conn[k] = true
		e.inj.conn[expKey{r.Conn, RuleResponseMismatch, string(env.RequestID)}] = true
	}
}

// injClosed notes the close record of a connection an injected fault
// closed: what its closing reports is the fault's.
func (e *Engine) injClosed(r *trace.Record, p pos) {
	if e.inj == nil {
		return
	}
	if f := e.inj.closedBy[r.Conn]; f != nil {
		e.inj.lines[lineKey{r.Conn, p.line, p.file}] = true
		return
	}
	// A client tears its session down when one of its sockets is closed
	// under it: the session's other sockets it closes before reconnecting
	// (see injClientClose) end with the fault's leftovers too.
	if e.inj.tornDown[r.Conn] {
		delete(e.inj.tornDown, r.Conn)
		e.inj.lines[lineKey{r.Conn, p.line, p.file}] = true
	}
}

// injClientClose notes a client's close frame on a socket of a session
// one of whose sockets an injected fault closed, before the client
// reconnected: the client is tearing the session down.
func (e *Engine) injClientClose(r *trace.Record) {
	s := e.sockets[r.Conn]
	if s == nil {
		return
	}
	for _, f := range e.inj.open {
		if f.wantReopen && f.reopened == "" && f.session == s.id.session && f.rep.Conn != r.Conn {
			e.inj.tornDown[r.Conn] = true
		}
	}
}

// injOpened notes a socket opening: a reconnect after an injected close.
func (e *Engine) injOpened(s *socket) {
	if e.inj == nil {
		return
	}
	for _, f := range e.inj.open {
		if f.wantReopen && f.reopened == "" && s.id.session == f.session && s.id.channel == f.channel && s.id.conn != f.rep.Conn {
			f.reopened = s.id.conn
		}
	}
}

// injServerMessage ends the aftermath of injected closes: the first
// event on a socket of the session opened after the fault.
func (e *Engine) injServerMessage(s *socket, env *protocol.Envelope, p pos) {
	if !env.HasEventSeq {
		return
	}
	for _, c := range e.inj.closes {
		if c.aftermathEnd == 0 && c.session == s.id.session && s.openP.file == c.p.file && s.openP.line > c.p.line {
			c.aftermathEnd = p.line
		}
	}
}

// injClientMessage watches the client's messages for the reactions the
// open faults await: a sync, an approval answer.
func (e *Engine) injClientMessage(s *socket, env *protocol.Envelope, p pos) {
	if e.inj == nil || len(e.inj.open) == 0 {
		return
	}
	typ := env.TypeString()
	kept := e.inj.open[:0]
	for _, f := range e.inj.open {
		switch {
		case f.wantSync && typ == "sync" && s.id.session == f.session:
			f.rep.Saw, f.rep.Outcome, f.done = "sync at "+lineRef(p), OutcomeOK, true
		case f.wantReopen && f.reopened != "" && typ == "sync" && env.RecoverApprovals && s.id.session == f.session:
			f.rep.Saw, f.rep.Outcome, f.done = "reconnected ("+f.reopened+") and synced with recover_approvals at "+lineRef(p), OutcomeOK, true
		case f.approvalID != "" && env.IsApprovalResponse() && string(env.ApprovalRequestID) == f.approvalID:
			f.answers++
		}
		if !f.done {
			kept = append(kept, f)
		}
	}
	clear(e.inj.open[len(kept):])
	e.inj.open = kept
}

// explains reports whether an injected fault explains a finding.
func (in *injected) explains(f *Finding, p pos, related pos) bool {
	if in.lines[lineKey{f.Conn, p.line, p.file}] || related.line != 0 && in.lines[lineKey{f.Conn, related.line, related.file}] {
		return true
	}
	if in.conn[expKey{f.Conn, f.Rule, f.Subject}] {
		return true
	}
	sk := sessKey(f.Session)
	if in.sess[expKey{sk, f.Rule, f.Subject}] {
		return true
	}
	if f.Rule == RuleEventSeqGap || f.Rule == RuleGapWithoutSync {
		// Events lost to an injected close: the device had not sent them
		// when the socket closed, and sync recovers state, not events.
		for _, c := range in.closes {
			// (A gap is declared once its reorder window is over: one just
			// before the fault is declared after it, and counts too.)
			if c.session == f.Session && c.p.file == p.file && (c.aftermathEnd == 0 || p.line <= c.aftermathEnd) {
				return true
			}
		}
	}
	if f.Rule == RuleEventSeqGap || f.Rule == RuleGapWithoutSync {
		a, b, ok := parseGap(f.Subject)
		w := in.withheld[sk]
		if !ok || w == nil || b-a > 1<<16 {
			return false
		}
		// The injected part of a gap is the fault's; what is left at
		// either end is real, and reported as such.
		lo, hi := a, b
		for lo <= hi && w[lo] {
			lo++
		}
		for hi >= lo && w[hi] {
			hi--
		}
		if lo > hi {
			return true
		}
		if lo != a || hi != b {
			f.Subject = gapName(lo, hi)
			f.Message += fmt.Sprintf(" (of which %s is real; the rest was withheld by injected faults)", f.Subject)
		}
	}
	return false
}

func parseGap(s string) (a, b int64, ok bool) {
	x, y, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseInt(x, 10, 64)
	b, err2 := strconv.ParseInt(y, 10, 64)
	return a, b, err1 == nil && err2 == nil && a <= b
}

// finishInjected settles the reactions still awaited as the stream ends
// and keeps the stream's fault reports.
func (e *Engine) finishInjected() {
	if e.inj == nil {
		return
	}
	for _, f := range e.inj.faults {
		if f.rep.Outcome == "" {
			switch {
			case f.approvalID != "" && f.answers <= 1:
				f.rep.Saw, f.rep.Outcome = fmt.Sprintf("answered %d time(s)", f.answers), OutcomeOK
			case f.approvalID != "":
				f.rep.Saw, f.rep.Outcome = fmt.Sprintf("answered %d times", f.answers), OutcomeFailed
			case f.wantReopen && f.reopened != "":
				f.rep.Saw, f.rep.Outcome = "reconnected ("+f.reopened+") but sent no sync with recover_approvals", OutcomeFailed
			case f.wantReopen:
				f.rep.Saw, f.rep.Outcome = "did not reconnect", OutcomeFailed
			case f.wantSync:
				f.rep.Saw, f.rep.Outcome = "no sync", OutcomeFailed
			default:
				f.rep.Outcome = OutcomeUnobservable
			}
		}
		e.faultReports = append(e.faultReports, f.rep)
	}
	e.inj = nil
}

// FaultReports returns the injected faults of the streams finished so far
// (see Finish) and the client's reaction to each, in trace order.
func (e *Engine) FaultReports() []FaultReport { return e.faultReports }

// Expected returns the number of findings an injected fault explains.
func (e *Engine) Expected() int { return e.bySev[Expected] }

func describe(r *trace.Record, env *protocol.Envelope, parsed bool) string {
	if !parsed {
		return fmt.Sprintf("%s frame (%d bytes)", r.Op, r.Size)
	}
	var b strings.Builder
	b.WriteString(env.TypeString())
	if env.HasEventSeq {
		fmt.Fprintf(&b, " event_seq %d", env.EventSeq)
	}
	if env.HasSeq {
		fmt.Fprintf(&b, " seq %d", env.Seq)
	}
	if env.RequestID != nil {
		fmt.Fprintf(&b, " request_id %s", env.RequestID)
	}
	return b.String()
}

// writeFaultReports adds to the text output, for traces with injected
// faults, how many findings they explain and the client's reactions.
func writeFaultReports(w io.Writer, r *Report) {
	if len(r.FaultReports) == 0 {
		return
	}
	by := map[string]int{}
	for _, f := range r.FaultReports {
		by[f.Outcome]++
	}
	fmt.Fprintf(w, "%d injected fault(s): %d finding(s) expected; client reactions: %d ok, %d failed, %d not visible on the wire\n",
		len(r.FaultReports), r.Expected, by[OutcomeOK], by[OutcomeFailed], by[OutcomeUnobservable])
	for _, f := range r.FaultReports {
		if f.Outcome == OutcomeFailed {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
}
