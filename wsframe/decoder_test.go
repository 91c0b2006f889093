package wsframe

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

type wantErr struct {
	err   error
	frame int // index of the frame whose offset the error must name
}

func TestViolations(t *testing.T) {
	deflate := &DeflateParams{}
	h := func(fin, rsv1, rsv2, rsv3 bool, op Opcode) Header {
		return Header{Fin: fin, RSV1: rsv1, RSV2: rsv2, RSV3: rsv3, Opcode: op, Masked: true, MaskKey: testKey}
	}
	frame := func(hd Header, payload string) []byte { return AppendFrame(nil, hd, []byte(payload)) }
	comp, err := NewCompressor(6, false)
	if err != nil {
		t.Fatal(err)
	}
	zeros, _ := comp.Compress(nil, make([]byte, 1000))
	badLen := []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}
	nonMinimal := AppendFrame(nil, Header{Fin: true, Opcode: OpText, Masked: true, MaskKey: testKey, Len: 8}, []byte("short"))

	cases := []struct {
		name    string
		sender  Side
		deflate *DeflateParams
		max     int64
		frames  [][]byte
		errs    []wantErr
		msgs    []string
		dead    bool // framing lost: the trailing frame is not decoded
	}{
		{name: "reserved data opcode", frames: [][]byte{cframe(0x3, true, "x")},
			errs: []wantErr{{ErrReservedOpcode, 0}}},
		{name: "reserved control opcode", frames: [][]byte{cframe(0xB, true, "x")},
			errs: []wantErr{{ErrReservedOpcode, 0}}},
		{name: "RSV1 without deflate", frames: [][]byte{frame(h(true, true, false, false, OpText), "hi")},
			errs: []wantErr{{ErrReservedBits, 0}}, msgs: []string{"text:hi"}},
		{name: "RSV2 with deflate", deflate: deflate, frames: [][]byte{frame(h(true, false, true, false, OpBinary), "hi")},
			errs: []wantErr{{ErrReservedBits, 0}}, msgs: []string{"binary:hi"}},
		{name: "RSV3", frames: [][]byte{frame(h(true, false, false, true, OpText), "hi")},
			errs: []wantErr{{ErrReservedBits, 0}}, msgs: []string{"text:hi"}},
		{name: "RSV1 on ping with deflate", deflate: deflate, frames: [][]byte{frame(h(true, true, false, false, OpPing), "p")},
			errs: []wantErr{{ErrReservedBits, 0}}, msgs: []string{"ping:p"}},
		{name: "RSV1 on continuation with deflate", deflate: deflate,
			frames: [][]byte{cframe(OpText, false, "a"), frame(h(true, true, false, false, OpContinuation), "b")},
			errs:   []wantErr{{ErrReservedBits, 1}}, msgs: []string{"text:ab"}},
		{name: "fragmented ping", frames: [][]byte{cframe(OpPing, false, "p")},
			errs: []wantErr{{ErrFragmentedControl, 0}}, msgs: []string{"ping:p"}},
		{name: "ping over 125 bytes", frames: [][]byte{cframe(OpPing, true, strings.Repeat("p", 126))},
			errs: []wantErr{{ErrControlTooLong, 0}}, msgs: []string{"ping:" + strings.Repeat("p", 126)}},
		{name: "ping over the maximum", max: 100, frames: [][]byte{cframe(OpPing, true, strings.Repeat("c", 101))},
			errs: []wantErr{{ErrFrameTooBig, 0}}},
		{name: "continuation without start", frames: [][]byte{cframe(OpContinuation, true, "x")},
			errs: []wantErr{{ErrUnexpectedContinuation, 0}}},
		{name: "orphan fragments reported once",
			frames: [][]byte{cframe(OpContinuation, false, "x"), cframe(OpContinuation, false, "y"), cframe(OpContinuation, true, "z")},
			errs:   []wantErr{{ErrUnexpectedContinuation, 0}}},
		{name: "data frame while fragmented message open",
			frames: [][]byte{cframe(OpText, false, "a"), cframe(OpBinary, true, "b")},
			errs:   []wantErr{{ErrUnfinishedMessage, 1}}, msgs: []string{"binary:b"}},
		{name: "client frame not masked", sender: Client, frames: [][]byte{sframe(OpText, true, "x")},
			errs: []wantErr{{ErrMaskMissing, 0}}, msgs: []string{"text:x"}},
		{name: "server frame masked", sender: Server, frames: [][]byte{cframe(OpText, true, "x")},
			errs: []wantErr{{ErrMaskUnexpected, 0}}, msgs: []string{"text:x"}},
		{name: "non-minimal length", frames: [][]byte{nonMinimal},
			errs: []wantErr{{ErrNonMinimalLength, 0}}, msgs: []string{"text:short"}},
		{name: "inflate error", deflate: deflate,
			frames: [][]byte{frame(h(false, true, false, false, OpText), ""), cframe(OpContinuation, true, "\xff\xff\xff")},
			errs:   []wantErr{{ErrInflate, 0}}},
		{name: "RSV1 compressed garbage", deflate: deflate, frames: [][]byte{frame(h(true, true, false, false, OpText), "\x07garbage")},
			errs: []wantErr{{ErrInflate, 0}}},
		{name: "frame over the maximum", max: 64, frames: [][]byte{cframe(OpText, true, strings.Repeat("x", 65))},
			errs: []wantErr{{ErrFrameTooBig, 0}}},
		{name: "fragmented frame over the maximum", max: 64,
			frames: [][]byte{cframe(OpText, false, strings.Repeat("x", 65)), cframe(OpContinuation, false, "y"), cframe(OpContinuation, true, "z")},
			errs:   []wantErr{{ErrFrameTooBig, 0}}},
		{name: "message over the maximum", max: 64,
			frames: [][]byte{cframe(OpText, false, strings.Repeat("x", 40)), cframe(OpPing, true, "p"), cframe(OpContinuation, false, strings.Repeat("x", 40)), cframe(OpContinuation, true, "z")},
			errs:   []wantErr{{ErrMessageTooBig, 2}}, msgs: []string{"ping:p"}},
		{name: "message exactly the maximum", max: 64,
			frames: [][]byte{cframe(OpText, false, strings.Repeat("x", 40)), cframe(OpContinuation, true, strings.Repeat("y", 24))},
			msgs:   []string{"text:" + strings.Repeat("x", 40) + strings.Repeat("y", 24)}},
		{name: "inflated message over the maximum", max: 64, deflate: deflate,
			frames: [][]byte{frame(h(true, true, false, false, OpText), string(zeros))},
			errs:   []wantErr{{ErrMessageTooBig, 0}}},
		{name: "new message while a dropped one is open", max: 64,
			frames: [][]byte{cframe(OpText, false, strings.Repeat("x", 65)), cframe(OpText, true, "b")},
			errs:   []wantErr{{ErrFrameTooBig, 0}, {ErrUnfinishedMessage, 1}}, msgs: []string{"text:b"}},
		{name: "close payload of 1 byte", frames: [][]byte{cframe(OpClose, true, "x")},
			errs: []wantErr{{ErrBadClosePayload, 0}, {ErrAfterClose, 1}}, msgs: []string{"close:x"}},
		{name: "frame after close", frames: [][]byte{cframe(OpClose, true, "")},
			errs: []wantErr{{ErrAfterClose, 1}}, msgs: []string{"close:"}},
		{name: "several violations on one frame", sender: Client,
			frames: [][]byte{AppendFrame(nil, Header{Opcode: OpPing, RSV2: true}, []byte(strings.Repeat("p", 200)))},
			errs:   []wantErr{{ErrMaskMissing, 0}, {ErrReservedBits, 0}, {ErrFragmentedControl, 0}, {ErrControlTooLong, 0}},
			msgs:   []string{"ping:" + strings.Repeat("p", 200)}},
		{name: "64-bit length with top bit set", frames: [][]byte{badLen},
			errs: []wantErr{{ErrBadLength, 0}}, dead: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Sender: tc.sender, Deflate: tc.deflate, MaxMessageSize: tc.max}
			tail := cframe(OpText, true, "after")
			if tc.sender == Server {
				tail = sframe(OpText, true, "after")
			}
			frames := append(append([][]byte(nil), tc.frames...), tail)
			stream := concat(frames...)
			var offsets []int64
			var off int64
			for _, f := range frames {
				offsets = append(offsets, off)
				off += int64(len(f))
			}
			evs := decodeAll(cfg, stream)
			checkInvariants(t, evs, int64(len(stream)))
			wantMsgs := tc.msgs
			if !tc.dead {
				wantMsgs = append(append([]string(nil), tc.msgs...), "text:after")
			}
			if got := messages(evs); !reflect.DeepEqual(got, wantMsgs) {
				t.Errorf("messages %q, want %q\n%s", got, wantMsgs, dumpEvents(evs))
			}
			got := errorsOf(evs)
			if len(got) != len(tc.errs) {
				t.Fatalf("errors %v, want %d\n%s", got, len(tc.errs), dumpEvents(evs))
			}
			for i, w := range tc.errs {
				if !errors.Is(got[i], w.err) || got[i].Offset != offsets[w.frame] {
					t.Errorf("error %d: %v, want %v at offset %d", i, got[i], w.err, offsets[w.frame])
				}
				if !strings.HasPrefix(got[i].Error(), "frame at offset ") {
					t.Errorf("error text %q", got[i].Error())
				}
			}
			// Byte-at-a-time feeding must give the same events.
			evs1, d := decodeSplit(cfg, stream, bytesSplits(len(stream)))
			if !reflect.DeepEqual(evs, evs1) {
				t.Errorf("byte-wise decode differs:\n%s\nvs\n%s", dumpEvents(evs), dumpEvents(evs1))
			}
			if endErr := d.End(); (endErr != nil) != tc.dead {
				t.Errorf("End() = %v, dead=%v", endErr, tc.dead)
			}
		})
	}
}

func TestCloseCodes(t *testing.T) {
	for _, code := range []uint16{0, 999, 1000, 1004, 1005, 1006, 1015, 2999, 4999, 5000, 65535} {
		stream := concat(sframe(OpClose, true, string(ClosePayload(code, "bye \xff"))))
		evs := decodeAll(Config{Sender: Server}, stream)
		if len(evs) != 2 || evs[1].Kind != MessageEvent {
			t.Fatalf("code %d: events\n%s", code, dumpEvents(evs))
		}
		m := evs[1].Message
		if !m.HasCloseCode || m.CloseCode != code || m.CloseReason != "bye \xff" || string(m.Payload[2:]) != "bye \xff" {
			t.Errorf("code %d: got %+v", code, m)
		}
	}
	evs := decodeAll(Config{}, sframe(OpClose, true, ""))
	if m := evs[1].Message; m.HasCloseCode || len(m.Payload) != 0 {
		t.Errorf("empty close: %+v", m)
	}
}

func TestFragmentedWithInterleavedControl(t *testing.T) {
	f := [][]byte{
		cframe(OpText, false, "Hel"),
		cframe(OpPing, true, "p1"),
		cframe(OpContinuation, false, "lo, "),
		cframe(OpPong, true, ""),
		cframe(OpContinuation, false, ""),
		cframe(OpContinuation, true, "world"),
		cframe(OpClose, true, string(ClosePayload(1000, "done"))),
	}
	stream := concat(f...)
	off := func(i int) int64 { return int64(len(concat(f[:i]...))) }
	evs := decodeAll(Config{Sender: Client}, stream)
	checkInvariants(t, evs, int64(len(stream)))
	var msgs []Message
	frames := 0
	for _, e := range evs {
		switch e.Kind {
		case MessageEvent:
			msgs = append(msgs, e.Message)
		case FrameEvent:
			frames++
		case ErrorEvent:
			t.Fatalf("unexpected %v", e.Err)
		}
	}
	if frames != 7 || len(msgs) != 4 {
		t.Fatalf("events:\n%s", dumpEvents(evs))
	}
	want := []Message{
		{Opcode: OpPing, Payload: []byte("p1"), Frames: 1, WireSize: int64(len(f[1])), First: off(1), Last: off(2) - 1},
		{Opcode: OpPong, Payload: []byte{}, Frames: 1, WireSize: int64(len(f[3])), First: off(3), Last: off(4) - 1},
		{Opcode: OpText, Payload: []byte("Hello, world"), Frames: 4,
			WireSize: int64(len(f[0]) + len(f[2]) + len(f[4]) + len(f[5])), First: 0, Last: off(6) - 1},
		{Opcode: OpClose, Payload: ClosePayload(1000, "done"), Frames: 1, WireSize: int64(len(f[6])), First: off(6), Last: off(7) - 1,
			HasCloseCode: true, CloseCode: 1000, CloseReason: "done"},
	}
	for i := range want {
		if msgs[i].Payload == nil {
			msgs[i].Payload = []byte{}
		}
		if !reflect.DeepEqual(msgs[i], want[i]) {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, msgs[i], want[i])
		}
	}
	// Event order: the ping message comes right after the ping's frame.
	if evs[2].Kind != MessageEvent || evs[2].Message.Opcode != OpPing {
		t.Errorf("ping not emitted in stream order:\n%s", dumpEvents(evs))
	}
}

func TestLengthBoundaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		for _, masked := range []bool{false, true} {
			payload := make([]byte, n)
			for i := range payload {
				payload[i] = byte(rng.UintN(256))
			}
			hd := Header{Fin: true, Opcode: OpBinary, Masked: masked, MaskKey: [4]byte{9, 8, 7, 6}}
			fr := AppendFrame(nil, hd, payload)
			wantLen := minHeaderLen(int64(n), masked)
			switch {
			case n <= 125 && fr[1]&0x7f != byte(n),
				n > 125 && n <= 65535 && fr[1]&0x7f != 126,
				n > 65535 && fr[1]&0x7f != 127:
				t.Errorf("n=%d: length byte %d", n, fr[1]&0x7f)
			}
			if len(fr) != wantLen+n {
				t.Errorf("n=%d masked=%v: frame %d bytes, want %d", n, masked, len(fr), wantLen+n)
			}
			got, hn, err := ParseHeader(fr)
			if err != nil || hn != wantLen || got.PayloadLen != int64(n) || got.Len != hn || got.Masked != masked {
				t.Errorf("n=%d: ParseHeader = %+v, %d, %v", n, got, hn, err)
			}
			sender := Server
			if masked {
				sender = Client
			}
			for _, splits := range [][]int{nil, randomSplits(rng, len(fr), 7), {1, 2, 3, hn, hn + 1}} {
				evs, _ := decodeSplit(Config{Sender: sender}, fr, splits)
				if len(evs) != 2 || evs[1].Kind != MessageEvent || !bytes.Equal(evs[1].Message.Payload, payload) {
					t.Fatalf("n=%d masked=%v: events\n%s", n, masked, dumpEvents(evs))
				}
			}
		}
	}
}

func TestMaskBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	for n := 0; n < 100; n++ {
		for pos := 0; pos < 4; pos++ {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(rng.UintN(256))
			}
			dst := make([]byte, n)
			next := maskBytes(key, pos, dst, src)
			for i := range src {
				if dst[i] != src[i]^key[(pos+i)%4] {
					t.Fatalf("n=%d pos=%d: byte %d wrong", n, pos, i)
				}
			}
			if next != (pos+n)%4 {
				t.Fatalf("n=%d pos=%d: next %d", n, pos, next)
			}
			// In place, split at a random point.
			cut := 0
			if n > 0 {
				cut = rng.IntN(n)
			}
			buf := bytes.Clone(src)
			p := maskBytes(key, pos, buf[:cut], buf[:cut])
			maskBytes(key, p, buf[cut:], buf[cut:])
			if !bytes.Equal(buf, dst) {
				t.Fatalf("n=%d pos=%d cut=%d: split masking differs", n, pos, cut)
			}
		}
	}
}

// mixedStream builds a stream with every kind of frame, violations and
// compressed messages included.
func mixedStream(t testing.TB, rng *rand.Rand) ([]byte, Config) {
	comp, err := NewCompressor(5, true)
	if err != nil {
		t.Fatal(err)
	}
	var s []byte
	for i := 0; i < 60; i++ {
		payload := []byte(strings.Repeat("payload-"+string(rune('a'+i%26)), rng.IntN(50)))
		key := [4]byte{byte(i), 1, 2, byte(rng.UintN(256))}
		switch rng.IntN(8) {
		case 0:
			s = AppendFrame(s, Header{Fin: true, Opcode: OpPing, Masked: true, MaskKey: key}, payload[:min(len(payload), 125)])
		case 1: // compressed, fragmented
			c, err := comp.Compress(nil, payload)
			if err != nil {
				t.Fatal(err)
			}
			half := len(c) / 2
			s = AppendFrame(s, Header{Opcode: OpText, RSV1: true, Masked: true, MaskKey: key}, c[:half])
			s = AppendFrame(s, Header{Fin: true, Opcode: OpContinuation, Masked: true, MaskKey: key}, c[half:])
		case 2: // violation
			s = AppendFrame(s, Header{Fin: true, Opcode: Opcode(3 + rng.IntN(5)), MaskKey: key}, payload)
		case 3:
			s = AppendFrame(s, Header{Fin: true, Opcode: OpContinuation, Masked: true, MaskKey: key}, payload)
		case 4: // big
			s = AppendFrame(s, Header{Fin: true, Opcode: OpBinary, Masked: true, MaskKey: key}, bytes.Repeat(payload, 300))
		default:
			s = AppendFrame(s, Header{Fin: i%3 != 0, Opcode: OpBinary, Masked: true, MaskKey: key}, payload)
		}
	}
	return s, Config{Sender: Client, Deflate: &DeflateParams{}, MaxMessageSize: 100 << 10}
}

func TestRandomChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	stream, cfg := mixedStream(t, rng)
	want := decodeAll(cfg, stream)
	checkInvariants(t, want, int64(len(stream)))
	if len(messages(want)) < 20 || len(errorsOf(want)) < 3 {
		t.Fatalf("stream too dull:\n%s", dumpEvents(want))
	}
	for i := 0; i < 50; i++ {
		got, _ := decodeSplit(cfg, stream, randomSplits(rng, len(stream), 1+rng.IntN(600)))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split %d: events differ", i)
		}
	}
	got, _ := decodeSplit(cfg, stream, bytesSplits(len(stream)))
	if !reflect.DeepEqual(got, want) {
		t.Fatal("byte-wise: events differ")
	}
}

func TestOversizeFrameNotBuffered(t *testing.T) {
	d := NewDecoder(Config{Sender: Client, MaxMessageSize: 1 << 20})
	hd := AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Masked: true, PayloadLen: 1<<63 - 1})
	d.Feed(hd[:3])
	if d.Next() {
		t.Fatal("event before the header is complete")
	}
	d.Feed(hd[3:])
	var evs []Event
	for d.Next() {
		evs = append(evs, *d.Event())
	}
	if len(evs) != 2 || evs[0].Kind != FrameEvent || evs[0].Header.PayloadLen != 1<<63-1 || !errors.Is(evs[1].Err, ErrFrameTooBig) {
		t.Fatalf("events:\n%s", dumpEvents(evs))
	}
	chunk := make([]byte, 64<<10)
	for i := 0; i < 200; i++ { // 12.5 MiB of payload
		d.Feed(chunk)
		if d.Next() {
			t.Fatalf("event inside a skipped payload: %+v", d.Event())
		}
	}
	if m := d.memSize(); m > 4<<10 {
		t.Errorf("decoder holds %d bytes while skipping", m)
	}
	if want := int64(len(hd) + 200*len(chunk)); d.Offset() != want {
		t.Errorf("Offset() = %d, want %d", d.Offset(), want)
	}
	if err := d.End(); !errors.Is(err, ErrTruncated) {
		t.Errorf("End() = %v", err)
	}
}

func TestFeedDiscardsPendingAndPayloadLifetime(t *testing.T) {
	stream := concat(sframe(OpText, true, "one"), sframe(OpText, true, "two"), sframe(OpText, true, "three"))
	d := NewDecoder(Config{Sender: Server})
	if ev := d.Event(); ev.Kind != 0 {
		t.Fatalf("Event before Next: %+v", ev)
	}
	d.Feed(stream)
	d.Next() // frame "one"
	d.Next() // message "one"
	kept := d.Event().Clone()
	alias := d.Event().Message.Payload
	d.Feed(sframe(OpBinary, true, "four")) // discards "two" and "three"
	var got []string
	for d.Next() {
		if e := d.Event(); e.Kind == MessageEvent {
			got = append(got, string(e.Message.Payload))
		}
	}
	if !reflect.DeepEqual(got, []string{"four"}) || string(kept.Message.Payload) != "one" {
		t.Errorf("got %q, kept %q", got, kept.Message.Payload)
	}
	_ = alias // valid only until the next Next: not checked
	if d.End() != nil || d.Offset() != int64(len(stream)+6) {
		t.Errorf("End %v Offset %d", d.End(), d.Offset())
	}
}

func TestEnd(t *testing.T) {
	full := cframe(OpText, true, "hello")
	cases := []struct {
		stream []byte
		bad    bool
	}{
		{nil, false},
		{full, false},
		{full[:1], true},
		{full[:7], true},
		{cframe(OpText, false, "a"), true},
		{concat(cframe(OpText, false, "a"), cframe(OpContinuation, true, "b")), false},
		{cframe(OpContinuation, false, "orphan"), false},
	}
	for i, tc := range cases {
		_, d := decodeSplit(Config{}, tc.stream, nil)
		if err := d.End(); (err != nil) != tc.bad || (err != nil && !errors.Is(err, ErrTruncated)) {
			t.Errorf("case %d: End() = %v", i, err)
		}
	}
}

func TestDecoderSteadyStateAllocs(t *testing.T) {
	var stream []byte
	for i := 0; i < 100; i++ {
		stream = AppendFrame(stream, Header{Fin: true, Opcode: OpText, Masked: true, MaskKey: testKey}, bytes.Repeat([]byte("x"), 300))
		stream = AppendFrame(stream, Header{Opcode: OpBinary, Masked: true, MaskKey: testKey}, []byte("frag"))
		stream = AppendFrame(stream, Header{Fin: true, Opcode: OpPing, Masked: true, MaskKey: testKey}, []byte("ping"))
		stream = AppendFrame(stream, Header{Fin: true, Opcode: OpContinuation, Masked: true, MaskKey: testKey}, []byte("ment"))
	}
	d := NewDecoder(Config{Sender: Client})
	run := func() {
		for off := 0; off < len(stream); off += 1000 {
			d.Feed(stream[off:min(off+1000, len(stream))])
			for d.Next() {
			}
		}
	}
	run()
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Errorf("%v allocations per stream", a)
	}
}

// TestRelayStopsBeforeOversizeFrame runs the relay pattern of the package
// doc at every read size: the bytes forwarded must be exactly those before
// the oversized frame, even when its header straddles reads.
func TestRelayStopsBeforeOversizeFrame(t *testing.T) {
	const limit = 1000
	var stream []byte
	for i := 0; i < 5; i++ {
		stream = concat(stream, cframe(OpText, true, strings.Repeat("a", 130*i)), cframe(OpPing, false, "x"))
	}
	cut := len(stream)
	stream = concat(stream, AppendFrame(nil, Header{Fin: true, Opcode: OpBinary, Masked: true}, make([]byte, 70000)), cframe(OpText, true, "never"))
	for readSize := 1; readSize <= 40; readSize++ {
		dec := NewDecoder(Config{Sender: Client, MaxMessageSize: limit})
		buf := make([]byte, 64)
		held, pos := 0, 0
		var out []byte
		for pos < len(stream) {
			n := copy(buf[held:held+readSize], stream[pos:])
			pos += n
			base := dec.Offset() - int64(held)
			dec.Feed(buf[held : held+n])
			stop := -1
			for dec.Next() {
				if ev := dec.Event(); ev.Kind == FrameEvent && ev.Header.PayloadLen > limit && stop < 0 {
					stop = int(ev.Offset - base)
				}
			}
			if stop >= 0 {
				out = append(out, buf[:stop]...)
				break
			}
			total := held + n
			held = dec.PartialHeaderLen()
			out = append(out, buf[:total-held]...)
			copy(buf, buf[total-held:total])
		}
		if !bytes.Equal(out, stream[:cut]) {
			t.Fatalf("read size %d: forwarded %d bytes, want the %d before the frame", readSize, len(out), cut)
		}
	}
}

func TestLargeBufferReleased(t *testing.T) {
	d := NewDecoder(Config{Sender: Server, Deflate: &DeflateParams{}})
	comp, _ := NewCompressor(1, true)
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	bigComp, _ := comp.Compress(nil, big)
	small, _ := comp.Compress(nil, []byte("small"))
	feed := func(s []byte) {
		d.Feed(s)
		for d.Next() {
			if e := d.Event(); e.Kind == ErrorEvent {
				t.Fatal(e.Err)
			}
		}
	}
	feed(AppendFrame(nil, Header{Fin: true, Opcode: OpBinary}, big))
	feed(AppendFrame(nil, Header{Fin: true, RSV1: true, Opcode: OpBinary}, bigComp))
	if m := d.memSize(); m < 8<<20 {
		t.Fatalf("memSize %d after two large messages", m)
	}
	for i := 0; i < 2; i++ {
		feed(AppendFrame(nil, Header{Fin: true, Opcode: OpText}, []byte("small")))
		feed(AppendFrame(nil, Header{Fin: true, RSV1: true, Opcode: OpText}, small))
	}
	if m := d.memSize(); m > 1<<20 {
		t.Errorf("memSize %d: large buffers kept after small messages", m)
	}
}
