package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/lettadev/wsproxy/faults"
)

// Fault is one injected fault, reported as ground truth by Server.Faults.
// It is the shared type of package faults.
type Fault = faults.Fault

// Knob names used in Fault.Knob by the simulator.
const (
	KnobGap        = "gap"
	KnobDuplicate  = "duplicate"
	KnobAltered    = "duplicate-altered"
	KnobUnanswered = "unanswered"
	KnobOrphan     = "orphan"
	KnobDelay      = "delay"
	KnobDrop       = "drop"
)

// Faults are the simulator's fault knobs. Every knob is off at its zero
// value. "Every N" knobs count per environment connection and pick every
// N-th item starting at an offset drawn from Server.Seed, so the same
// seed and the same traffic give the same faults.
//
// Server.Faults reports each injected fault once, as ground truth (Socket
// is the 1-based ordinal among the sockets of that connectionId and
// channel, in accept order):
//
//   - gap: Rule event-seq-gap, Subject "A-B" (the inclusive range of
//     event_seq values never sent); Channel/Socket name the socket that
//     got the next event (where the gap shows).
//   - duplicate, duplicate-altered: Rule duplicate-idempotency-key,
//     Subject the key, one fault per socket the copy went to.
//   - unanswered: Rule unmatched-request, Subject the request_id, the
//     socket that sent the request.
//   - orphan: Rule orphan-response, Subject the invented request_id, the
//     socket it went to.
//   - delay: Subject the request_id; Rule "" when Delay < Timeout,
//     unmatched-request otherwise.
//   - drop: Rule "", the dropped socket. Should a request arrive on it
//     after the drop (it is not carried out), it is reported as well:
//     Knob drop, Rule unmatched-request, Subject its request_id.
type Faults struct {
	// GapEvery skips event_seq values before every GapEvery-th event of
	// a connection (never before its first event, never for an event no
	// socket receives).
	GapEvery int
	// GapSize is the largest number of values one gap skips (default 1);
	// each gap skips 1..GapSize values, chosen by the seed.
	GapSize int
	// DuplicateEvery re-sends every DuplicateEvery-th event, byte for byte
	// (a new transport seq), right after the original on the same sockets.
	DuplicateEvery int
	// AlterEvery re-sends every AlterEvery-th event with the same
	// idempotency_key and event_seq but a different payload.
	AlterEvery int
	// UnansweredEvery leaves every UnansweredEvery-th request unanswered:
	// the command is carried out but its reply is never sent. Requests are
	// commands with a request_id whose reply is matched by request_id and
	// is not optional (protocol.TypeInfo).
	UnansweredEvery int
	// UnansweredTypes leaves every request of these command types
	// unanswered.
	UnansweredTypes []string
	// OrphanEvery follows every OrphanEvery-th reply with a copy carrying a
	// request_id nobody sent ("orphan-…").
	OrphanEvery int
	// DelayEvery delays every DelayEvery-th reply by Delay.
	DelayEvery int
	Delay      time.Duration
	// Timeout is the reply timeout the checker applies (default 10 s): a
	// delayed reply arriving at or after it is reported as
	// unmatched-request, one arriving before it as no finding.
	Timeout time.Duration
	// DropAfterFrames drops a socket abruptly (TCP half-close, no close
	// frame) once it has been sent at least this many sequenced frames, at
	// the first quiet point: every frame sent on the sockets of its
	// session acked up to the last one, no reply owed, the runtime idle,
	// and no frame received from the session for QuietFor.
	DropAfterFrames int
	// DropMax bounds the number of drops per server (default 1 when
	// DropAfterFrames is set).
	DropMax int
	// QuietFor is the silence a drop waits for (default 25 ms).
	QuietFor time.Duration
}

func (f *Faults) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return 10 * time.Second
}

func (f *Faults) quietFor() time.Duration {
	if f.QuietFor > 0 {
		return f.QuietFor
	}
	return 25 * time.Millisecond
}

func (f *Faults) dropMax() int {
	if f.DropMax > 0 {
		return f.DropMax
	}
	return 1
}

// picker selects every n-th item starting at a seeded offset.
type picker struct {
	n, off, count int
}

func newPicker(n int, next func(int) int) picker {
	p := picker{n: n}
	if n > 0 {
		p.off = next(n)
	}
	return p
}

// pick counts one item and reports whether it is selected.
func (p *picker) pick() bool {
	if p.n <= 0 {
		return false
	}
	p.count++
	return p.count%p.n == p.off
}

// faultState holds one environment's knob counters.
type faultState struct {
	gap, dup, alt, unanswered, orphan, delay picker
}

func newFaultState(f *Faults, next func(int) int) faultState {
	return faultState{
		gap:        newPicker(f.GapEvery, next),
		dup:        newPicker(f.DuplicateEvery, next),
		alt:        newPicker(f.AlterEvery, next),
		unanswered: newPicker(f.UnansweredEvery, next),
		orphan:     newPicker(f.OrphanEvery, next),
		delay:      newPicker(f.DelayEvery, next),
	}
}

// record appends ground truth.
func (s *Server) record(f Fault) {
	s.fmu.Lock()
	s.faults = append(s.faults, f)
	s.fmu.Unlock()
	s.logf("sim: fault %s", f)
}

// Faults returns every fault injected so far, in injection order.
func (s *Server) Faults() []Fault {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return slices.Clone(s.faults)
}

// replyEligible reports whether reply, answering c, is a request's
// matched reply: the reply faults (unanswered, delay, orphan) apply only
// to those.
func replyEligible(c *command, reply string) bool {
	if !c.hasRequestID || c.info == nil {
		return false
	}
	return c.info.NeedsReply() && c.info.Accepts(reply)
}

func gapSubject(a, b int64) string { return fmt.Sprintf("%d-%d", a, b) }
