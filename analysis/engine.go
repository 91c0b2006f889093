package analysis

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Engine checks a stream of trace records against the protocol's
// invariants. It is sans-IO: records go in through Write (it is a
// trace.Sink), time moves on through the records' T and through Advance,
// and findings come out through Config.OnFinding and Findings. It never
// reads the wall clock, so a trace always gives the same findings.
//
// An Engine is not safe for concurrent use; see Locked. Its memory is
// bounded by the outstanding state of open sockets and sessions (pending
// requests, unacked seqs, recent idempotency keys in a bounded window),
// not by the length of the stream.
type Engine struct {
	cfg     Config
	model   *protocol.Model
	env     protocol.Envelope
	payload []byte // the frame being checked

	// durations in nanoseconds
	ackTO, respTO, syncTO, hbLimit, pongTO, reorderWin int64

	files []string
	file  int32

	now     int64 // latest record time seen (ns since the epoch)
	started bool
	timers  timers

	sockets  map[string]*socket
	cache    [2]*socket
	order    []*socket // open order, for deterministic finishing
	sessions map[sessionKey]*session
	sessList []*session
	ordinals map[ordinalKey]int

	replyByTerminal map[*protocol.TypeInfo]bool
	startsReplies   map[*protocol.TypeInfo][]string

	disabled  map[string]bool
	counts    map[string]int
	bySev     [3]int
	findings  []Finding
	dropped   int
	records   int64
	frames    int64
	maxActive int
}

type sessionKey struct {
	s   protocol.Session
	own string // the socket's conn, for sockets without session info
}

type ordinalKey struct{ connectionID, channel string }

// pos is where a record is: a line of one of the engine's files.
type pos struct {
	line int64
	file int32
}

// New returns an engine with cfg (zero fields take their defaults).
func New(cfg Config) *Engine {
	cfg = cfg.withDefaults()
	e := &Engine{
		cfg:        cfg,
		model:      cfg.Model,
		ackTO:      int64(cfg.AckTimeout),
		respTO:     int64(cfg.ResponseTimeout),
		syncTO:     int64(cfg.SyncTimeout),
		hbLimit:    int64(cfg.Heartbeat + cfg.HeartbeatSlack),
		pongTO:     int64(cfg.PongTimeout),
		reorderWin: int64(cfg.ReorderWindow),
		files:      []string{""},
		counts:     map[string]int{},
		disabled:   map[string]bool{},
	}
	for _, id := range cfg.Disable {
		e.disabled[id] = true
	}
	e.replyByTerminal = map[*protocol.TypeInfo]bool{}
	e.startsReplies = map[*protocol.TypeInfo][]string{}
	for _, t := range e.model.Types() {
		if t.Role == protocol.RoleReply {
			for _, c := range t.ReplyTo {
				if ci := e.model.Lookup(c); ci != nil && ci.Correlate == protocol.ByTerminalID {
					e.replyByTerminal[t] = true
				}
			}
		}
		if t.Role == protocol.RoleCommand {
			for _, s := range t.Starts {
				if si := e.model.Lookup(s); si != nil && si.Role == protocol.RoleReply {
					e.startsReplies[t] = append(e.startsReplies[t], s)
				}
			}
		}
	}
	e.reset()
	return e
}

func (e *Engine) reset() {
	e.sockets = map[string]*socket{}
	e.sessions = map[sessionKey]*session{}
	e.ordinals = map[ordinalKey]int{}
	e.order, e.sessList = nil, nil
	e.cache = [2]*socket{}
	e.timers = nil
	e.started = false
}

// Config returns the engine's configuration, defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// SetFile names the file the following records come from (their Line is
// a line of it). Findings carry it. Consecutive rotated parts of one run
// are one stream: call SetFile at each part and keep writing.
func (e *Engine) SetFile(name string) {
	for i, f := range e.files {
		if f == name {
			e.file = int32(i)
			return
		}
	}
	e.files = append(e.files, name)
	e.file = int32(len(e.files) - 1)
}

// Write checks one record. It never fails; the error is for trace.Sink.
// Records should come in the order they were recorded; their T drives
// every timeout.
func (e *Engine) Write(r *trace.Record) error {
	e.records++
	t := e.now
	if !r.T.IsZero() {
		t = r.T.UnixNano()
	}
	if !e.started {
		e.started, e.now = true, t
	} else if t > e.now {
		e.now = t
	}
	p := pos{r.Line, e.file}
	switch r.Kind {
	case trace.KindOpen:
		e.open(r, t, p)
	case trace.KindFrame:
		e.frames++
		e.frame(r, t, p)
	case trace.KindClose:
		if s := e.sockets[r.Conn]; s != nil {
			e.closeSocket(s, t, p, true)
		}
	case trace.KindError:
		e.frameError(r, t, p)
	}
	if e.now >= e.timers.next() {
		e.timers.fire(e, e.now)
	}
	return nil
}

// Advance moves the engine's clock to now (if later than the last record)
// and fires the timeouts due by then. A live proxy calls it on a ticker so
// that a silent peer is reported without waiting for the next record; now
// should be on the same clock as the records' T.
func (e *Engine) Advance(now time.Time) {
	t := now.UnixNano()
	if !e.started {
		return
	}
	if t > e.now {
		e.now = t
	}
	e.timers.fire(e, e.now)
}

// Finish ends the stream at end (the time of its last record when zero):
// it fires what is due, then reports what is still outstanding on every
// open socket and session (unacked seqs, unanswered requests and
// approvals, silent sockets, missing events) and releases all state. The
// engine can then check another stream; counts and collected findings
// accumulate.
func (e *Engine) Finish(end time.Time) {
	if e.started {
		if !end.IsZero() && end.UnixNano() > e.now {
			e.now = end.UnixNano()
		}
		e.timers.fire(e, e.now)
		// Closing and releasing compact these lists: walk copies.
		for _, s := range slices.Clone(e.order) {
			if !s.dead {
				e.closeSocket(s, e.now, pos{}, false)
			}
		}
		for _, ss := range slices.Clone(e.sessList) {
			if !ss.dead {
				e.releaseSession(ss, e.now, true)
			}
		}
	}
	e.reset()
}

// Findings returns the collected findings (Config.Collect), in the order
// they were found.
func (e *Engine) Findings() []Finding { return e.findings }

// Counts returns the number of findings per rule id (all findings, also
// those not collected).
func (e *Engine) Counts() map[string]int {
	out := make(map[string]int, len(e.counts))
	for k, v := range e.counts {
		out[k] = v
	}
	return out
}

// Errors returns the number of findings of severity Error.
func (e *Engine) Errors() int { return e.bySev[Error] }

// Warnings returns the number of findings of severity Warning.
func (e *Engine) Warnings() int { return e.bySev[Warning] }

// Stats are an engine's counters.
type Stats struct {
	Records, Frames int64
	// Sockets and Sessions are the ones currently held; MaxSockets the
	// most sockets held at once.
	Sockets, Sessions, MaxSockets int
	// Dropped counts findings not collected because of MaxCollected.
	Dropped int
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Records: e.records, Frames: e.frames, Sockets: len(e.sockets), Sessions: len(e.sessions),
		MaxSockets: e.maxActive, Dropped: e.dropped}
}

// ---- dispatch ----

func (e *Engine) open(r *trace.Record, t int64, p pos) {
	if old := e.sockets[r.Conn]; old != nil {
		e.closeSocket(old, t, p, true)
	}
	var info protocol.Session
	if r.Open != nil {
		info = r.Open.Session
		if info == (protocol.Session{}) && r.Open.URL != "" {
			info = protocol.SessionFromURL(r.Open.URL)
		}
	}
	e.newSocket(r.Conn, info, t, p)
}

// socket returns the socket of conn, creating one without session info
// for a connection whose open record is not in the stream.
func (e *Engine) socket(conn string, t int64, p pos) *socket {
	if s := e.cache[0]; s != nil && s.id.conn == conn {
		return s
	}
	if s := e.cache[1]; s != nil && s.id.conn == conn {
		e.cache[0], e.cache[1] = s, e.cache[0]
		return s
	}
	s := e.sockets[conn]
	if s == nil {
		s = e.newSocket(conn, protocol.Session{}, t, p)
	}
	e.cache[1], e.cache[0] = e.cache[0], s
	return s
}

func (e *Engine) frame(r *trace.Record, t int64, p pos) {
	s := e.socket(r.Conn, t, p)
	switch r.Op {
	case trace.OpText, "":
		if err := e.model.ParseInto(&e.env, r.Payload); err != nil ||
			(r.Form != trace.FormMsg && r.Op == trace.OpText && !r.IsJSONObject()) {
			e.report(RuleInvalidJSON, Warning, &s.id, p, t, pos{}, "",
				fmt.Sprintf("text frame from %s is not a JSON object (%s)", sideName(r.From), snippet(r.Payload)))
			return
		}
		e.payload = r.Payload
		e.message(s, r.From, t, p)
		e.payload = nil
	case trace.OpBinary:
		e.report(RuleBinaryFrame, Warning, &s.id, p, t, pos{}, "",
			fmt.Sprintf("binary frame from %s (%d bytes)", sideName(r.From), len(r.Payload)))
	case trace.OpPing:
		s.wsPing(e, r.From, t, p)
	case trace.OpPong:
		s.wsPong(e, r.From, t, p)
	}
}

func (e *Engine) frameError(r *trace.Record, t int64, p pos) {
	var id *ident
	if s := e.sockets[r.Conn]; s != nil {
		id = &s.id
	} else {
		id = &ident{conn: r.Conn}
	}
	msg := r.Message
	if msg == "" {
		msg = "error record with no message"
	}
	e.report(RuleFrameError, Warning, id, p, t, pos{}, "", msg)
}

// message checks one JSON message whose envelope is in e.env.
func (e *Engine) message(s *socket, from trace.Side, t int64, p pos) {
	env := &e.env
	info := env.Info
	if env.Type == nil {
		e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "type",
			fmt.Sprintf("message from %s has no type", sideName(from)))
	} else if info == nil {
		name := string(env.Type)
		e.report(RuleUnknownType, Warning, &s.id, p, t, pos{}, name,
			fmt.Sprintf("type %q from %s is not in the protocol model", name, sideName(from)))
	}
	switch from {
	case trace.Server:
		e.serverMessage(s, info, t, p)
	case trace.Client:
		e.clientMessage(s, info, t, p)
	}
}

func (e *Engine) serverMessage(s *socket, info *protocol.TypeInfo, t int64, p pos) {
	env := &e.env
	if env.HasSeq {
		s.serverSeq(e, env.Seq, info, t, p)
	}
	if info == nil {
		return
	}
	ss := s.sess
	switch info.Role {
	case protocol.RoleTransport:
		switch info.Name {
		case "ping":
			ss.devicePing(e, s, t, p)
		case "pong":
			s.serverPong(e, t, p)
		}
		return
	case protocol.RoleReply:
		s.reply(e, info, t, p)
	case protocol.RoleEvent, protocol.RoleDeviceRequest:
		if info.Envelope && !env.HasEventSeq {
			e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "event_seq",
				fmt.Sprintf("%s has no event_seq (it should carry the device envelope)", info.Name))
		}
		if env.RequestID != nil && (info.Name == "error" || info.Name == "run_request_error") {
			s.settleByError(e, info, t, p)
		}
	}
	redelivery := false
	if env.IdempotencyKey != nil {
		redelivery = ss.checkKey(e, s, info, t, p)
	}
	if env.HasEventSeq && !redelivery {
		ss.event(e, s, info, t, p)
	}
	if info.Role == protocol.RoleDeviceRequest {
		ss.deviceRequest(e, s, info, t, p)
	}
}

func (e *Engine) clientMessage(s *socket, info *protocol.TypeInfo, t int64, p pos) {
	if info == nil {
		return
	}
	env := &e.env
	switch info.Role {
	case protocol.RoleTransport:
		switch info.Name {
		case "ack":
			if !env.HasSeq {
				e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "seq", "ack has no integer seq")
				return
			}
			s.ack(e, env.Seq, t, p)
		case "ping":
			s.clientPing(e, t, p)
		case "pong":
			s.sess.clientPong(e, t, p)
		}
	case protocol.RoleCommand:
		s.command(e, info, t, p)
	}
}

// ---- findings ----

// report records one finding about the record at p on the socket id.
func (e *Engine) report(rule string, sev Severity, id *ident, p pos, t int64, related pos, subject, msg string) {
	if e.disabled[rule] {
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

// ---- helpers ----

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

var timeZero time.Time
