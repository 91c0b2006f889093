package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// Rules are a user's redaction rules, on top of the default ones: member
// names whose values are replaced wherever they appear, paths of members
// (optionally only in messages of one type), and regular expressions whose
// matches are replaced inside string values, member names, URLs, header
// values and non-JSON payloads. Values of the members that carry a
// message's identity (see Protected) are never touched, so a redacted
// trace checks exactly as the original did.
type Rules struct {
	// Members are member names, e.g. "content" or "output".
	Members []string `json:"members,omitempty"`
	// Paths are member paths from the top of a message.
	Paths []PathRule `json:"paths,omitempty"`
	// Patterns are regular expressions (Go syntax), e.g. "/home/[^/\"]+".
	Patterns []string `json:"patterns,omitempty"`

	members  map[string]bool
	paths    [][]string // split paths, "" type means any
	types    []string
	patterns []*regexp.Regexp
}

// PathRule names one member by its path: dot-separated member names from
// the top of the message, "[]" after a name for every element of an array
// ("payload.messages[].content"). Type, if set, limits the rule to
// messages of that type.
type PathRule struct {
	Type string `json:"type,omitempty"`
	Path string `json:"path"`
}

// Protected are the member names whose values are never redacted by user
// rules: the ones the protocol model reads to route and correlate messages
// (types, ids, sequence numbers, the runtime), so that redaction cannot
// change what the checker and the replayer see.
var Protected = map[string]bool{
	"type": true, "request_id": true, "seq": true, "event_seq": true, "idempotency_key": true,
	"terminal_id": true, "kind": true, "agent_id": true, "conversation_id": true, "runtime": true,
	"recover_approvals": true, "status": true, "loop_status": true,
}

// LoadRules reads rules from a JSON file:
//
//	{"members": ["content"],
//	 "paths": [{"type": "read_file_response", "path": "content"}],
//	 "patterns": ["/home/[^/\"]+"]}
//
// Unknown fields and bad regular expressions are errors naming the file.
func LoadRules(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("redaction rules: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Rules
	if err := dec.Decode(&r); err != nil {
		var se *json.SyntaxError
		if errorsAs(err, &se) {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return nil, fmt.Errorf("redaction rules %s: line %d, byte offset %d: %v", path, line, se.Offset, err)
		}
		return nil, fmt.Errorf("redaction rules %s: %v", path, err)
	}
	if err := r.Compile(); err != nil {
		return nil, fmt.Errorf("redaction rules %s: %w", path, err)
	}
	return &r, nil
}

func errorsAs(err error, se **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	if ok {
		*se = s
	}
	return ok
}

// Compile checks and prepares the rules; Apply calls it if needed.
func (r *Rules) Compile() error {
	r.members = map[string]bool{}
	for _, m := range r.Members {
		if Protected[m] {
			return fmt.Errorf("member %q carries a message's identity and is never redacted", m)
		}
		if m == "" {
			return fmt.Errorf("empty member name")
		}
		r.members[m] = true
	}
	r.paths, r.types = nil, nil
	for _, p := range r.Paths {
		parts := strings.Split(p.Path, ".")
		for _, part := range parts {
			name := strings.TrimSuffix(part, "[]")
			if name == "" {
				return fmt.Errorf("path %q: empty member name", p.Path)
			}
			if Protected[name] {
				return fmt.Errorf("path %q: member %q carries a message's identity and is never redacted", p.Path, name)
			}
		}
		r.paths = append(r.paths, parts)
		r.types = append(r.types, p.Type)
	}
	r.patterns = nil
	for _, s := range r.Patterns {
		re, err := regexp.Compile(s)
		if err != nil {
			return fmt.Errorf("pattern %q: %v", s, err)
		}
		if re.MatchString("") {
			return fmt.Errorf("pattern %q matches the empty string", s)
		}
		r.patterns = append(r.patterns, re)
	}
	return nil
}

// Counts say how many values each kind of rule replaced.
type Counts struct {
	Members, Paths, Patterns int
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Members += o.Members
	c.Paths += o.Paths
	c.Patterns += o.Patterns
}

// Any reports whether anything was replaced.
func (c Counts) Any() bool { return c.Members+c.Paths+c.Patterns > 0 }

// Text replaces the patterns' matches in s.
func (r *Rules) Text(s string) (string, int) {
	n := 0
	for _, re := range r.patterns {
		s = re.ReplaceAllStringFunc(s, func(string) string { n++; return Placeholder })
	}
	return s, n
}

// Bytes replaces the patterns' matches in b (a non-JSON payload).
func (r *Rules) Bytes(b []byte) ([]byte, int) {
	n := 0
	for _, re := range r.patterns {
		if re.Match(b) {
			b = re.ReplaceAllFunc(b, func([]byte) []byte { n++; return []byte(Placeholder) })
		}
	}
	return b, n
}

// JSON applies the rules to a JSON payload and returns the result, which
// is valid JSON whenever p was, and what was replaced. Every byte outside
// the replaced values stays as it was. A payload that is not a JSON
// object is returned as it is.
func (r *Rules) JSON(p []byte) ([]byte, Counts) {
	var c Counts
	i := jsonscan.SkipSpace(p, 0)
	if i >= len(p) || p[i] != '{' || !jsonscan.Valid(p) {
		return p, c
	}
	typ := topLevelType(p, i)
	var active [][]string
	for k, path := range r.paths {
		if r.types[k] == "" || r.types[k] == typ {
			active = append(active, path)
		}
	}
	var ed []edit
	ed = r.object(ed, p, i, active, 0, &c)
	if len(ed) == 0 {
		return p, c
	}
	out := make([]byte, 0, len(p))
	last := 0
	for _, e := range ed {
		out = append(out, p[last:e.start]...)
		out = append(out, e.with...)
		last = e.end
	}
	return append(out, p[last:]...), c
}

// edit replaces p[start:end] with with; edits are collected in order.
type edit struct {
	start, end int
	with       []byte
}

// object collects the edits of the object at p[i]. paths are the path
// rules still matching here (their remaining parts).
func (r *Rules) object(ed []edit, p []byte, i int, paths [][]string, depth int, c *Counts) []edit {
	if depth > maxDepth {
		return ed
	}
	o := jsonscan.NewObject(p, i)
	for {
		ks := o.End() // where the member (after a comma) starts
		rawKey, esc, vs, ve, ok := o.Next()
		if !ok {
			return ed
		}
		key := rawKey
		if esc {
			if k, ok := jsonscan.Unquote(rawKey); ok {
				key = k
			}
		}
		name := string(key)
		if Protected[name] {
			continue
		}
		// The member name itself may match a pattern (paths as map keys).
		if red, n := r.Text(name); n > 0 {
			c.Patterns += n
			qs := ks + bytes.IndexByte(p[ks:vs], '"')
			ed = append(ed, edit{qs, qs + len(rawKey) + 2, jsonscan.AppendString(nil, []byte(red))})
		}
		var sub [][]string
		whole := false
		for _, path := range paths {
			head := path[0]
			arr := strings.HasSuffix(head, "[]")
			if strings.TrimSuffix(head, "[]") != name {
				continue
			}
			rest := path[1:]
			switch {
			case len(rest) == 0 && !arr:
				whole = true
			case arr && p[vs] == '[':
				sub = append(sub, append([]string{"[]"}, rest...))
			case !arr && p[vs] == '{':
				sub = append(sub, rest)
			}
		}
		switch {
		case whole:
			c.Paths++
			ed = append(ed, edit{vs, ve, quotedPlaceholder})
		case r.members[name] && p[vs] != 'n': // null stays null
			c.Members++
			ed = append(ed, edit{vs, ve, quotedPlaceholder})
		default:
			ed = r.value(ed, p, vs, ve, sub, depth, c)
		}
	}
}

// value collects the edits of the value p[vs:ve].
func (r *Rules) value(ed []edit, p []byte, vs, ve int, paths [][]string, depth int, c *Counts) []edit {
	switch p[vs] {
	case '{':
		var sub [][]string
		for _, path := range paths {
			if path[0] != "[]" {
				sub = append(sub, path)
			}
		}
		return r.object(ed, p, vs, sub, depth+1, c)
	case '[':
		// Elements of an array named by a "name[]" path part.
		var elem [][]string
		whole := false
		for _, path := range paths {
			if path[0] == "[]" {
				if len(path) == 1 {
					whole = true
				} else {
					elem = append(elem, path[1:])
				}
			}
		}
		j := jsonscan.SkipSpace(p, vs+1)
		for j < ve && p[j] != ']' {
			end, err := jsonscan.SkipValue(p, j)
			if err != nil {
				break
			}
			if whole {
				c.Paths++
				ed = append(ed, edit{j, end, quotedPlaceholder})
			} else {
				ed = r.value(ed, p, j, end, elem, depth+1, c)
			}
			j = jsonscan.SkipSpace(p, end)
			if j < ve && p[j] == ',' {
				j = jsonscan.SkipSpace(p, j+1)
			}
		}
		return ed
	case '"':
		if len(r.patterns) == 0 {
			return ed
		}
		s, ok := jsonscan.StringValue(p, vs, ve)
		if !ok {
			return ed
		}
		red, n := r.Text(string(s))
		if n == 0 {
			return ed
		}
		c.Patterns += n
		return append(ed, edit{vs, ve, jsonscan.AppendString(nil, []byte(red))})
	}
	return ed
}
