package view

import (
	"io"
	"strconv"
	"testing"

	"github.com/lettadev/wsproxy/trace"
)

// BenchmarkCatLine300 measures cat's summary line for 300-byte server
// events.
func BenchmarkCatLine300(b *testing.B) {
	p := `{"type":"stream_delta","seq":12345,"event_seq":678,"idempotency_key":"stream_delta:678:9f0c3b1e","delta":{"text":"` +
		"the quick brown fox jumps over the lazy dog, again and again, until the payload is about three hundred bytes long" +
		`"},"runtime":{"agent_id":"agent-1","conversation_id":"default"},"emitted_at":"2026-12-01T10:00:00.000Z"}`
	r := &trace.Record{Kind: trace.KindFrame, T: t0, Conn: "c1", From: trace.Server, Op: trace.OpText, Payload: []byte(p), Form: trace.FormMsg, Size: len(p), Line: 1} // as read from a file
	c := NewCat(io.Discard, Options{})
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r.Line = int64(i)
		c.Write(r)
	}
}

// BenchmarkStats300 measures the stats collector on command/reply pairs.
func BenchmarkStats300(b *testing.B) {
	c := NewCollector(nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		id := strconv.Itoa(i)
		c.Write(frame(i, "c1", trace.Client, `{"type":"read_file","request_id":"r`+id+`","path":"/workspace/project/notes.txt"}`))
		c.Write(frame(i, "c1", trace.Server, `{"type":"read_file_response","request_id":"r`+id+`","seq":1,"success":true,"content":"hello"}`))
	}
}
