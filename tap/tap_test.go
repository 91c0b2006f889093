package tap

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// handshake parses a scripted upgrade exchange, as a capture importer
// would hand it over.
func handshake(t *testing.T, query, extensions string) Handshake {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
		"GET /v1/environments/conn-1/status/ws?agentId=agent-1&conversationId=default&channel=control" + query + " HTTP/1.1\r\n" +
			"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer sk-secret\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:50000"
	raw := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	if extensions != "" {
		raw += "Sec-WebSocket-Extensions: " + extensions + "\r\n"
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw+"\r\n")), req)
	if err != nil {
		t.Fatal(err)
	}
	return Handshake{Conn: "c1", Start: t0, Request: req, Response: resp, Upstream: "ws://127.0.0.1:8766"}
}

func frame(fin bool, op wsframe.Opcode, masked, rsv1 bool, payload []byte) []byte {
	h := wsframe.Header{Fin: fin, Opcode: op, Masked: masked, RSV1: rsv1}
	if masked {
		h.MaskKey = [4]byte{1, 2, 3, 4}
	}
	return wsframe.AppendFrame(nil, h, payload)
}

// feedBytewise feeds a stream one byte at a time, the worst chunking.
func feedBytewise(c *Conn, from trace.Side, b []byte) []*trace.Record {
	var out []*trace.Record
	for i := range b {
		out = append(out, c.Feed(from, t0.Add(time.Duration(i)), b[i:i+1])...)
	}
	return out
}

func describe(recs []*trace.Record) []string {
	var out []string
	for _, r := range recs {
		switch r.Kind {
		case trace.KindFrame:
			out = append(out, fmt.Sprintf("%s %s %s frames=%d", r.From, r.Op, r.Payload, r.Frames()))
		default:
			out = append(out, fmt.Sprintf("%s %s", r.Kind, r.Message))
		}
	}
	return out
}

func TestOpenRecordRedacted(t *testing.T) {
	_, recs := Open(handshake(t, "&token=sk-query", ""), Options{})
	if len(recs) != 1 || recs[0].Kind != trace.KindOpen {
		t.Fatalf("got %v", describe(recs))
	}
	o := recs[0].Open
	if strings.Contains(o.URL, "sk-query") || o.Headers["Authorization"][0] != redact.Placeholder || !recs[0].Redacted {
		t.Errorf("secrets reached the open record: %+v", o)
	}
	if o.Session.ConnectionID != "conn-1" || o.Session.AgentID != "agent-1" || o.Client != "127.0.0.1:50000" {
		t.Errorf("session %+v client %q", o.Session, o.Client)
	}
	_, kept := Open(handshake(t, "&token=sk-query", ""), Options{Redact: redact.Policy{Keep: true}})
	if !strings.Contains(kept[0].Open.URL, "sk-query") || kept[0].Redacted {
		t.Errorf("Keep redacted anyway: %+v", kept[0].Open)
	}
}

// Fragments are reassembled, a ping between them comes out in place, and
// the chunking of the bytes does not matter.
func TestFragmentsWithInterleavedPing(t *testing.T) {
	var stream []byte
	stream = append(stream, frame(false, wsframe.OpText, true, false, []byte(`{"type":"input",`))...)
	stream = append(stream, frame(true, wsframe.OpPing, true, false, []byte("hb"))...)
	stream = append(stream, frame(true, wsframe.OpContinuation, true, false, []byte(`"request_id":"r1"}`))...)
	want := []string{"client ping hb frames=1", `client text {"type":"input","request_id":"r1"} frames=2`}
	for _, chunked := range []bool{false, true} {
		c, _ := Open(handshake(t, "", ""), Options{})
		var recs []*trace.Record
		if chunked {
			recs = feedBytewise(c, trace.Client, stream)
		} else {
			recs = c.Feed(trace.Client, t0, stream)
		}
		if got := describe(recs); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("chunked=%v: got %q, want %q", chunked, got, want)
		}
	}
}

// permessage-deflate with context takeover: the second message refers
// back to the first; the tap inflates both.
func TestDeflateContextTakeover(t *testing.T) {
	comp, err := wsframe.NewCompressor(6, true)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []string{`{"type":"stream_delta","delta":{"content":"hello hello hello"}}`, `{"type":"stream_delta","delta":{"content":"hello hello hello"}}`}
	var stream []byte
	for _, m := range msgs {
		z, err := comp.Compress(nil, []byte(m))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, frame(true, wsframe.OpText, false, true, z)...)
	}
	c, _ := Open(handshake(t, "", "permessage-deflate"), Options{})
	recs := feedBytewise(c, trace.Server, stream)
	if len(recs) != 2 {
		t.Fatalf("got %v", describe(recs))
	}
	for i, r := range recs {
		if string(r.Payload) != msgs[i] || !r.Compressed {
			t.Errorf("message %d: %q compressed=%v", i, r.Payload, r.Compressed)
		}
	}
	if len(stream) >= 2*len(msgs[0]) {
		t.Errorf("the second message did not use the shared context (%d wire bytes)", len(stream))
	}
}

// A stream cut in the middle of a frame: the records before the cut, then
// an error naming where it ended.
func TestCutStream(t *testing.T) {
	whole := frame(true, wsframe.OpText, false, false, []byte(`{"type":"pong"}`))
	cut := frame(true, wsframe.OpText, false, false, []byte(`{"type":"stream_delta","seq":2}`))
	c, _ := Open(handshake(t, "", ""), Options{})
	recs := c.Feed(trace.Server, t0, append(whole, cut[:10]...))
	recs = append(recs, c.End(trace.Server, t0.Add(time.Second), io.EOF)...)
	got := describe(recs)
	if len(got) != 2 || got[0] != `server text {"type":"pong"} frames=1` ||
		!strings.Contains(got[1], "upstream: closed the connection without a close frame") || !strings.Contains(got[1], "payload bytes missing") {
		t.Fatalf("got %q", got)
	}
}

// After both close frames the close record tells who closed first.
func TestCloseRecord(t *testing.T) {
	c, _ := Open(handshake(t, "", ""), Options{})
	c.Feed(trace.Client, t0, frame(true, wsframe.OpClose, true, false, wsframe.ClosePayload(1000, "bye")))
	c.Feed(trace.Server, t0, frame(true, wsframe.OpClose, false, false, wsframe.ClosePayload(1000, "")))
	if recs := c.End(trace.Client, t0, io.EOF); len(recs) != 0 {
		t.Errorf("an orderly end made %v", describe(recs))
	}
	r := c.Close(t0, "", 0, "")
	if r.By != trace.Client || r.Code != 1000 || r.Reason != "bye" {
		t.Errorf("close record %+v", r)
	}
	// The proxy's own cause wins.
	if r := c.Close(t0, trace.Proxy, 1001, "proxy shutting down"); r.By != trace.Proxy || r.Code != 1001 {
		t.Errorf("close record %+v", r)
	}
}

// A frame over the bound stops the stream at its first byte.
func TestOversizeStops(t *testing.T) {
	c, _ := Open(handshake(t, "", ""), Options{MaxMessage: 16, OversizeAction: "closed"})
	small := frame(true, wsframe.OpText, false, false, []byte(`{}`))
	big := frame(true, wsframe.OpText, false, false, []byte(strings.Repeat("x", 17)))
	s := c.Stream(trace.Server)
	recs := s.Feed(nil, t0, append(small, big...))
	if len(recs) != 2 || recs[1].Kind != trace.KindError || !strings.HasSuffix(recs[1].Message, ": closed") {
		t.Fatalf("got %q", describe(recs))
	}
	if s.Stop() != int64(len(small)) {
		t.Errorf("stop at %d, want %d", s.Stop(), len(small))
	}
	if more := s.Feed(nil, t0, small); len(more) != 0 {
		t.Errorf("decoded after the stop: %v", describe(more))
	}
}

// Secrets in payloads are redacted in the record, with the flag set.
func TestPayloadRedacted(t *testing.T) {
	c, _ := Open(handshake(t, "", ""), Options{})
	recs := c.Feed(trace.Client, t0, frame(true, wsframe.OpText, true, false, []byte(`{"type":"secret_set","api_key":"sk-live-1"}`)))
	if len(recs) != 1 || strings.Contains(string(recs[0].Payload), "sk-live-1") || !recs[0].Redacted {
		t.Fatalf("got %q", describe(recs))
	}
}

func TestRefused(t *testing.T) {
	h := handshake(t, "&token=sk-q", "")
	h.Response.StatusCode = 401
	h.Answered = t0.Add(5 * time.Millisecond)
	r := Refused(h, 401, []byte(`{"error":"unauthorized","token":"sk-x"}`), 40, Options{})
	if r.Kind != trace.KindHTTP || r.HTTP.Status != 401 || !r.HTTP.Upgrade || r.HTTP.Duration != 5*time.Millisecond {
		t.Fatalf("%+v", r.HTTP)
	}
	if strings.Contains(r.HTTP.URL, "sk-q") || strings.Contains(string(r.HTTP.ResponseBody.Data), "sk-x") {
		t.Errorf("secret in the refusal record: %s %s", r.HTTP.URL, r.HTTP.ResponseBody.Data)
	}
}
