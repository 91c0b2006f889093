package analysis

import (
	"fmt"
	"slices"
	"strings"
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

	inj          *injected // injected faults of this stream (injected.go)
	faultReports []FaultReport

	disabled  map[string]bool
	counts    map[string]int
	bySev     [5]int
	findings  []Finding
	dropped   int
	records   int64
	frames    int64
	maxActive int

	// what was not judged (undetermined.go)
	undets     []*undet
	undetBy    map[string]*undet
	lostConn   map[string]bool
	lostSess   map[sessionKey]bool
	suppressed int
	cutWhy     string // why the stream ends (Cut), for the next Finish
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
func (e *Engine) Write(r *trace.Record) error { return e.WriteAt(r, r.Line) }

// WriteAt is Write for a record whose line is known but not set in it (a
// record shared with other sinks, which none may modify).
func (e *Engine) WriteAt(r *trace.Record, line int64) error {
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
	p := pos{line, e.file}
	switch r.Kind {
	case trace.KindOpen:
		e.open(r, t, p)
	case trace.KindFrame:
		if e.inj != nil && e.faultedFrame(r, t, p) {
			break
		}
		e.frames++
		e.frame(r, t, p)
	case trace.KindFault:
		e.noteFault(r, t, p)
	case trace.KindClose:
		e.injClosed(r, p)
		if s := e.sockets[r.Conn]; s != nil {
			cut := ""
			if r.By == trace.Proxy {
				cut = proxyClosed(r)
			}
			e.closeSocket(s, t, p, cut)
		}
	case trace.KindError:
		if !strings.HasPrefix(r.Message, fellBehind) {
			e.frameError(r, t, p)
		}
	case trace.KindLoss:
		e.loss(r, t, p)
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
		why := "the trace ends with the connection open"
		if e.cutWhy != "" {
			why += " (" + e.cutWhy + ")"
		}
		// Closing and releasing compact these lists: walk copies.
		for _, s := range slices.Clone(e.order) {
			if !s.dead {
				e.closeSocket(s, e.now, pos{}, why)
			}
		}
		for _, ss := range slices.Clone(e.sessList) {
			if !ss.dead {
				e.releaseSession(ss, e.now, true)
			}
		}
	}
	e.flushUndetermined()
	e.lostConn, e.lostSess, e.cutWhy = nil, nil, ""
	e.finishInjected()
	e.reset()
}

// Cut tells the engine that the stream it is checking was cut (why says
// where, e.g. "file cut at byte 5120"): the next Finish names it in the
// undetermined notes of the connections still open.
func (e *Engine) Cut(why string) { e.cutWhy = why }

// fellBehind starts the message of the error records a proxy writes when
// recording fell behind (they say nothing about the protocol).
const fellBehind = "recording fell behind"

// proxyClosed says why a connection the proxy closed leaves things
// undetermined.
func proxyClosed(r *trace.Record) string {
	s := "the proxy closed the connection"
	if r.Code != 0 || r.Reason != "" {
		s += fmt.Sprintf(" (%d %s)", r.Code, r.Reason)
	}
	return s
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

// Notes returns the number of findings of severity Note (undetermined).
func (e *Engine) Notes() int { return e.bySev[Note] }

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
	// Suppressed counts findings not reported because records of their
	// connection or session were lost (loss records).
	Suppressed int
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Records: e.records, Frames: e.frames, Sockets: len(e.sockets), Sessions: len(e.sessions),
		MaxSockets: e.maxActive, Dropped: e.dropped, Suppressed: e.suppressed}
}

var timeZero time.Time
