package view

import (
	"io"
	"testing"

	"github.com/lettadev/wsproxy/trace"
)

// FuzzViews: any line that parses as a record renders in every view
// without panicking.
func FuzzViews(f *testing.F) {
	for _, s := range []string{
		`{"kind":"frame","t":"2026-12-01T10:00:00.000000000Z","conn":"c1","from":"client","op":"text","size":20,"msg":{"type":"read_file","request_id":"r1","path":"/a"}}`,
		`{"kind":"frame","t":"2026-12-01T10:00:00.000000000Z","conn":"c1","from":"server","op":"text","size":3,"text":"{\n}"}`,
		`{"kind":"frame","t":"2026-12-01T10:00:00.000000000Z","conn":"c1","from":"server","op":"binary","size":2,"data":"/wA="}`,
		`{"kind":"close","t":"2026-12-01T10:00:00.000000000Z","conn":"c1","by":"proxy","code":1001,"reason":"bye"}`,
		`{"kind":"http","t":"2026-12-01T10:00:00.000000000Z","conn":"h1","method":"GET","url":"/x","status":200,"response_text":"{\"a\":[1,2,{\"b\":null}]}"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var r trace.Record
		if trace.ParseLine(line, &r) != nil {
			return
		}
		AppendLine(nil, &r, t0, Options{Color: true, File: "f"})
		Show(io.Discard, &r, t0, true, Options{Color: true})
		c := NewCollector(nil)
		c.Write(&r)
		c.Result()
	})
}
