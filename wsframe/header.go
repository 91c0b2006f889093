package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Opcode is the 4-bit frame opcode of RFC 6455 section 5.2.
type Opcode uint8

// Opcodes defined by RFC 6455. Values 0x3-0x7 and 0xB-0xF are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// String returns the opcode's name, or "reserved-0x3" style for the others.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return fmt.Sprintf("reserved-0x%x", uint8(op))
}

// IsControl reports whether op is a control opcode (0x8-0xF, reserved ones included).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// IsReserved reports whether op is not defined by RFC 6455.
func (op Opcode) IsReserved() bool {
	return op > OpPong || (op > OpBinary && op < OpClose)
}

// MaxHeaderLen is the longest possible frame header: 2 bytes, a 64-bit
// length and a masking key.
const MaxHeaderLen = 14

// MaxControlPayload is the largest payload RFC 6455 allows in a control frame.
const MaxControlPayload = 125

// Header is a decoded frame header.
type Header struct {
	Fin              bool
	RSV1, RSV2, RSV3 bool
	Opcode           Opcode
	Masked           bool
	MaskKey          [4]byte
	// PayloadLen is the declared payload length. It is negative only
	// together with ErrBadLength (64-bit length with its top bit set).
	PayloadLen int64
	// Len is the number of bytes the header occupies on the wire (2-14).
	// AppendHeader uses it to choose a non-minimal length encoding.
	Len int
}

// WireSize is the size of the whole frame on the wire: header plus payload.
func (h Header) WireSize() int64 { return int64(h.Len) + h.PayloadLen }

// Errors returned by ParseHeader.
var (
	// ErrShortHeader means b holds only part of a header: read more bytes.
	ErrShortHeader = errors.New("wsframe: short frame header")
	// ErrBadLength means the 64-bit payload length has its most significant
	// bit set (RFC 6455 5.2); the frame's end, and so the next frame's
	// start, cannot be known.
	ErrBadLength = errors.New("64-bit payload length has its most significant bit set")
)

// ParseHeader decodes the frame header at the start of b. It returns
// n == 0 and ErrShortHeader when b ends before the header does, and n > 0
// with ErrBadLength for an unusable 64-bit length. Other protocol rules
// (reserved opcodes and bits, masking, control frame limits) are left to
// the caller, or to the Decoder.
func ParseHeader(b []byte) (h Header, n int, err error) {
	if len(b) < 2 {
		return Header{}, 0, ErrShortHeader
	}
	b0, b1 := b[0], b[1]
	n = 2
	length := int64(b1 & 0x7f)
	switch length {
	case 126:
		if len(b) < 4 {
			return Header{}, 0, ErrShortHeader
		}
		length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		if len(b) < 10 {
			return Header{}, 0, ErrShortHeader
		}
		length = int64(binary.BigEndian.Uint64(b[2:10]))
		n = 10
	}
	h.Masked = b1&0x80 != 0
	if h.Masked {
		if len(b) < n+4 {
			return Header{}, 0, ErrShortHeader
		}
		copy(h.MaskKey[:], b[n:n+4])
		n += 4
	}
	h.Fin = b0&0x80 != 0
	h.RSV1 = b0&0x40 != 0
	h.RSV2 = b0&0x20 != 0
	h.RSV3 = b0&0x10 != 0
	h.Opcode = Opcode(b0 & 0x0f)
	h.PayloadLen = length
	h.Len = n
	if length < 0 {
		return h, n, ErrBadLength
	}
	return h, n, nil
}

// minHeaderLen is the length of the shortest header encoding for a payload
// of the given length.
func minHeaderLen(payloadLen int64, masked bool) int {
	n := 2
	switch {
	case payloadLen > 0xffff:
		n = 10
	case payloadLen > 125:
		n = 4
	}
	if masked {
		n += 4
	}
	return n
}
