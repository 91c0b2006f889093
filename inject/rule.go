// Package inject is the proxy's fault injection: rules that say which
// whole WebSocket messages to drop, duplicate, delay, reorder, corrupt or
// answer with a close, a cut, a stall or a message of the rule's own, and
// a sans-IO engine that decides, message by message, what the relay does.
//
// A rule is one line of space-separated terms: an action, matches and a
// rate, in any order:
//
//	drop from=server has=event_seq nth=50
//	duplicate from=server has=idempotency_key p=0.1
//	drop from=server reply-to=list_models count=1
//	close=1011 nth=200
//
// Every random choice comes from a PRNG seeded by the run's seed, the
// rule and the connection (its URL and how many connections with that URL
// came before), so two runs with the same seed and the same traffic inject
// the same faults at the same messages.
package inject

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Action is what a rule does to a message it selects.
type Action uint8

// Actions.
const (
	// Drop does not deliver the message.
	Drop Action = iota + 1
	// Duplicate delivers it twice, the same bytes.
	Duplicate
	// Delay delivers it after Rule.Duration; later messages go ahead.
	Delay
	// Reorder holds it until Rule.N more messages matching the rule have
	// been delivered.
	Reorder
	// Corrupt delivers the message cut in half: invalid JSON.
	Corrupt
	// Close sends a close frame with Rule.Code to both sides instead of
	// the message, and ends the connection.
	Close
	// Stall stops forwarding the message's direction for Rule.Duration,
	// the message included.
	Stall
	// Truncate cuts both TCP connections, with no close frame.
	Truncate
	// Inject delivers the message, then the JSON message of Rule.File.
	Inject
)

var actionNames = [...]string{Drop: "drop", Duplicate: "duplicate", Delay: "delay", Reorder: "reorder",
	Corrupt: "corrupt", Close: "close", Stall: "stall", Truncate: "truncate", Inject: "inject"}

// String returns the action's name as written in a rule.
func (a Action) String() string {
	if int(a) < len(actionNames) && actionNames[a] != "" {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// AltersMessages reports whether the action changes which compressed
// messages a receiver inflates, or their order: with permessage-deflate
// context takeover, that breaks the receiver's inflate state.
func (a Action) AltersMessages() bool {
	switch a {
	case Drop, Duplicate, Delay, Reorder, Corrupt, Close:
		return true
	}
	return false
}

// Rule is one parsed fault rule.
type Rule struct {
	// Text is the rule as written (trimmed), recorded in fault records.
	Text string
	// Action and its argument: Duration (delay, stall), N (reorder), Code
	// (close), File (inject).
	Action   Action
	Duration time.Duration
	N        int
	Code     int
	File     string

	// Matches; zero values match everything.
	From     string // "client" or "server"
	Type     string // the message's "type"
	Channel  string // the socket's channel: control, stream or single
	Has      string // an envelope field the message carries
	ReplyTo  string // a reply to a command of this type
	Nth      int    // every Nth message matching the rest
	After    time.Duration
	hasAfter bool

	// Rates: P is the probability of a matching message (1 when unset);
	// Count bounds the faults per connection and direction (0: no bound).
	P     float64
	Count int
}

// Fields the has= match knows: the message envelope's fields (see
// protocol.Envelope).
var hasFields = []string{"event_seq", "seq", "request_id", "idempotency_key", "runtime"}

// Error is a rule that cannot be parsed: the rule's text, the byte
// offset of the offending term in it, and what is wrong. Source and Line
// locate the rule in a file (-faults FILE), when it came from one.
type Error struct {
	Source string
	Line   int
	Rule   string
	Offset int
	Msg    string
}

// Error formats the error with the rule and a caret under the offending
// term.
func (e *Error) Error() string {
	loc := ""
	if e.Source != "" {
		loc = fmt.Sprintf("%s:%d:%d: ", e.Source, e.Line, e.Offset+1)
	}
	return fmt.Sprintf("%sfault rule %q: at byte %d: %s\n\t%s\n\t%s^", loc, e.Rule, e.Offset, e.Msg, e.Rule, caretPad(e.Rule, e.Offset))
}

func caretPad(s string, off int) string {
	var b strings.Builder
	for i, r := range s {
		if i >= off {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// Parse parses one rule. Its error is an *Error pointing at the term.
func Parse(text string) (*Rule, error) {
	text = strings.TrimSpace(text)
	r := &Rule{Text: text}
	fail := func(off int, format string, args ...any) error {
		return &Error{Rule: text, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	if text == "" {
		return nil, fail(0, "empty rule: want an action (drop, duplicate, delay=D, reorder=N, corrupt, close=CODE, stall=D, truncate, inject=FILE)")
	}
	seen := map[string]int{}
	actionAt := -1
	for off := 0; off < len(text); {
		for off < len(text) && (text[off] == ' ' || text[off] == '\t') {
			off++
		}
		if off == len(text) {
			break
		}
		end := off
		for end < len(text) && text[end] != ' ' && text[end] != '\t' {
			end++
		}
		term := text[off:end]
		key, val, hasVal := strings.Cut(term, "=")
		valOff := off + len(key) + 1
		if prev, dup := seen[key]; dup {
			return nil, fail(off, "%q given twice (first at byte %d)", key, prev)
		}
		seen[key] = off
		setAction := func(a Action) error {
			if actionAt >= 0 {
				return fail(off, "a second action %q: a rule has one action (the first, %s, is at byte %d)", key, r.Action, actionAt)
			}
			r.Action, actionAt = a, off
			return nil
		}
		needVal := func() error {
			if !hasVal || val == "" {
				return fail(off, "%s needs a value: %s=…", key, key)
			}
			return nil
		}
		noVal := func() error {
			if hasVal {
				return fail(off, "%s takes no value", key)
			}
			return nil
		}
		var err error
		switch key {
		case "drop", "duplicate", "corrupt", "truncate":
			if err = noVal(); err == nil {
				err = setAction(map[string]Action{"drop": Drop, "duplicate": Duplicate, "corrupt": Corrupt, "truncate": Truncate}[key])
			}
		case "delay", "stall":
			if err = needVal(); err != nil {
				break
			}
			d, perr := time.ParseDuration(val)
			if perr != nil || d <= 0 {
				err = fail(valOff, "%s=%s: want a positive duration such as 500ms or 2s", key, val)
				break
			}
			a := Delay
			if key == "stall" {
				a = Stall
			}
			if err = setAction(a); err == nil {
				r.Duration = d
			}
		case "reorder":
			if err = needVal(); err != nil {
				break
			}
			n, perr := strconv.Atoi(val)
			if perr != nil || n < 1 || n > 1000 {
				err = fail(valOff, "reorder=%s: want how many matching messages go ahead, 1 to 1000", val)
				break
			}
			if err = setAction(Reorder); err == nil {
				r.N = n
			}
		case "close":
			if err = needVal(); err != nil {
				break
			}
			n, perr := strconv.Atoi(val)
			if perr != nil || !validCloseCode(n) {
				err = fail(valOff, "close=%s: want a close code a peer may send: 1000-1003, 1007-1014 or 3000-4999", val)
				break
			}
			if err = setAction(Close); err == nil {
				r.Code = n
			}
		case "inject":
			if err = needVal(); err != nil {
				break
			}
			if err = setAction(Inject); err == nil {
				r.File = val
			}
		case "from":
			if err = needVal(); err != nil {
				break
			}
			if val != "client" && val != "server" {
				err = fail(valOff, "from=%s: want client or server", val)
			}
			r.From = val
		case "type":
			if err = needVal(); err == nil {
				r.Type = val
			}
		case "channel":
			if err = needVal(); err != nil {
				break
			}
			if val != "control" && val != "stream" && val != "single" {
				err = fail(valOff, "channel=%s: want control, stream or single", val)
			}
			r.Channel = val
		case "has":
			if err = needVal(); err != nil {
				break
			}
			if !contains(hasFields, val) {
				err = fail(valOff, "has=%s: want one of %s", val, strings.Join(hasFields, ", "))
			}
			r.Has = val
		case "reply-to":
			if err = needVal(); err == nil {
				r.ReplyTo = val
			}
		case "nth":
			if err = needVal(); err != nil {
				break
			}
			n, perr := strconv.Atoi(val)
			if perr != nil || n < 1 {
				err = fail(valOff, "nth=%s: want a positive integer (every Nth matching message)", val)
			}
			r.Nth = n
		case "after":
			if err = needVal(); err != nil {
				break
			}
			d, perr := time.ParseDuration(val)
			if perr != nil || d < 0 {
				err = fail(valOff, "after=%s: want a duration such as 10s (since the connection opened)", val)
			}
			r.After, r.hasAfter = d, true
		case "p":
			if err = needVal(); err != nil {
				break
			}
			p, perr := strconv.ParseFloat(val, 64)
			if perr != nil || !(p > 0 && p <= 1) {
				err = fail(valOff, "p=%s: want a probability in (0, 1], such as 0.02", val)
			}
			r.P = p
		case "count":
			if err = needVal(); err != nil {
				break
			}
			n, perr := strconv.Atoi(val)
			if perr != nil || n < 1 {
				err = fail(valOff, "count=%s: want a positive integer (faults per connection and direction)", val)
			}
			r.Count = n
		default:
			err = fail(off, "unknown term %q: want an action (drop, duplicate, delay=D, reorder=N, corrupt, close=CODE, stall=D, truncate, inject=FILE), a match (from=, type=, channel=, has=, reply-to=, nth=, after=) or a rate (p=, count=)", key)
		}
		if err != nil {
			return nil, err
		}
		off = end
	}
	if actionAt < 0 {
		return nil, fail(0, "no action: want one of drop, duplicate, delay=D, reorder=N, corrupt, close=CODE, stall=D, truncate, inject=FILE")
	}
	if r.P == 0 {
		r.P = 1
	}
	return r, nil
}

func validCloseCode(n int) bool {
	return (n >= 1000 && n <= 1003) || (n >= 1007 && n <= 1014) || (n >= 3000 && n <= 4999)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseFile parses a rules file's content: one rule a line; blank lines
// and lines starting with # are skipped, as is text after " #". Errors
// name the file and line.
func ParseFile(name string, content []byte) ([]*Rule, error) {
	var rules []*Rule
	for i, line := range strings.Split(string(content), "\n") {
		line = strings.TrimRight(line, "\r")
		if j := strings.Index(line, " #"); j >= 0 {
			line = line[:j]
		}
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		r, err := Parse(line)
		if err != nil {
			if pe, ok := err.(*Error); ok {
				pe.Source, pe.Line = name, i+1
				return nil, pe
			}
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}
