package protocol

import (
	"hash/maphash"
	"testing"
)

func TestContentHash(t *testing.T) {
	seed := maphash.MakeSeed()
	h := func(s string) uint64 { return ContentHash(seed, []byte(s)) }
	same := [][2]string{
		// a new top-level seq only
		{`{"type":"x","seq":1,"delta":{"seq":1,"s":"\"seq\":1"},"k":2}`, `{"type":"x","seq":22,"delta":{"seq":1,"s":"\"seq\":1"},"k":2}`},
		// a nested "seq" equal to the top-level one, and a spaced top-level seq
		{`{"type":"x","delta":{"seq":5},"seq": 5}`, `{"type":"x","delta":{"seq":5},"seq": 6}`},
		{`{"type":"x","delta":{"seq":5},"seq": 5}`, `{"type":"x","delta":{"seq":5}}`},
		// member order and top-level whitespace do not count
		{`{"type":"x","k":1,"seq":3}`, `{ "seq" : 4 , "k" : 1 , "type" : "x" }`},
		// an escaped member name is the same member
		{`{"type":"x","se\u0071":3}`, `{"type":"x"}`},
	}
	for _, c := range same {
		if h(c[0]) != h(c[1]) {
			t.Errorf("differ, want identical apart from transport fields:\n%s\n%s", c[0], c[1])
		}
	}
	differ := [][2]string{
		{`{"type":"x","delta":{"seq":5},"seq": 5}`, `{"type":"x","delta":{"seq":6},"seq": 5}`},
		{`{"type":"x","k":2}`, `{"type":"x","k":3}`},
		{`{"type":"x","k":2}`, `{"type":"x","k":2,"j":1}`},
		{`{"type":"x","a":1,"b":2}`, `{"type":"x","a":2,"b":1}`},
		{`{"type":"x","k":{"a":1}}`, `{"type":"x","k":{ "a":1}}`}, // nested bytes are content
		{`not json`, `not json!`},
	}
	for _, c := range differ {
		if h(c[0]) == h(c[1]) {
			t.Errorf("identical, want different:\n%s\n%s", c[0], c[1])
		}
	}
	if !IsTransportField("seq") || IsTransportField("event_seq") {
		t.Error("IsTransportField")
	}
}
