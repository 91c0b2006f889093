// Package filter is the filter language of wsproxy's views: the inspector's
// `/` prompt and the command line's `wsproxy grep` parse and match with it,
// so a filter means the same everywhere.
//
// A filter is a list of terms separated by spaces; a record matches when
// every term matches (AND). A term is either key:value or free text:
//
//	type:stream_delta   the message's type (a trailing * matches a prefix: type:stream_*)
//	from:client         who sent the frame (client, server; a close record's by: proxy too)
//	conn:c2             the connection id (trailing * for a prefix)
//	req:ID              request_id, or the control_request an approval answers
//	rule:unacked-seq    a finding of that rule is on the record (rule:* any finding)
//	seq:N               the relay's transport seq (an ack's seq too); N or A-B
//	event_seq:N         the device's event_seq; N or A-B
//	kind:frame          the record kind (header, open, frame, close, error, http, loss)
//	op:text             the frame opcode (text, binary, ping, pong, close)
//	line:N              the record's line in its file; N or A-B
//	hello               free text: a substring of the payload (case-insensitive
//	                    unless it holds an upper-case letter); quote it to
//	                    include spaces or a colon: "a b", "key:value"
//
// A leading '-' negates a term: -type:ping, -from:client, -"text".
package filter

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Filter is a parsed filter. The zero value and the result of parsing an
// empty string match every record. A Filter is immutable and safe for
// concurrent use.
type Filter struct {
	src   string
	terms []term
}

// Facts are what a record alone does not tell: the rule ids of the
// findings on it.
type Facts struct {
	Rules []string
}

// Fields are the parts of a record a filter looks at. Views that keep
// compact rows instead of records fill them in directly (MatchFields);
// FieldsOf fills them from a record.
type Fields struct {
	Kind trace.Kind
	// From is a frame's sender, or a close record's By.
	From trace.Side
	Op   trace.Op
	Conn string
	// Type is the message type ("" when absent or not JSON).
	Type string
	// RequestID is request_id; ApprovalRequestID the control_request an
	// approval_response input answers.
	RequestID, ApprovalRequestID []byte
	Seq, EventSeq                int64
	HasSeq, HasEventSeq          bool
	// Line is the record's line in its file.
	Line int64
	// Rules are the rule ids of findings on the record.
	Rules []string
	// Text is what free text searches: a frame's payload, an error's
	// message, a close's reason, an open or http record's URL.
	Text []byte
}

// FieldsOf returns the fields of r with facts. Slices alias r's payload.
func FieldsOf(r *trace.Record, facts Facts) Fields {
	f := Fields{Kind: r.Kind, From: r.From, Op: r.Op, Conn: r.Conn, Line: r.Line, Rules: facts.Rules}
	switch r.Kind {
	case trace.KindFrame:
		f.Text = r.Payload
		if r.IsJSONObject() {
			if env, err := protocol.Parse(r.Payload); err == nil {
				f.Type = env.TypeString()
				f.RequestID, f.ApprovalRequestID = env.RequestID, env.ApprovalRequestID
				f.Seq, f.HasSeq = env.Seq, env.HasSeq
				f.EventSeq, f.HasEventSeq = env.EventSeq, env.HasEventSeq
			}
		}
	case trace.KindClose:
		f.From = r.By
		f.Text = []byte(r.Reason)
	case trace.KindError, trace.KindLoss, trace.KindFault:
		f.Text = []byte(r.Message)
	case trace.KindOpen:
		if r.Open != nil {
			f.Text = []byte(r.Open.URL)
		}
	case trace.KindHTTP:
		if r.HTTP != nil {
			f.Text = []byte(r.HTTP.URL)
		}
	}
	return f
}

type key uint8

const (
	keyText key = iota
	keyType
	keyFrom
	keyConn
	keyReq
	keyRule
	keySeq
	keyEventSeq
	keyKind
	keyOp
	keyLine
)

// keys maps the term keys to their meaning, in the order the help names
// them.
var keys = []struct {
	name string
	k    key
	help string
}{
	{"type", keyType, "message type (type:stream_* for a prefix)"},
	{"from", keyFrom, "sender: client, server (proxy for a close)"},
	{"conn", keyConn, "connection id, e.g. c2"},
	{"req", keyReq, "request_id (or the request an approval answers)"},
	{"rule", keyRule, "a finding of this rule is on the record (rule:* any)"},
	{"seq", keySeq, "transport seq: N or A-B"},
	{"event_seq", keyEventSeq, "event_seq: N or A-B"},
	{"kind", keyKind, "record kind: header open frame close error http loss"},
	{"op", keyOp, "opcode: text binary ping pong close"},
	{"line", keyLine, "line in the trace file: N or A-B"},
}

// Key describes one term key, for help texts.
type Key struct {
	Name, Help string
}

// Keys lists the term keys with a one-line description each.
func Keys() []Key {
	out := make([]Key, len(keys))
	for i, k := range keys {
		out[i] = Key{k.name, k.help}
	}
	return out
}

type term struct {
	k      key
	neg    bool
	str    string // exact value, or the prefix when prefix is set
	bstr   []byte
	prefix bool
	lo, hi int64
	fold   bool // free text: case-insensitive (needle is lower case)
}

// Error is a parse error: which term, where, and why.
type Error struct {
	// Term is the term's text as written and Offset its byte offset in
	// the filter (0-based); Index is its 1-based position among the terms.
	Term   string
	Offset int
	Index  int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("filter: term %d %q at offset %d: %s", e.Index, e.Term, e.Offset, e.Msg)
}

// Parse parses a filter. An empty or blank string gives a filter that
// matches everything. Errors are *Error.
func Parse(s string) (*Filter, error) {
	f := &Filter{src: strings.TrimSpace(s)}
	i, idx := 0, 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		idx++
		start := i
		raw, val, quote, err := scanTerm(s, i)
		if err != nil {
			return nil, &Error{Term: s[start:], Offset: start, Index: idx, Msg: err.Error()}
		}
		i += len(raw)
		t, err := parseTerm(val, quote)
		if err != nil {
			return nil, &Error{Term: raw, Offset: start, Index: idx, Msg: err.Error()}
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

// MustParse is Parse for filters known to be valid; it panics on an error.
// Use it only with constant strings.
func MustParse(s string) *Filter {
	f, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return f
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scanTerm returns the raw text of the term at s[i:], its value with
// quotes resolved, and the index in val where the first quoted part
// begins (-1 when nothing was quoted).
func scanTerm(s string, i int) (raw, val string, quote int, err error) {
	start := i
	quote = -1
	var b strings.Builder
	for i < len(s) && !isSpace(s[i]) {
		c := s[i]
		if c != '"' {
			b.WriteByte(c)
			i++
			continue
		}
		if quote < 0 {
			quote = b.Len()
		}
		i++
		closed := false
		for i < len(s) {
			c = s[i]
			if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			if c == '"' {
				closed = true
				i++
				break
			}
			b.WriteByte(c)
			i++
		}
		if !closed {
			return s[start:], "", -1, fmt.Errorf("unterminated quote")
		}
	}
	return s[start:i], b.String(), quote, nil
}

// parseTerm parses one term's value; quote is where its first quoted
// part begins (-1 for none): a colon inside or after a quote is text.
func parseTerm(v string, quote int) (term, error) {
	var t term
	if strings.HasPrefix(v, "-") && len(v) > 1 && quote != 0 {
		t.neg = true
		v = v[1:]
		if quote > 0 {
			quote--
		}
	}
	colon := strings.IndexByte(v, ':')
	if colon < 0 || quote >= 0 && quote <= colon {
		return textTerm(t, v)
	}
	name, value := v[:colon], v[colon+1:]
	var k key
	found := false
	for _, kk := range keys {
		if kk.name == name {
			k, found = kk.k, true
			break
		}
	}
	if !found {
		if !isKeyName(name) {
			return textTerm(t, v)
		}
		return t, fmt.Errorf("unknown key %q (keys: %s; quote free text that holds a colon)", name, keyList())
	}
	t.k = k
	if value == "" {
		return t, fmt.Errorf("%s: wants a value", name)
	}
	switch k {
	case keyType, keyConn, keyReq:
		t.str, t.prefix = strings.CutSuffix(value, "*")
		t.bstr = []byte(t.str)
	case keyRule:
		if value == "*" {
			t.prefix = true
			break
		}
		if !knownRule(value) {
			return t, fmt.Errorf("unknown rule %q (wsproxy check -rules lists them)", value)
		}
		t.str = value
	case keyFrom:
		switch trace.Side(value) {
		case trace.Client, trace.Server, trace.Proxy:
		default:
			return t, fmt.Errorf("from: wants client, server or proxy, not %q", value)
		}
		t.str = value
	case keyKind:
		switch trace.Kind(value) {
		case trace.KindHeader, trace.KindOpen, trace.KindFrame, trace.KindClose, trace.KindError, trace.KindHTTP, trace.KindLoss, trace.KindFault:
		default:
			return t, fmt.Errorf("kind: wants header, open, frame, close, error, http, loss or fault, not %q", value)
		}
		t.str = value
	case keyOp:
		switch trace.Op(value) {
		case trace.OpText, trace.OpBinary, trace.OpPing, trace.OpPong, trace.OpClose:
		default:
			return t, fmt.Errorf("op: wants text, binary, ping, pong or close, not %q", value)
		}
		t.str = value
	case keySeq, keyEventSeq, keyLine:
		lo, hi, err := parseRange(value)
		if err != nil {
			return t, fmt.Errorf("%s: %v", name, err)
		}
		t.lo, t.hi = lo, hi
	}
	return t, nil
}

func textTerm(t term, v string) (term, error) {
	if v == "" {
		return t, fmt.Errorf("empty text")
	}
	t.k = keyText
	t.str = v
	t.fold = strings.ToLower(v) == v
	t.bstr = []byte(v)
	return t, nil
}

func isKeyName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

func keyList() string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return strings.Join(names, ", ")
}

func knownRule(id string) bool {
	for _, r := range analysis.Rules() {
		if r.ID == id {
			return true
		}
	}
	return false
}

// parseRange parses "N" or "A-B" (non-negative integers, A <= B).
func parseRange(v string) (int64, int64, error) {
	a, b, isRange := strings.Cut(v, "-")
	lo, err := strconv.ParseInt(a, 10, 64)
	if err != nil || lo < 0 {
		return 0, 0, fmt.Errorf("wants a non-negative integer or a range A-B, not %q", v)
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := strconv.ParseInt(b, 10, 64)
	if err != nil || hi < lo {
		return 0, 0, fmt.Errorf("wants a range A-B with A <= B, not %q", v)
	}
	return lo, hi, nil
}

// String returns the filter as it was written (spaces around it trimmed).
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.src
}

// Empty reports whether the filter matches everything (no terms).
func (f *Filter) Empty() bool { return f == nil || len(f.terms) == 0 }

// NeedsText reports whether matching looks at the free-text Text field,
// so views that load payloads on demand can skip loading them.
func (f *Filter) NeedsText() bool {
	if f == nil {
		return false
	}
	for _, t := range f.terms {
		if t.k == keyText {
			return true
		}
	}
	return false
}

// Match reports whether r, with facts, matches every term.
func (f *Filter) Match(r *trace.Record, facts Facts) bool {
	if f.Empty() {
		return true
	}
	x := FieldsOf(r, facts)
	return f.MatchFields(&x)
}

// MatchFields reports whether a record with fields x matches every term.
// It does not allocate.
func (f *Filter) MatchFields(x *Fields) bool {
	if f == nil {
		return true
	}
	for i := range f.terms {
		if f.terms[i].match(x) == f.terms[i].neg {
			return false
		}
	}
	return true
}

// MatchTerms reports whether x matches every term that does not look at
// the free text; MatchText whether it matches every free-text term. A
// record matches when both hold: views that decode payloads on demand
// check MatchTerms first and fill Fields.Text only for the records that
// pass. Neither allocates.
func (f *Filter) MatchTerms(x *Fields) bool { return f.matchSome(x, false) }

// MatchText reports whether x.Text matches every free-text term.
func (f *Filter) MatchText(x *Fields) bool { return f.matchSome(x, true) }

func (f *Filter) matchSome(x *Fields, text bool) bool {
	if f == nil {
		return true
	}
	for i := range f.terms {
		t := &f.terms[i]
		if (t.k == keyText) != text {
			continue
		}
		if t.match(x) == t.neg {
			return false
		}
	}
	return true
}

func (t *term) match(x *Fields) bool {
	switch t.k {
	case keyText:
		if t.fold {
			return containsFold(x.Text, t.bstr)
		}
		return bytes.Contains(x.Text, t.bstr)
	case keyType:
		return t.matchStr(x.Type)
	case keyConn:
		return t.matchStr(x.Conn)
	case keyReq:
		return t.matchBytes(x.RequestID) || t.matchBytes(x.ApprovalRequestID)
	case keyFrom:
		return string(x.From) == t.str
	case keyKind:
		return string(x.Kind) == t.str
	case keyOp:
		return string(x.Op) == t.str
	case keyRule:
		if t.prefix {
			return len(x.Rules) > 0
		}
		for _, r := range x.Rules {
			if r == t.str {
				return true
			}
		}
		return false
	case keySeq:
		return x.HasSeq && x.Seq >= t.lo && x.Seq <= t.hi
	case keyEventSeq:
		return x.HasEventSeq && x.EventSeq >= t.lo && x.EventSeq <= t.hi
	case keyLine:
		return x.Line >= t.lo && x.Line <= t.hi
	}
	return false
}

func (t *term) matchStr(s string) bool {
	if t.prefix {
		return strings.HasPrefix(s, t.str)
	}
	return s == t.str
}

func (t *term) matchBytes(b []byte) bool {
	if b == nil {
		return false
	}
	if t.prefix {
		return bytes.HasPrefix(b, t.bstr)
	}
	return bytes.Equal(b, t.bstr)
}

// containsFold reports whether s contains needle (lower case) ignoring
// ASCII case. It scans for the needle's rarest byte (in protocol JSON),
// in both cases, and compares around each hit.
func containsFold(s, needle []byte) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	if n > len(s) {
		return false
	}
	k := 0
	for i := 1; i < n; i++ {
		if byteRank(needle[i]) < byteRank(needle[k]) {
			k = i
		}
	}
	lo := needle[k]
	up := lo
	if lo >= 'a' && lo <= 'z' {
		up = lo - 'a' + 'A'
	}
	// A hit at j means the needle would start at j-k.
	for t := 0; t < 2; t++ {
		c := lo
		if t == 1 {
			if up == lo {
				break
			}
			c = up
		}
		for from := k; from < len(s)-(n-1-k); {
			j := bytes.IndexByte(s[from:len(s)-(n-1-k)], c)
			if j < 0 {
				break
			}
			j += from
			if equalFold(s[j-k:j-k+n], needle) {
				return true
			}
			from = j + 1
		}
	}
	return false
}

// byteRank orders bytes by how common they are in protocol JSON (lower
// is rarer): punctuation of the JSON itself and frequent letters last.
func byteRank(c byte) int {
	switch {
	case c == '"' || c == ':' || c == ',' || c == ' ' || c == '_' || c == '-':
		return 9
	case strings.IndexByte("etaoinsr", c) >= 0:
		return 8
	case strings.IndexByte("dlcumhp", c) >= 0:
		return 7
	case c >= 'a' && c <= 'z':
		return 5
	case c >= '0' && c <= '9':
		return 4
	}
	return 3
}

func equalFold(s, lower []byte) bool {
	for i, c := range lower {
		d := s[i]
		if d >= 'A' && d <= 'Z' {
			d += 'a' - 'A'
		}
		if d != c {
			return false
		}
	}
	return true
}
