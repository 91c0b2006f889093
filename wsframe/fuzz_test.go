package wsframe

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// fuzzConfig turns a fuzzer byte into a decoder configuration: the sender,
// whether and how permessage-deflate was negotiated, and a maximum size.
func fuzzConfig(c uint8) Config {
	cfg := Config{Sender: Side(c % 3)}
	switch (c >> 2) & 3 {
	case 1:
		cfg.Deflate = &DeflateParams{}
	case 2:
		cfg.Deflate = &DeflateParams{ClientNoContextTakeover: true, ServerNoContextTakeover: true}
	case 3:
		cfg.Deflate = &DeflateParams{ClientNoContextTakeover: true}
	}
	cfg.MaxMessageSize = [4]int64{64, 1000, 70000, 0}[(c>>4)&3]
	return cfg
}

func fuzzSeeds(f *testing.F) [][]byte {
	comp, err := NewCompressor(6, true)
	if err != nil {
		f.Fatal(err)
	}
	c1, _ := comp.Compress(nil, []byte("hello hello hello"))
	c2, _ := comp.Compress(nil, []byte("hello again"))
	bomb, _ := comp.Compress(nil, make([]byte, 100000))
	return [][]byte{
		nil,
		cframe(OpText, true, "hello"),
		sframe(OpBinary, true, string(make([]byte, 300))),
		concat(cframe(OpText, false, "frag"), cframe(OpPing, true, "p"), cframe(OpContinuation, true, "ment")),
		concat(sframe(OpClose, true, string(ClosePayload(1000, "bye"))), sframe(OpText, true, "late")),
		concat(AppendFrame(nil, Header{Fin: true, RSV1: true, Opcode: OpText}, c1), AppendFrame(nil, Header{Fin: true, RSV1: true, Opcode: OpText, Masked: true}, c2)),
		AppendFrame(nil, Header{Fin: true, RSV1: true, Opcode: OpBinary}, bomb),
		{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2},                         // length with the top bit set
		{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}, // 2^63-1
		{0x8b, 0x00, 0x83, 0x01, 'x', 0x40, 0x00, 0x00, 0x7e, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e'},
		concat(cframe(OpContinuation, false, "x"), cframe(OpText, false, "a"), cframe(OpBinary, true, "b"), cframe(OpClose, true, "1")),
	}
}

// FuzzDecoder feeds arbitrary bytes, split at fuzzer-chosen points: the
// decoder must not panic, must give the same events however the input is
// split, keep its offsets in order and stay within its memory bound.
func FuzzDecoder(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(uint8(i*37), uint64(i), s)
	}
	f.Fuzz(func(t *testing.T, cfgByte uint8, splitSeed uint64, data []byte) {
		cfg := fuzzConfig(cfgByte)
		whole, d := decodeSplit(cfg, data, nil)
		checkInvariants(t, whole, int64(len(data)))
		if d.Offset() != int64(len(data)) {
			t.Fatalf("Offset %d after %d bytes", d.Offset(), len(data))
		}
		_ = d.End()
		for _, e := range whole {
			if int64(len(e.Message.Payload)) > d.max {
				t.Fatalf("payload of %d bytes over the maximum %d", len(e.Message.Payload), d.max)
			}
		}

		rng := newRand(splitSeed)
		split := NewDecoder(cfg)
		var evs []Event
		bound := 5*int(split.max) + 256<<10
		for pos := 0; pos < len(data); {
			n := 1 + rng.IntN(1+len(data)/(1+rng.IntN(8)))
			split.Feed(data[pos:min(pos+n, len(data))])
			pos += n
			for split.Next() {
				evs = append(evs, split.Event().Clone())
				if m := split.memSize(); m > bound {
					t.Fatalf("decoder holds %d bytes, bound %d", m, bound)
				}
			}
		}
		if !reflect.DeepEqual(evs, whole) {
			t.Fatalf("split decode differs:\n%s\nvs whole:\n%s", dumpEvents(evs), dumpEvents(whole))
		}
	})
}

type rtMessage struct {
	op         Opcode
	payload    []byte
	compressed bool
	frames     int
}

// FuzzRoundTrip encodes random messages with random fragmentation, masking,
// compression and interleaved control frames, and decodes them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint8(0), []byte("hello, world"))
	f.Add(uint64(2), uint8(0x05), bytes.Repeat([]byte("compress me "), 50))
	f.Add(uint64(3), uint8(0x1a), make([]byte, 1000))
	f.Add(uint64(4), uint8(0x36), []byte{0xff, 0, 0x80, 0x7f})
	f.Fuzz(roundTrip)
}

func roundTrip(t *testing.T, seed uint64, cfgByte uint8, data []byte) {
	{
		rng := newRand(seed)
		cfg := fuzzConfig(cfgByte)
		cfg.MaxMessageSize = 0
		var comp *Compressor
		if cfg.Deflate != nil {
			level := [...]int{-2, 0, 1, 5, 9}[rng.IntN(5)]
			comp = fuzzCompressor(t, level, cfg.Deflate.ContextTakeover(cfg.Sender))
		}
		frame := func(s []byte, h Header, p []byte) []byte {
			h.Masked = cfg.Sender == Client || (cfg.Sender == AnySide && rng.IntN(2) == 0)
			h.MaskKey = [4]byte{byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256)), byte(rng.UintN(256))}
			if rng.IntN(10) == 0 && len(p) <= 125 { // non-minimal length
				h.Len = 4
				if h.Masked {
					h.Len = 8
				}
			}
			return AppendFrame(s, h, p)
		}
		piece := func() []byte {
			if len(data) == 0 {
				return nil
			}
			i := rng.IntN(len(data))
			p := data[i : i+rng.IntN(min(len(data)-i, 400)+1)]
			return bytes.Repeat(p, 1+rng.IntN(3))
		}
		var stream []byte
		var want []rtMessage
		control := func() {
			op := [2]Opcode{OpPing, OpPong}[rng.IntN(2)]
			p := piece()
			p = p[:min(len(p), 125)]
			stream = frame(stream, Header{Fin: true, Opcode: op}, p)
			want = append(want, rtMessage{op: op, payload: p, frames: 1})
		}
		for n := rng.IntN(8); n >= 0; n-- {
			m := rtMessage{op: [2]Opcode{OpText, OpBinary}[rng.IntN(2)], payload: piece()}
			wire := m.payload
			if comp != nil && rng.IntN(3) > 0 {
				m.compressed = true
				var err error
				if wire, err = comp.Compress(nil, m.payload); err != nil {
					t.Fatal(err)
				}
			}
			// Split the wire payload into fragments, maybe empty ones.
			m.frames = 1 + rng.IntN(4)
			for i := 0; i < m.frames; i++ {
				end := len(wire)
				if i < m.frames-1 {
					end = rng.IntN(len(wire) + 1)
				}
				h := Header{Fin: i == m.frames-1, Opcode: OpContinuation}
				if i == 0 {
					h.Opcode, h.RSV1 = m.op, m.compressed
				}
				stream = frame(stream, h, wire[:end])
				wire = wire[end:]
				if !h.Fin && rng.IntN(3) == 0 {
					control()
				}
			}
			// Control frames complete before the message they interrupt.
			want = append(want, m)
		}
		if rng.IntN(2) == 0 {
			r := piece()
			p := ClosePayload(uint16(rng.UintN(65536)), string(r[:min(len(r), 123)]))
			stream = frame(stream, Header{Fin: true, Opcode: OpClose}, p)
			want = append(want, rtMessage{op: OpClose, payload: p, frames: 1})
		}

		evs, d := decodeSplit(cfg, stream, randomSplits(rng, len(stream), 1+rng.IntN(64)))
		checkInvariants(t, evs, int64(len(stream)))
		var got []rtMessage
		for _, e := range evs {
			switch e.Kind {
			case ErrorEvent:
				if !errorsIsAny(e.Err, ErrNonMinimalLength) {
					t.Fatalf("unexpected %v\n%s", e.Err, dumpEvents(evs))
				}
			case MessageEvent:
				m := e.Message
				got = append(got, rtMessage{op: m.Opcode, payload: m.Payload, compressed: m.Compressed, frames: m.Frames})
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d messages, want %d\n%s", len(got), len(want), dumpEvents(evs))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.op != w.op || !bytes.Equal(g.payload, w.payload) || g.compressed != w.compressed || g.frames != w.frames {
				t.Fatalf("message %d: got %s, want %s", i, fmtRT(g), fmtRT(w))
			}
		}
		if err := d.End(); err != nil {
			t.Fatal(err)
		}
	}
}

// fuzzCompressors caches compressors: creating one per run would dominate
// the fuzzer's time.
var fuzzCompressors = map[[2]int]*Compressor{}

func fuzzCompressor(t *testing.T, level int, takeover bool) *Compressor {
	k := [2]int{level, 0}
	if takeover {
		k[1] = 1
	}
	c := fuzzCompressors[k]
	if c == nil {
		var err error
		if c, err = NewCompressor(level, takeover); err != nil {
			t.Fatal(err)
		}
		fuzzCompressors[k] = c
	}
	c.Reset()
	return c
}

func errorsIsAny(err error, targets ...error) bool {
	pe, ok := err.(*Error)
	if !ok {
		return false
	}
	for _, t := range targets {
		if pe.Err == t {
			return true
		}
	}
	return false
}

func fmtRT(m rtMessage) string {
	return fmt.Sprintf("%s %d bytes compressed=%v frames=%d", m.op, len(m.payload), m.compressed, m.frames)
}
