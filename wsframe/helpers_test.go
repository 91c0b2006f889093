package wsframe

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

var testKey = [4]byte{0x12, 0x34, 0x56, 0x78}

// cframe builds a masked (client) frame.
func cframe(op Opcode, fin bool, payload string) []byte {
	return AppendFrame(nil, Header{Fin: fin, Opcode: op, Masked: true, MaskKey: testKey}, []byte(payload))
}

// sframe builds an unmasked (server) frame.
func sframe(op Opcode, fin bool, payload string) []byte {
	return AppendFrame(nil, Header{Fin: fin, Opcode: op}, []byte(payload))
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// decodeSplit feeds stream to a new decoder in chunks ending at the given
// split points and returns clones of all events.
func decodeSplit(cfg Config, stream []byte, splits []int) ([]Event, *Decoder) {
	d := NewDecoder(cfg)
	var evs []Event
	prev := 0
	for _, s := range append(splits, len(stream)) {
		if s < prev || s > len(stream) {
			continue
		}
		d.Feed(stream[prev:s])
		for d.Next() {
			evs = append(evs, d.Event().Clone())
		}
		prev = s
	}
	return evs, d
}

func decodeAll(cfg Config, stream []byte) []Event {
	evs, _ := decodeSplit(cfg, stream, nil)
	return evs
}

// randomSplits returns sorted split points for stream length n.
func randomSplits(rng *rand.Rand, n, maxChunk int) []int {
	var s []int
	for pos := 0; pos < n; {
		pos += 1 + rng.IntN(maxChunk)
		s = append(s, min(pos, n))
	}
	return s
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func bytesSplits(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

// messages returns the message events of evs as "op:payload" strings.
func messages(evs []Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == MessageEvent {
			out = append(out, e.Message.Opcode.String()+":"+string(e.Message.Payload))
		}
	}
	return out
}

// errorsOf returns the *Error values of evs.
func errorsOf(evs []Event) []*Error {
	var out []*Error
	for _, e := range evs {
		if e.Kind == ErrorEvent {
			out = append(out, e.Err.(*Error))
		}
	}
	return out
}

func dumpEvents(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		switch e.Kind {
		case FrameEvent:
			fmt.Fprintf(&b, "  frame @%d %s fin=%v len=%d\n", e.Offset, e.Header.Opcode, e.Header.Fin, e.Header.PayloadLen)
		case MessageEvent:
			m := e.Message
			p := string(m.Payload)
			if len(p) > 40 {
				p = p[:40] + "..."
			}
			fmt.Fprintf(&b, "  message @%d-%d %s frames=%d comp=%v %q\n", m.First, m.Last, m.Opcode, m.Frames, m.Compressed, p)
		case ErrorEvent:
			fmt.Fprintf(&b, "  error %v\n", e.Err)
		}
	}
	return b.String()
}

// checkInvariants checks properties every event sequence must have.
func checkInvariants(t testing.TB, evs []Event, streamLen int64) {
	t.Helper()
	lastFrame, lastMsgEnd := int64(-1), int64(-1)
	for i, e := range evs {
		switch e.Kind {
		case FrameEvent:
			if e.Offset <= lastFrame || e.Offset >= streamLen {
				t.Fatalf("event %d: frame offset %d after %d (stream %d)", i, e.Offset, lastFrame, streamLen)
			}
			lastFrame = e.Offset
		case MessageEvent:
			m := e.Message
			if m.First > m.Last || m.Last <= lastMsgEnd || m.Last >= streamLen || m.First != e.Offset || m.Frames < 1 {
				t.Fatalf("event %d: bad message offsets %+v after %d", i, m, lastMsgEnd)
			}
			if m.Last-m.First+1 < m.WireSize {
				t.Fatalf("event %d: wire size %d over span %d-%d", i, m.WireSize, m.First, m.Last)
			}
			lastMsgEnd = m.Last
		case ErrorEvent:
			var pe *Error
			pe, ok := e.Err.(*Error)
			if !ok || pe.Offset != e.Offset || e.Offset > lastFrame || e.Offset < 0 {
				t.Fatalf("event %d: bad error event %+v (last frame %d)", i, e, lastFrame)
			}
		default:
			t.Fatalf("event %d: kind %v", i, e.Kind)
		}
	}
}
