package sim

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// obj is a JSON object that keeps its key order, so that frames start with
// "type" like the device's do.
type obj []field

type field struct {
	k string
	v any
}

// o builds an obj from alternating keys and values.
func o(kv ...any) obj {
	out := make(obj, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, field{kv[i].(string), kv[i+1]})
	}
	return out
}

// set replaces the value of k, or appends it.
func (m obj) set(k string, v any) obj {
	for i := range m {
		if m[i].k == k {
			m[i].v = v
			return m
		}
	}
	return append(m, field{k, v})
}

// with appends the fields of other (replacing existing keys).
func (m obj) with(other obj) obj {
	for _, f := range other {
		m = m.set(f.k, f.v)
	}
	return m
}

func (m obj) get(k string) (any, bool) {
	for _, f := range m {
		if f.k == k {
			return f.v, true
		}
	}
	return nil, false
}

// MarshalJSON writes the fields in order.
func (m obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(f.k))
		b.WriteByte(':')
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// args is a decoded command body with lenient getters.
type args map[string]any

func decodeArgs(data []byte) (args, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var a args
	if err := d.Decode(&a); err != nil {
		return nil, err
	}
	return a, nil
}

func (a args) str(k string) string {
	s, _ := a[k].(string)
	return s
}

func (a args) has(k string) bool {
	_, ok := a[k]
	return ok
}

func (a args) boolean(k string) bool {
	b, _ := a[k].(bool)
	return b
}

func (a args) integer(k string, def int) int {
	switch v := a[k].(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return int(n)
		}
		if f, err := v.Float64(); err == nil {
			return int(f)
		}
	case float64:
		return int(v)
	}
	return def
}

func (a args) sub(k string) args {
	m, _ := a[k].(map[string]any)
	return args(m)
}

func (a args) strings(k string) []string {
	l, _ := a[k].([]any)
	var out []string
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
