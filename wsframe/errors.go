package wsframe

import (
	"errors"
	"fmt"
)

// Protocol violations reported by the Decoder. Match them with errors.Is;
// the *Error wrapping them carries the stream offset.
var (
	ErrReservedOpcode         = errors.New("reserved opcode")
	ErrReservedBits           = errors.New("reserved bits set")
	ErrFragmentedControl      = errors.New("fragmented control frame")
	ErrControlTooLong         = errors.New("control frame payload over 125 bytes")
	ErrUnexpectedContinuation = errors.New("continuation frame without a message to continue")
	ErrUnfinishedMessage      = errors.New("new data frame while a fragmented message is open")
	ErrMaskMissing            = errors.New("client frame not masked")
	ErrMaskUnexpected         = errors.New("server frame masked")
	ErrNonMinimalLength       = errors.New("payload length not in its shortest encoding")
	ErrFrameTooBig            = errors.New("frame payload over the maximum message size")
	ErrMessageTooBig          = errors.New("message over the maximum message size")
	ErrInflate                = errors.New("permessage-deflate: cannot inflate")
	ErrBadClosePayload        = errors.New("close frame payload of 1 byte")
	ErrAfterClose             = errors.New("frame after a close frame")
	ErrTruncated              = errors.New("stream ends inside a frame or message")
	// ErrBadLength (see ParseHeader) is also reported; after it the
	// decoder cannot find the next frame and ignores the rest of the stream.
)

// Error is a protocol violation found at a stream offset. Err is one of the
// Err* values of this package; Detail may add specifics.
type Error struct {
	// Offset is the stream offset of the frame concerned; for errors about a
	// whole message (ErrInflate, an over-size inflated message) it is the
	// offset of the message's first frame.
	Offset int64
	Err    error
	Detail string
}

// Error formats the violation as "frame at offset N: what (detail)".
func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("frame at offset %d: %v", e.Offset, e.Err)
	}
	return fmt.Sprintf("frame at offset %d: %v: %s", e.Offset, e.Err, e.Detail)
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }
