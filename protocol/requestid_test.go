package protocol

import "testing"

func TestRewriteRequestID(t *testing.T) {
	m := map[string]string{"rid-1": "new\"1", "perm-1": "x"}
	for _, c := range []struct{ in, want string }{
		// Top level only, escapes in and out, everything else byte-exact.
		{`{"type":"r","request_id":"rid-1","payload":{"request_id":"rid-1"}}`, `{"type":"r","request_id":"new\"1","payload":{"request_id":"rid-1"}}`},
		{`{"request_id" : "rid\u002d1" , "a":[1, 2]}`, `{"request_id" : "new\"1" , "a":[1, 2]}`},
		{`{"type":"r","request_id":"other"}`, `{"type":"r","request_id":"other"}`},
		{`{"type":"r","request_id":7}`, `{"type":"r","request_id":7}`},
	} {
		got, ok := RewriteRequestID(nil, []byte(c.in), m)
		if !ok {
			got = []byte(c.in)
		}
		if string(got) != c.want || ok != (c.in != c.want) {
			t.Errorf("%s:\n got %s (%v)\nwant %s", c.in, got, ok, c.want)
		}
	}
}
