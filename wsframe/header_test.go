package wsframe

import (
	"bytes"
	"errors"
	"testing"
)

func TestOpcodeString(t *testing.T) {
	want := map[Opcode]string{
		0x0: "continuation", 0x1: "text", 0x2: "binary", 0x3: "reserved-0x3", 0x7: "reserved-0x7",
		0x8: "close", 0x9: "ping", 0xA: "pong", 0xB: "reserved-0xb", 0xF: "reserved-0xf",
	}
	for op, s := range want {
		if op.String() != s {
			t.Errorf("%d: %q, want %q", op, op.String(), s)
		}
		if op.IsReserved() != (len(s) > 8 && s[:8] == "reserved") {
			t.Errorf("%v: IsReserved = %v", op, op.IsReserved())
		}
		if op.IsControl() != (op >= 8) {
			t.Errorf("%v: IsControl = %v", op, op.IsControl())
		}
	}
}

func TestParseHeader(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want Header
		n    int
		err  error
	}{
		{"empty", nil, Header{}, 0, ErrShortHeader},
		{"one byte", []byte{0x81}, Header{}, 0, ErrShortHeader},
		{"text 5", []byte{0x81, 0x05}, Header{Fin: true, Opcode: OpText, PayloadLen: 5, Len: 2}, 2, nil},
		{"all bits", []byte{0xff, 0x00}, Header{Fin: true, RSV1: true, RSV2: true, RSV3: true, Opcode: 0xf, Len: 2}, 2, nil},
		{"masked short key", []byte{0x02, 0x80, 1, 2, 3}, Header{}, 0, ErrShortHeader},
		{"masked", []byte{0x02, 0x80, 1, 2, 3, 4}, Header{Opcode: OpBinary, Masked: true, MaskKey: [4]byte{1, 2, 3, 4}, Len: 6}, 6, nil},
		{"16-bit short", []byte{0x82, 126, 1}, Header{}, 0, ErrShortHeader},
		{"16-bit", []byte{0x82, 126, 0xff, 0xff}, Header{Fin: true, Opcode: OpBinary, PayloadLen: 65535, Len: 4}, 4, nil},
		{"16-bit masked short", []byte{0x82, 0xfe, 0, 200, 1, 2, 3}, Header{}, 0, ErrShortHeader},
		{"64-bit short", []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0}, Header{}, 0, ErrShortHeader},
		{"64-bit", []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, Header{Fin: true, Opcode: OpBinary, PayloadLen: 65536, Len: 10}, 10, nil},
		{"64-bit max", []byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9, 9, 9, 9},
			Header{Fin: true, Opcode: OpBinary, Masked: true, MaskKey: [4]byte{9, 9, 9, 9}, PayloadLen: 1<<63 - 1, Len: 14}, 14, nil},
		{"64-bit top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
			Header{Fin: true, Opcode: OpBinary, PayloadLen: -1<<63 | 1, Len: 10}, 10, ErrBadLength},
		{"64-bit top bit short", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, Header{}, 0, ErrShortHeader},
		{"trailing bytes ignored", []byte{0x89, 0x01, 'x', 'y'}, Header{Fin: true, Opcode: OpPing, PayloadLen: 1, Len: 2}, 2, nil},
	}
	for _, tc := range cases {
		h, n, err := ParseHeader(tc.in)
		if h != tc.want || n != tc.n || !errors.Is(err, tc.err) {
			t.Errorf("%s: got %+v, %d, %v; want %+v, %d, %v", tc.name, h, n, err, tc.want, tc.n, tc.err)
		}
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Fin: true, Opcode: OpText, PayloadLen: 0},
		{Fin: true, RSV1: true, Opcode: OpBinary, PayloadLen: 125, Masked: true, MaskKey: [4]byte{1, 2, 3, 4}},
		{RSV2: true, RSV3: true, Opcode: OpContinuation, PayloadLen: 126},
		{Opcode: 0xB, PayloadLen: 65535},
		{Opcode: OpPing, PayloadLen: 65536, Masked: true},
		{Opcode: OpText, PayloadLen: 1<<63 - 1},
		// Non-minimal encodings requested through Len.
		{Opcode: OpText, PayloadLen: 5, Len: 4},
		{Opcode: OpText, PayloadLen: 5, Len: 14, Masked: true},
		{Opcode: OpText, PayloadLen: 300, Len: 10},
	} {
		b := AppendHeader([]byte("prefix"), h)
		got, n, err := ParseHeader(b[6:])
		if h.Len == 0 {
			h.Len = minHeaderLen(h.PayloadLen, h.Masked)
		}
		if err != nil || n != len(b)-6 || got != h {
			t.Errorf("%+v: parsed %+v, %d, %v", h, got, n, err)
		}
	}
}

func TestAppendFrameMasks(t *testing.T) {
	payload := []byte("Hello")
	got := AppendFrame(nil, Header{Fin: true, Opcode: OpText, Masked: true, MaskKey: [4]byte{0x37, 0xfa, 0x21, 0x3d}}, payload)
	// RFC 6455 5.7: a single-frame masked text message "Hello".
	want := []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}
	if !bytes.Equal(got, want) || string(payload) != "Hello" {
		t.Errorf("got % x, want % x", got, want)
	}
	if got := AppendFrame(nil, Header{Fin: true, Opcode: OpPing}, payload); !bytes.Equal(got, []byte{0x89, 0x05, 'H', 'e', 'l', 'l', 'o'}) {
		t.Errorf("unmasked ping % x", got)
	}
	if got := ClosePayload(1001, "bye"); !bytes.Equal(got, []byte{0x03, 0xe9, 'b', 'y', 'e'}) {
		t.Errorf("ClosePayload % x", got)
	}
}
