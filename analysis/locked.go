package analysis

import (
	"sync"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// Locked wraps an Engine for use from several goroutines (a live proxy's
// connection goroutines and a ticker calling Advance). Every method holds
// one mutex; Config.OnFinding runs under it and must not call back into
// the engine. Records should still be written in the order their T says:
// the mutex orders them, not the clock.
type Locked struct {
	mu sync.Mutex
	e  *Engine
}

// NewLocked wraps e.
func NewLocked(e *Engine) *Locked { return &Locked{e: e} }

// Write checks one record (see Engine.Write).
func (l *Locked) Write(r *trace.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.e.Write(r)
}

// Advance fires the timeouts due at now (see Engine.Advance).
func (l *Locked) Advance(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.e.Advance(now)
}

// Finish ends the stream (see Engine.Finish).
func (l *Locked) Finish(end time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.e.Finish(end)
}

// Findings returns a copy of the collected findings.
func (l *Locked) Findings() []Finding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Finding(nil), l.e.findings...)
}

// Counts returns the number of findings per rule.
func (l *Locked) Counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.e.Counts()
}

var _ trace.Sink = (*Locked)(nil)
var _ trace.Sink = (*Engine)(nil)
