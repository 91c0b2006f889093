package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/protocol"
)

var t0 = time.Date(2026, 11, 28, 17, 4, 18, 516000001, time.UTC)

func roundTrip(t *testing.T, r *Record) *Record {
	t.Helper()
	line, err := AppendLine(nil, r)
	if err != nil {
		t.Fatalf("AppendLine: %v", err)
	}
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one line: %q", line)
	}
	if !json.Valid(line) {
		t.Fatalf("line is not valid JSON: %q", line)
	}
	var got Record
	if err := ParseLine(line, &got); err != nil {
		t.Fatalf("ParseLine(%s): %v", line, err)
	}
	return &got
}

func TestFramePayloadForms(t *testing.T) {
	cases := []struct {
		name string
		op   Op
		p    string
		form Form
		key  string
	}{
		{"object", OpText, `{"type":"ping"}`, FormMsg, `"msg":{"type":"ping"}`},
		{"object with inner spaces", OpText, `{"type" : "ping", "a":[1, 2]}`, FormMsg, `"msg":{"type" : "ping"`},
		{"pretty JSON", OpText, "{\n  \"type\": \"ping\"\n}", FormText, `"text":"{\n  \"type\": \"ping\"\n}"`},
		{"leading space", OpText, ` {"type":"ping"}`, FormText, `"text":" {`},
		{"array", OpText, `[1,2]`, FormText, `"text":"[1,2]"`},
		{"non-JSON text", OpText, `hello <world>`, FormText, `"text":"hello <world>"`},
		{"invalid JSON object", OpText, `{"type":}`, FormText, `"text":"{\"type\":}"`},
		{"invalid UTF-8", OpText, "caf\xe9", FormData, `"data":"Y2Fm6Q=="`},
		{"empty text", OpText, "", FormText, `"text":""`},
		{"binary", OpBinary, "\x00\x01\xff", FormData, `"data":"AAH/"`},
		{"empty binary", OpBinary, "", FormData, `"size":0}`},
		{"ping", OpPing, "hb", FormData, `"data":"aGI="`},
		{"control chars", OpText, "a\x00b\x1f\u2028", FormText, `"text":"a\u0000b\u001f`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Record{Kind: KindFrame, T: t0, Conn: "c1", From: Server, Op: c.op, Payload: []byte(c.p), Size: len(c.p)}
			line, _ := AppendLine(nil, r)
			if !strings.Contains(string(line), c.key) {
				t.Errorf("line %s lacks %s", line, c.key)
			}
			got := roundTrip(t, r)
			if !bytes.Equal(got.Payload, []byte(c.p)) || got.Form != c.form || got.Op != c.op || got.Size != len(c.p) {
				t.Errorf("got %q form %d op %s size %d", got.Payload, got.Form, got.Op, got.Size)
			}
			if got.T != t0 || got.Conn != "c1" || got.From != Server {
				t.Errorf("envelope: %+v", got)
			}
		})
	}
}

func TestAllKindsRoundTrip(t *testing.T) {
	recs := []*Record{
		NewHeader("wsproxy", "0.1.0", SourceProxy, t0),
		{Kind: KindOpen, T: t0, Conn: "c1", Open: &Open{URL: "/v1/environments/conn-1/status/ws?agentId=a&conversationId=c&channel=control&token=%5BREDACTED%5D",
			Headers: map[string][]string{"Authorization": {"[REDACTED]"}, "User-Agent": {"x"}}, Upstream: "wss://api.letta.com",
			Subprotocol: "v2", Extensions: "permessage-deflate; client_max_window_bits=15",
			Session: protocol.Session{ConnectionID: "conn-1", AgentID: "a", ConversationID: "c", Channel: "control"}}, Redacted: true},
		{Kind: KindFrame, T: t0, Conn: "c1", From: Client, Op: OpText, Payload: []byte(`{"type":"ack","seq":1}`), Size: 22, WireFrames: 3, WireSize: 40, Compressed: true},
		{Kind: KindFrame, T: t0, Conn: "c1", From: Client, Op: OpClose, Payload: []byte("\x03\xe8bye"), Size: 5, Code: 1000, Reason: "bye"},
		{Kind: KindClose, T: t0, Conn: "c1", By: Proxy, Code: 1001, Reason: "going away"},
		{Kind: KindClose, T: t0, Conn: "c2", By: Client},
		{Kind: KindError, T: t0, Conn: "c1", Message: "upstream: connection reset"},
		{Kind: KindHTTP, T: t0, Conn: "h1", HTTP: &HTTP{Method: "GET", URL: "/v1/environments?onlineOnly=true", Status: 200,
			RequestHeaders: map[string][]string{"Accept": {"*/*"}}, Duration: 1500 * time.Microsecond,
			ResponseBody: &Body{Data: []byte(`{"connections":[]}`), Form: FormMsg, Size: 18}}},
	}
	for _, r := range recs {
		got := roundTrip(t, r)
		want := *r
		if want.Kind == KindFrame && want.Form == FormAuto {
			want.Form = FormOf(want.Op, want.Payload)
		}
		if want.HTTP != nil && want.HTTP.ResponseBody != nil {
			want.HTTP.ResponseBody.Form = FormMsg
		}
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(got)
		if !bytes.Equal(a, b) {
			t.Errorf("%s round trip:\n got %s\nwant %s", r.Kind, b, a)
		}
	}
}

func TestParseLineErrors(t *testing.T) {
	for _, line := range []string{
		``, `not json`, `[]`, `{"t":"2026-11-28T17:04:18.516000001Z"}`,
		`{"kind":"frame","t":"yesterday","conn":"c","from":"client","op":"text","size":0}`,
		`{"kind":"frame","t":"2026-11-28T17:04:18Z","conn":"c","from":"nobody","op":"text","size":0}`,
		`{"kind":"frame","t":"2026-11-28T17:04:18Z","conn":"c","from":"client","op":"shout","size":0}`,
		`{"kind":"frame","t":"2026-11-28T17:04:18Z","conn":"c","from":"client","op":"binary","size":0,"data":"!!"}`,
		`{"kind":"frame","t":"2026-11-28T17:04:18Z","conn":"c","from":"client","op":"text","size":"x"}`,
		`{"kind":"frame","t":"2026-11-28T17:04:18Z","conn":"c","from":"client","op":"text","size":1,"text":"a","msg":{}}`,
		`{"kind":"frame","t":"2026-11-28T17:04:18Z"} trailing`,
		`{"kind":"frame","t":"2026-11-28T17:04:18Z","conn":"c","from":"client","op":"text","size":1,"msg":`,
	} {
		var r Record
		if err := ParseLine([]byte(line), &r); err == nil {
			t.Errorf("ParseLine(%q): no error", line)
		}
	}
}

func TestTimes(t *testing.T) {
	for _, tm := range []time.Time{t0, t0.Truncate(time.Second), time.Date(2026, 2, 28, 23, 59, 59, 999999999, time.UTC), time.Unix(0, 1).UTC()} {
		b := AppendTime(nil, tm)
		if string(b) != tm.UTC().Format(TimeLayout) {
			t.Errorf("AppendTime = %s want %s", b, tm.Format(TimeLayout))
		}
		got, err := ParseTime(b)
		if err != nil || !got.Equal(tm) {
			t.Errorf("ParseTime(%s) = %v, %v", b, got, err)
		}
	}
	for _, s := range []string{"2026-11-28T17:04:18Z", "2026-11-28T17:04:18.5Z", "2026-11-28T18:04:18.5+01:00"} {
		want, _ := time.Parse(time.RFC3339Nano, s)
		got, err := ParseTime([]byte(s))
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%s) = %v %v, want %v", s, got, err, want)
		}
	}
	if _, err := ParseTime([]byte("2026-02-31T00:00:00Z")); err == nil {
		t.Error("accepted February 31")
	}
}

// TestRandomPayloadsRoundTrip is a property test: any payload of any
// opcode comes back byte-exact.
func TestRandomPayloadsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	ops := []Op{OpText, OpBinary, OpPing, OpPong, OpClose}
	for i := 0; i < 5000; i++ {
		p := randomPayload(rng)
		op := ops[rng.Intn(len(ops))]
		got := roundTrip(t, &Record{Kind: KindFrame, T: t0, Conn: "c", From: Client, Op: op, Payload: p, Size: len(p)})
		if !bytes.Equal(got.Payload, p) {
			t.Fatalf("payload %q came back %q", p, got.Payload)
		}
	}
}

func randomPayload(rng *rand.Rand) []byte {
	switch rng.Intn(5) {
	case 0: // random bytes
		p := make([]byte, rng.Intn(64))
		rng.Read(p)
		return p
	case 1: // JSON object, possibly pretty-printed
		v := map[string]any{"type": "stream_delta", "n": rng.Intn(1000), "s": string(rune(rng.Intn(0x10FFFF)))}
		if rng.Intn(2) == 0 {
			b, _ := json.MarshalIndent(v, "", "  ")
			return b
		}
		b, _ := json.Marshal(v)
		return b
	case 2: // text with escapes and control characters
		var sb strings.Builder
		for j := rng.Intn(40); j > 0; j-- {
			runes := []rune("a\"\\\n\t\x00\x7f\u2028é😀{}")
			sb.WriteRune(runes[rng.Intn(len(runes))])
		}
		return []byte(sb.String())
	case 3:
		return nil
	default: // object with odd whitespace
		return []byte("{ \"type\" :\t\"x\" }")
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(0), []byte(`{"type":"ping"}`))
	f.Add(uint8(0), []byte("{\n}"))
	f.Add(uint8(1), []byte{0, 1, 2})
	f.Add(uint8(0), []byte("caf\xe9"))
	f.Add(uint8(4), []byte("\x03\xe8"))
	f.Fuzz(func(t *testing.T, opn uint8, p []byte) {
		op := []Op{OpText, OpBinary, OpPing, OpPong, OpClose}[int(opn)%5]
		r := &Record{Kind: KindFrame, T: t0, Conn: "c", From: Server, Op: op, Payload: p, Size: len(p)}
		line, err := AppendLine(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(line) || bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("bad line %q", line)
		}
		var got Record
		if err := ParseLine(line, &got); err != nil {
			t.Fatalf("ParseLine(%q): %v", line, err)
		}
		if !bytes.Equal(got.Payload, p) {
			t.Fatalf("payload %q came back %q", p, got.Payload)
		}
	})
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"kind":"frame","t":"2026-11-28T17:04:18.516000001Z","conn":"c1","from":"server","op":"text","size":15,"msg":{"type":"ping"}}`))
	f.Add([]byte(`{"kind":"header","t":"2026-11-28T17:04:18Z","format":"wsproxy-trace","version":"1.0"}`))
	f.Add([]byte(`{"kind":"http","t":"2026-11-28T17:04:18Z","method":"GET","response_text":"x","duration_ms":1.5}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Record
		if ParseLine(line, &r) != nil {
			return
		}
		// What parses must encode again and parse to the same payload.
		if r.Kind != KindFrame {
			return
		}
		out, err := AppendLine(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		var again Record
		if err := ParseLine(out, &again); err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", out, err)
		}
		if !bytes.Equal(again.Payload, r.Payload) {
			t.Fatalf("payload changed: %q vs %q", again.Payload, r.Payload)
		}
	})
}

func TestSourceSinkPlumbing(t *testing.T) {
	recs := []*Record{NewHeader("t", "0", SourceSimulator, t0),
		{Kind: KindFrame, T: t0, Conn: "c1", From: Client, Op: OpText, Payload: []byte(`{"type":"ping"}`)}}
	var a, b []*Record
	failing := SinkFunc(func(*Record) error { return errFail })
	tee := Tee{SinkFunc(func(r *Record) error { a = append(a, r); return nil }), failing,
		SinkFunc(func(r *Record) error { b = append(b, r); return nil })}
	n, err := Copy(tee, &SliceSource{Records: recs})
	if n != 0 || err == nil {
		t.Fatalf("Copy through a failing sink: %d, %v", n, err)
	}
	if len(a) != 1 || len(b) != 1 {
		t.Errorf("a Tee stops at a failing sink: %d %d", len(a), len(b))
	}
	a, b = nil, nil
	n, err = Copy(Tee{SinkFunc(func(r *Record) error { a = append(a, r); return nil })}, &SliceSource{Records: recs})
	if n != 2 || err != nil || len(a) != 2 || a[1] != recs[1] {
		t.Errorf("Copy: %d %v %d", n, err, len(a))
	}
}

var errFail = errors.New("fail")
