package replay

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/protocol"
)

// Mode is how a replay paces the frames it sends.
type Mode uint8

// Modes.
const (
	// Reactive sends each recorded frame once the peer has sent the frames
	// that came before it in the recording (the default).
	Reactive Mode = iota
	// Timed sends frames with the recorded gaps between them, scaled by
	// Options.Speed, without waiting for the peer's frames.
	Timed
	// Fast sends frames as fast as the peer reads them, without waiting
	// for the peer's frames.
	Fast
)

func (m Mode) String() string {
	switch m {
	case Reactive:
		return "reactive"
	case Timed:
		return "timed"
	case Fast:
		return "fast"
	}
	return fmt.Sprintf("mode(%d)", m)
}

// ParseMode accepts "reactive" (or ""), "timed" and "fast".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "reactive":
		return Reactive, nil
	case "timed":
		return Timed, nil
	case "fast":
		return Fast, nil
	}
	return 0, fmt.Errorf("replay: unknown mode %q (want reactive, timed or fast)", s)
}

// Options configure a Server or Drive. The zero value is usable.
type Options struct {
	// Model is the protocol model the recording is read with (default
	// protocol.DefaultModel): message types, their roles and replies.
	Model *protocol.Model

	// Mode paces the frames the replay sends (default Reactive). Drive
	// always waits for the live server's frames; Timed adds the recorded
	// gaps between the client's frames.
	Mode Mode
	// Speed scales recorded gaps in Timed mode: 2 plays twice as fast
	// (default 1).
	Speed float64

	// Session selects the sessions to replay: a session number (1-based,
	// recorded order), a session key "connectionId/agentId/conversationId",
	// or a connectionId. Empty selects every session.
	Session string
	// Conn selects the session holding the recorded connection with this
	// trace id (the records' "conn", such as "s3").
	Conn string

	// Timeout bounds each wait for the peer: for a frame the recording
	// needs before the next one can be sent, for a socket of the session
	// to connect, for a write (default 10s). When it passes, the awaited
	// frame is reported missing and the replay goes on.
	Timeout time.Duration
	// Linger is how long a replay leaves a socket open once the recording
	// has the peer closing it, or once the recording is over, before
	// closing it itself (default 2s; negative waits for the peer).
	Linger time.Duration

	// MaxSessions stops a Server after serving this many sessions (0 means
	// no limit); the CLI's -once is MaxSessions 1.
	MaxSessions int
	// Repeat serves the selected sessions again from the first once the
	// last one has been served. Without it, later connections are refused
	// (410 Gone) and Done is closed when every session has finished.
	Repeat bool

	// Lookahead is how many recorded frames of the peer a received frame
	// may skip to find its match before it counts as unexpected
	// (default 32).
	Lookahead int
	// MaxEntries bounds the entries each list of a session's report holds;
	// counts stay exact (default 10000).
	MaxEntries int
	// RequireAcks makes frames with a transport seq that the client never
	// acknowledged a divergence (Server only). Acks for seqs that were
	// never sent are always one.
	RequireAcks bool

	// TypesOnly makes Drive compare the live server's frames by type only;
	// by default their contents are compared too, ignoring volatile fields.
	TypesOnly bool
	// Volatile adds what Drive ignores when comparing contents: member
	// names (ignored at any depth) and JSON paths from the top of the
	// message ("device_status.uptime", "$.a.b", "entries[*].id",
	// "entries[0].id"; see ParseIgnore), to request_id, seq, event_seq,
	// idempotency_key, emitted_at, timestamp, date, pid, lastModified and
	// every *_at.
	Volatile []string
	// Header is sent with Drive's WebSocket handshakes (e.g. an
	// Authorization header for a live relay).
	Header http.Header

	// Logf, if set, receives progress and divergence messages. URLs in
	// them never include query tokens.
	Logf func(format string, args ...any)
	// OnDivergence, if set, is called as each divergence is found, from
	// the goroutine replaying the session.
	OnDivergence func(Entry)
	// OnSessionDone, if set, is called when a session's replay ends.
	OnSessionDone func(SessionReport)
}

const (
	defaultTimeout    = 10 * time.Second
	defaultLinger     = 2 * time.Second
	defaultLookahead  = 32
	defaultMaxEntries = 10000
)

func (o Options) withDefaults() Options {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Linger == 0 {
		o.Linger = defaultLinger
	}
	if o.Lookahead <= 0 {
		o.Lookahead = defaultLookahead
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = defaultMaxEntries
	}
	return o
}

func (o *Options) model() *protocol.Model {
	if o.Model != nil {
		return o.Model
	}
	return protocol.DefaultModel
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}
