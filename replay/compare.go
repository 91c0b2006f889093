package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/redact"
)

// Volatile member names Drive ignores when comparing contents: the
// protocol's (protocol.VolatileFields) and content that changes with
// every run of a device.
var defaultVolatile = append(append([]string(nil), protocol.VolatileFields...), "date", "pid", "lastModified")

var (
	uuidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	timeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?`)
)

// comparer compares recorded and live payloads, ignoring volatile
// members, UUIDs and timestamps.
type comparer struct {
	volatile map[string]bool // member names, at any depth
	paths    map[string]bool // JSON paths from the top: a.b, a[0].b, a[*].b
}

func newComparer(extra []string) *comparer {
	c := &comparer{volatile: map[string]bool{}, paths: map[string]bool{}}
	for _, k := range defaultVolatile {
		c.volatile[k] = true
	}
	for _, k := range extra {
		if p, ok := volatilePath(k); ok {
			c.paths[p] = true
		} else {
			c.volatile[p] = true
		}
	}
	return c
}

// volatilePath tells a JSON path ("$.a.b", "a.b", "a[*].b", "a[].b") from
// a member name, and returns the path in the form normalize builds
// ("a.b", "a[*].b").
func volatilePath(k string) (string, bool) {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "$"), ".")
	if !strings.ContainsAny(k, ".[") {
		return k, false
	}
	return strings.ReplaceAll(k, "[]", "[*]"), true
}

// ParseIgnore splits a comma-separated list of member names and JSON
// paths (the CLI's -ignore) for Options.Volatile, rejecting empty items
// and malformed paths.
func ParseIgnore(list string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, isPath := volatilePath(f)
		if p == "" || isPath && (strings.Contains(p, "..") || strings.HasSuffix(p, ".") || strings.Count(p, "[") != strings.Count(p, "]")) {
			return nil, fmt.Errorf("replay: -ignore: %q is neither a member name nor a JSON path like a.b or a[*].b", f)
		}
		out = append(out, f)
	}
	return out, nil
}

func (c *comparer) isVolatile(k string) bool {
	return c.volatile[k] || strings.HasSuffix(k, "_at")
}

func decodeJSON(p []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// normalize drops volatile members and masks UUIDs and timestamps, in
// place. path and wild are v's JSON path, with array indices and with
// [*] for them (kept only when paths are configured).
func (c *comparer) normalize(v any) any { return c.normalizeAt(v, "", "") }

func (c *comparer) normalizeAt(v any, path, wild string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if c.isVolatile(k) {
				delete(x, k)
				continue
			}
			var p, w string
			if len(c.paths) > 0 {
				p, w = join(path, k), join(wild, k)
				if c.paths[p] || c.paths[w] {
					delete(x, k)
					continue
				}
			}
			x[k] = c.normalizeAt(e, p, w)
		}
	case []any:
		for i, e := range x {
			var p, w string
			if len(c.paths) > 0 {
				p, w = fmt.Sprintf("%s[%d]", path, i), wild+"[*]"
				if c.paths[p] || c.paths[w] {
					x[i] = nil
					continue
				}
			}
			x[i] = c.normalizeAt(e, p, w)
		}
	case string:
		s := uuidRE.ReplaceAllString(x, "<uuid>")
		return timeRE.ReplaceAllString(s, "<time>")
	}
	return v
}

// compare returns "" when the payloads agree, or where they first differ.
// Payloads that are not JSON are compared byte for byte. When learn is
// not nil, the ids the live payload chose are learned into it.
func (c *comparer) compare(rec, live []byte, learn map[string]string) string {
	rv, ok1 := decodeJSON(rec)
	lv, ok2 := decodeJSON(live)
	if !ok1 || !ok2 {
		if bytes.Equal(rec, live) {
			return ""
		}
		return fmt.Sprintf("payload %s, recorded %s", snippet(live), snippet(rec))
	}
	if learn != nil {
		learnIDs(rv, lv, learn)
	}
	return firstDiff("", c.normalize(rv), c.normalize(lv))
}

// firstDiff compares a recorded value a with a live value b and says
// where they first differ ("" when they agree). A recorded string the
// recorder redacted matches any live value.
func firstDiff(path string, a, b any) string {
	switch x := a.(type) {
	case string:
		if x == redact.Placeholder {
			return ""
		}
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			av, ina := x[k]
			bv, inb := y[k]
			switch {
			case !inb:
				return fmt.Sprintf("%s missing (recorded %s)", join(path, k), short(av))
			case !ina:
				return fmt.Sprintf("%s not in the recording (got %s)", join(path, k), short(bv))
			}
			if d := firstDiff(join(path, k), av, bv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok {
			break
		}
		if len(x) != len(y) {
			return fmt.Sprintf("%s has %d elements, recorded %d", orRoot(path), len(y), len(x))
		}
		for i := range x {
			if d := firstDiff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if reflect.DeepEqual(a, b) {
		return ""
	}
	return fmt.Sprintf("%s is %s, recorded %s", orRoot(path), short(b), short(a))
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orRoot(path string) string {
	if path == "" {
		return "payload"
	}
	return path
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// learnIDs walks a recorded and a live payload side by side and records,
// for every id member ("id", "*_id") whose values differ, the live value
// of the recorded one: ids the live server chose (a control_request's
// request_id, a new agent's id) that later client frames must use.
func learnIDs(rec, live any, out map[string]string) {
	switch r := rec.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return
		}
		for k, rv := range r {
			lv, ok := l[k]
			if !ok {
				continue
			}
			rs, ok1 := rv.(string)
			ls, ok2 := lv.(string)
			if ok1 && ok2 {
				if rs != ls && rs != "" && (k == "id" || strings.HasSuffix(k, "_id")) {
					out[rs] = ls
				}
				continue
			}
			learnIDs(rv, lv, out)
		}
	case []any:
		l, ok := live.([]any)
		if !ok {
			return
		}
		for i := range r {
			if i < len(l) {
				learnIDs(r[i], l[i], out)
			}
		}
	}
}
