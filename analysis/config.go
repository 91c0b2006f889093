package analysis

import (
	"time"

	"github.com/lettadev/wsproxy/protocol"
)

// Config holds the checker's timeouts, windows and outputs. The zero
// value of a field means its default (see DefaultConfig).
type Config struct {
	// Model is the protocol model (default protocol.DefaultModel).
	Model *protocol.Model

	// AckTimeout bounds the time from a server frame with a transport seq
	// to the client's ack on the same socket (default 10s).
	AckTimeout time.Duration
	// ResponseTimeout bounds the time from a command to its reply
	// (default 30s).
	ResponseTimeout time.Duration
	// SyncTimeout bounds the time from an event_seq gap to the client's
	// sync (default 10s).
	SyncTimeout time.Duration
	// Heartbeat is the client's ping interval and HeartbeatSlack the
	// tolerance on top of it (defaults 30s and 5s; a negative slack means
	// none).
	Heartbeat      time.Duration
	HeartbeatSlack time.Duration
	// PongTimeout bounds the time from a ping to its pong (default 10s).
	PongTimeout time.Duration

	// ReorderEvents and ReorderWindow bound how long a missing event_seq
	// may still arrive (on another socket of the session) before it is a
	// gap: the missing value is a gap once ReorderEvents events of the
	// session or ReorderWindow of record time have passed since the first
	// event beyond it arrived (defaults 64 and 1s).
	ReorderEvents int
	ReorderWindow time.Duration

	// KeyWindow is how many recent idempotency keys a session remembers
	// for duplicate detection (default 8192, about 400 KiB per busy
	// session). A key delivered again further back than that is not seen
	// as a duplicate.
	KeyWindow int
	// RequestIDWindow is how many recent request_ids (and terminal ids) a
	// socket remembers for duplicate-request-id and late replies (default
	// 4096).
	RequestIDWindow int
	// AttachCommands is how many first commands of a socket must include
	// a sync with recover_approvals (default 3).
	AttachCommands int
	// SessionLinger is how long a session's state (event counter, keys,
	// approvals) is kept after its last socket closed, for a reconnect
	// under the same connection id to continue it (default 2m).
	SessionLinger time.Duration

	// Disable lists rule ids not to report.
	Disable []string

	// OnFinding, when set, is called with every finding as it is found,
	// from the goroutine calling Write, Advance or Finish. It must not call
	// the engine.
	OnFinding func(Finding)
	// Collect keeps findings for Findings. MaxCollected bounds how many
	// are kept (0: no bound); Counts stay exact.
	Collect      bool
	MaxCollected int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Model:           protocol.DefaultModel,
		AckTimeout:      10 * time.Second,
		ResponseTimeout: 30 * time.Second,
		SyncTimeout:     10 * time.Second,
		Heartbeat:       30 * time.Second,
		HeartbeatSlack:  5 * time.Second,
		PongTimeout:     10 * time.Second,
		ReorderEvents:   64,
		ReorderWindow:   time.Second,
		KeyWindow:       8192,
		RequestIDWindow: 4096,
		AttachCommands:  3,
		SessionLinger:   2 * time.Minute,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Model == nil {
		c.Model = d.Model
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	dur(&c.AckTimeout, d.AckTimeout)
	dur(&c.ResponseTimeout, d.ResponseTimeout)
	dur(&c.SyncTimeout, d.SyncTimeout)
	dur(&c.Heartbeat, d.Heartbeat)
	if c.HeartbeatSlack < 0 {
		c.HeartbeatSlack = 0
	} else if c.HeartbeatSlack == 0 {
		c.HeartbeatSlack = d.HeartbeatSlack
	}
	dur(&c.PongTimeout, d.PongTimeout)
	dur(&c.ReorderWindow, d.ReorderWindow)
	dur(&c.SessionLinger, d.SessionLinger)
	num := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	num(&c.ReorderEvents, d.ReorderEvents)
	num(&c.KeyWindow, d.KeyWindow)
	num(&c.RequestIDWindow, d.RequestIDWindow)
	num(&c.AttachCommands, d.AttachCommands)
	return c
}
