package wsframe

import (
	"encoding/binary"
	"math/bits"
)

// AppendHeader appends the wire form of h to dst. It encodes h.PayloadLen
// as given (which need not match any payload, for peers that must send odd
// frames) in the shortest form, or in the longer form h.Len asks for (4 or 8
// for a 16-bit length, 10 or 14 for a 64-bit one) when that can hold it.
// A negative PayloadLen is written as the equivalent 64-bit value.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Opcode & 0x0f)
	if h.Fin {
		b0 |= 0x80
	}
	if h.RSV1 {
		b0 |= 0x40
	}
	if h.RSV2 {
		b0 |= 0x20
	}
	if h.RSV3 {
		b0 |= 0x10
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	lenBytes := h.Len
	if h.Masked {
		lenBytes -= 4
	}
	u := uint64(h.PayloadLen)
	switch {
	case u > 0xffff || lenBytes == 10:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, u)
	case u > 125 || lenBytes == 4:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(u))
	default:
		dst = append(dst, b0, b1|byte(u))
	}
	if h.Masked {
		dst = append(dst, h.MaskKey[:]...)
	}
	return dst
}

// AppendFrame appends a whole frame to dst: h with PayloadLen set to
// len(payload), then the payload, masked with h.MaskKey when h.Masked.
func AppendFrame(dst []byte, h Header, payload []byte) []byte {
	h.PayloadLen = int64(len(payload))
	dst = AppendHeader(dst, h)
	if !h.Masked {
		return append(dst, payload...)
	}
	n := len(dst)
	dst = append(dst, payload...)
	maskBytes(h.MaskKey, 0, dst[n:], dst[n:])
	return dst
}

// ClosePayload builds a close frame payload: the big-endian status code
// followed by the reason. No check is made of either.
func ClosePayload(code uint16, reason string) []byte {
	b := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(b, code)
	return append(b, reason...)
}

// maskBytes XORs src with the masking key into dst (len(dst) >= len(src);
// dst may be src) and returns the new key position. pos is the position in
// the key (0-3) of src[0], that is the number of payload bytes already
// processed, modulo 4.
func maskBytes(key [4]byte, pos int, dst, src []byte) int {
	pos &= 3
	if len(src) >= 16 {
		k32 := binary.LittleEndian.Uint32(key[:])
		k32 = bits.RotateLeft32(k32, -8*pos)
		k := uint64(k32) | uint64(k32)<<32
		for len(src) >= 32 {
			d := dst[:32:len(dst)]
			s := src[:32:len(src)]
			binary.LittleEndian.PutUint64(d[0:], binary.LittleEndian.Uint64(s[0:])^k)
			binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:])^k)
			binary.LittleEndian.PutUint64(d[16:], binary.LittleEndian.Uint64(s[16:])^k)
			binary.LittleEndian.PutUint64(d[24:], binary.LittleEndian.Uint64(s[24:])^k)
			dst, src = dst[32:], src[32:]
		}
		for len(src) >= 8 {
			binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src)^k)
			dst, src = dst[8:], src[8:]
		}
	}
	for i, c := range src {
		dst[i] = c ^ key[(pos+i)&3]
	}
	return (pos + len(src)) & 3
}
