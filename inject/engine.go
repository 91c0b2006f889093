package inject

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/internal/jsonscan"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// MaxRules bounds the rules of one engine.
const MaxRules = 64

// Options configure an Engine.
type Options struct {
	// Seed makes the random choices (p=) of a run repeatable.
	Seed uint64
	// Dir resolves relative inject=FILE paths (default: the working
	// directory; -faults FILE uses the file's directory).
	Dir string
	// Model is the protocol model (default protocol.DefaultModel).
	Model *protocol.Model
}

// Engine decides the fate of messages for every connection of a proxy.
// It is safe for concurrent use; each connection gets a Conn.
type Engine struct {
	rules    []*Rule
	inject   [][]byte // inject=FILE messages, by rule
	seed     uint64
	model    *protocol.Model
	faults   []atomic.Int64 // per rule
	mu       sync.Mutex
	ordinals map[string]int // connections opened per channel
	// types, when every rule names a type (and none needs reply-to
	// tracking), are those types: a message of another type matches no
	// rule, and is not parsed (see mayMatchType).
	types map[string]bool
}

// New checks rules and reads their inject files (each must hold one JSON
// object).
func New(rules []*Rule, o Options) (*Engine, error) {
	if len(rules) > MaxRules {
		return nil, fmt.Errorf("inject: %d rules, at most %d", len(rules), MaxRules)
	}
	if o.Model == nil {
		o.Model = protocol.DefaultModel
	}
	e := &Engine{rules: rules, seed: o.Seed, model: o.Model, inject: make([][]byte, len(rules)),
		faults: make([]atomic.Int64, len(rules)), ordinals: map[string]int{}}
	for i, r := range rules {
		if r.Action != Inject {
			continue
		}
		path := r.File
		if !filepath.IsAbs(path) && o.Dir != "" {
			path = filepath.Join(o.Dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("fault rule %q: inject=%s: %w", r.Text, r.File, err)
		}
		b = trimSpace(b)
		if len(b) == 0 || b[0] != '{' || !jsonscan.Valid(b) {
			return nil, fmt.Errorf("fault rule %q: inject=%s: %s does not hold one JSON object", r.Text, r.File, path)
		}
		for _, c := range b {
			if c == '\n' || c == '\r' {
				return nil, fmt.Errorf("fault rule %q: inject=%s: the JSON object must be on one line", r.Text, r.File)
			}
		}
		e.inject[i] = b
	}
	for _, r := range rules {
		if r.Type == "" || r.ReplyTo != "" {
			e.types = nil
			break
		}
		if e.types == nil {
			e.types = map[string]bool{}
		}
		e.types[r.Type] = true
	}
	return e, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// Rules returns the engine's rules.
func (e *Engine) Rules() []*Rule { return e.rules }

// AltersMessages reports whether a rule drops, adds, alters or reorders
// messages (see Action.AltersMessages): the proxy then declines
// permessage-deflate in the handshake.
func (e *Engine) AltersMessages() bool {
	for _, r := range e.rules {
		if r.Action.AltersMessages() {
			return true
		}
	}
	return false
}

// RuleStat is how many faults a rule injected.
type RuleStat struct {
	Rule   *Rule
	Faults int64
}

// Stats returns the faults injected so far, per rule, in rule order.
func (e *Engine) Stats() []RuleStat {
	out := make([]RuleStat, len(e.rules))
	for i, r := range e.rules {
		out[i] = RuleStat{Rule: r, Faults: e.faults[i].Load()}
	}
	return out
}

// Conn is the engine's state for one connection: counters and random
// streams per rule and direction, and the commands awaiting replies.
type Conn struct {
	e       *Engine
	channel string
	start   time.Time
	dirs    [2][]ruleState // client, server

	mu      sync.Mutex
	pending map[string]string // request_id -> command type, sent by the client
}

type ruleState struct {
	matched int64
	fired   int
	rng     *rand.Rand
}

// maxPending bounds the commands remembered for reply-to matches.
const maxPending = 4096

// Open starts a connection opened at start whose URL (path and query) is
// url. Connections are told apart by their channel and how many
// connections of that channel opened before, so that the random streams
// do not depend on which of two sockets opened first.
func (e *Engine) Open(url string, start time.Time) *Conn {
	ch := protocol.SessionFromURL(url).Channel
	e.mu.Lock()
	e.ordinals[ch]++
	ord := e.ordinals[ch]
	e.mu.Unlock()
	c := &Conn{e: e, channel: ch, start: start, pending: map[string]string{}}
	for d := range c.dirs {
		c.dirs[d] = make([]ruleState, len(e.rules))
		for i := range e.rules {
			h := fnv.New64a()
			fmt.Fprintf(h, "%d|%s|%d|%d", i, ch, ord, d)
			c.dirs[d][i].rng = rand.New(rand.NewPCG(e.seed, h.Sum64()))
		}
	}
	return c
}

// Verdict is the engine's decision about one message.
type Verdict struct {
	// Rule is the rule that fires (nil: deliver the message untouched)
	// and Index its position among the engine's rules.
	Rule  *Rule
	Index int
	// Payload is the message delivered instead (corrupt) or after it
	// (inject).
	Payload []byte
	// Matched has bit i set when the message matched rule i's matches
	// (before its rate): reorder holds count those.
	Matched uint64
}

// Decide decides what happens to a message sent by from, recorded as rec
// (a frame record), seen at now. Control frames always pass. Each
// direction's messages must be decided in order, by one goroutine at a
// time; the two directions may be decided in parallel.
func (c *Conn) Decide(from trace.Side, rec *trace.Record, now time.Time) Verdict {
	var v Verdict
	if rec.Kind != trace.KindFrame || (rec.Op != trace.OpText && rec.Op != trace.OpBinary) {
		return v
	}
	if e := c.e; e.types != nil && !e.mayMatchType(rec.Payload) {
		return v
	}
	d := 0
	if from == trace.Server {
		d = 1
	}
	var env protocol.Envelope
	parsed := rec.Op == trace.OpText && c.e.model.ParseInto(&env, rec.Payload) == nil
	typ := ""
	if parsed {
		typ = env.TypeString()
	}
	var replyTo string
	if parsed && env.RequestID != nil {
		rid := string(env.RequestID)
		c.mu.Lock()
		if from == trace.Client && env.Kind() == protocol.RoleCommand {
			if len(c.pending) < maxPending {
				c.pending[rid] = typ
			}
		} else if from == trace.Server {
			replyTo = c.pending[rid]
			if env.Kind() == protocol.RoleReply && replyTo != "" && c.e.model.ExpectedReply(replyTo, typ) {
				delete(c.pending, rid)
			} else if replyTo != "" && !c.e.model.ExpectedReply(replyTo, typ) {
				replyTo = ""
			}
		}
		c.mu.Unlock()
	}
	for i, r := range c.e.rules {
		if r.From != "" && r.From != string(from) ||
			r.Type != "" && r.Type != typ ||
			r.Channel != "" && r.Channel != c.channel ||
			r.Has != "" && !(parsed && has(&env, r.Has)) ||
			r.ReplyTo != "" && r.ReplyTo != replyTo ||
			r.hasAfter && now.Sub(c.start) < r.After {
			continue
		}
		v.Matched |= 1 << i
		st := &c.dirs[d][i]
		st.matched++
		if v.Rule != nil {
			continue // one fault per message: the first rule that fires
		}
		if r.Nth > 0 && st.matched%int64(r.Nth) != 0 {
			continue
		}
		if r.Count > 0 && st.fired >= r.Count {
			continue
		}
		if r.P < 1 && st.rng.Float64() >= r.P {
			continue
		}
		st.fired++
		c.e.faults[i].Add(1)
		v.Rule, v.Index = r, i
		switch r.Action {
		case Corrupt:
			v.Payload = Corrupted(rec.Payload)
		case Inject:
			v.Payload = c.e.inject[i]
		}
	}
	return v
}

func has(env *protocol.Envelope, field string) bool {
	switch field {
	case "event_seq":
		return env.HasEventSeq
	case "seq":
		return env.HasSeq
	case "request_id":
		return env.RequestID != nil
	case "idempotency_key":
		return env.IdempotencyKey != nil
	case "runtime":
		return env.HasRuntime
	}
	return false
}

// Corrupted returns p cut in half (at a UTF-8 boundary), which is never
// a JSON object: a message of the right start that no parser accepts.
func Corrupted(p []byte) []byte {
	n := len(p) / 2
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	out := append([]byte(nil), p[:n]...)
	if len(out) == 0 || jsonscan.Valid(out) {
		out = append(out, `{"corrupt`...)
	}
	return out
}

// Describe says what a verdict did, for a fault record's message.
func (v Verdict) Describe() string {
	r := v.Rule
	switch r.Action {
	case Drop:
		return "message not delivered"
	case Duplicate:
		return "message delivered twice"
	case Delay:
		return "message delivered " + r.Duration.String() + " late"
	case Reorder:
		return "message held until " + strconv.Itoa(r.N) + " more matching messages were delivered"
	case Corrupt:
		return "message cut to invalid JSON (" + strconv.Itoa(len(v.Payload)) + " bytes)"
	case Close:
		return "message not delivered; both sides sent close " + strconv.Itoa(r.Code)
	case Stall:
		return "direction stalled for " + r.Duration.String()
	case Truncate:
		return "message not delivered; both TCP connections cut without a close frame"
	case Inject:
		return "message delivered, then the message of " + r.File
	}
	return r.Action.String()
}

func jsonValid(b []byte) bool { return jsonscan.Valid(b) }

// mayMatchType reports whether a message may have one of the rules'
// types. Protocol messages start with their type ({"type":"...), which is
// then read directly (a message that repeats "type" later is taken by its
// first); anything else may match, and is parsed.
func (e *Engine) mayMatchType(p []byte) bool {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(p, []byte(prefix)) {
		return true
	}
	rest := p[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return true
	}
	return e.types[string(rest[:end])]
}
