package wsframe

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Side names the endpoint that sends the frames a Decoder sees.
type Side uint8

// Sides. With AnySide the decoder does not check masking.
const (
	AnySide Side = iota
	Client
	Server
)

// String returns "client", "server" or "any".
func (s Side) String() string {
	switch s {
	case Client:
		return "client"
	case Server:
		return "server"
	}
	return "any"
}

// DefaultMaxMessageSize is the MaxMessageSize used when Config leaves it 0.
const DefaultMaxMessageSize = 16 << 20

// maxMaxMessageSize caps Config.MaxMessageSize so size arithmetic cannot
// overflow.
const maxMaxMessageSize = 1 << 40

// Config configures a Decoder.
type Config struct {
	// Sender is the side that sends this direction's frames: client frames
	// must be masked, server frames must not. AnySide skips the check.
	Sender Side
	// MaxMessageSize bounds a message's payload both as reassembled from
	// its frames and after inflating; it also bounds a single frame.
	// 0 (or less) means DefaultMaxMessageSize; values above 1 TiB are capped.
	MaxMessageSize int64
	// Deflate holds the negotiated permessage-deflate parameters, nil when
	// the extension was not negotiated (see ParseExtensions).
	Deflate *DeflateParams
}

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// FrameEvent: a frame header is complete (its payload may not be).
	FrameEvent EventKind = iota + 1
	// MessageEvent: a data message or a control frame is complete.
	MessageEvent
	// ErrorEvent: a protocol violation.
	ErrorEvent
)

// String returns "frame", "message" or "error".
func (k EventKind) String() string {
	switch k {
	case FrameEvent:
		return "frame"
	case MessageEvent:
		return "message"
	case ErrorEvent:
		return "error"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one thing the Decoder found in the stream.
type Event struct {
	Kind EventKind
	// Offset is the stream offset of the frame's first byte (FrameEvent),
	// of the message's first byte (MessageEvent, same as Message.First), or
	// the offset named by Err (ErrorEvent).
	Offset int64
	// Header is the frame header (FrameEvent only).
	Header Header
	// Message is the message (MessageEvent only).
	Message Message
	// Err is an *Error (ErrorEvent only).
	Err error
}

// Message is a complete data message (text or binary, fragments
// reassembled and inflated) or a control frame (close, ping, pong).
type Message struct {
	Opcode Opcode
	// Payload is the unmasked, reassembled and inflated payload. It aliases
	// the Decoder's buffers and is valid only until the next call to Next or
	// Feed: use Clone to keep it.
	Payload []byte
	// Frames is the number of wire frames the message came in.
	Frames int
	// Compressed reports that the first frame had RSV1 set under
	// permessage-deflate, so Payload was inflated.
	Compressed bool
	// WireSize is the total size of the message's frames on the wire,
	// headers included (control frames interleaved with it not counted).
	WireSize int64
	// First and Last are the stream offsets of the message's first and last
	// byte (inclusive). Interleaved control frames may lie between them.
	First, Last int64
	// For close frames with a payload of at least 2 bytes: the status code,
	// as sent (no code is rejected), and the rest of the payload.
	HasCloseCode bool
	CloseCode    uint16
	CloseReason  string
}

// Clone returns a copy of m whose Payload does not alias the Decoder.
func (m Message) Clone() Message {
	m.Payload = slices.Clone(m.Payload)
	return m
}

// Clone returns a copy of e that stays valid after the next Next or Feed.
func (e Event) Clone() Event {
	e.Message = e.Message.Clone()
	return e
}

// decoder states
const (
	stHeader  uint8 = iota // reading a frame header
	stPayload              // reading a frame payload
	stDead                 // lost framing (ErrBadLength): ignore the rest
)

// where the current frame's payload goes
const (
	destSkip uint8 = iota
	destMsg
	destCtrl
)

// state of the data message
const (
	msgNone    uint8 = iota
	msgCollect       // collecting a fragmented message
	msgDrop          // message dropped (too big); skip frames up to its FIN
	msgOrphan        // continuations without a start; skip up to a FIN
)

// Decoder decodes one direction of a WebSocket stream (the bytes after the
// HTTP upgrade) into events. It is sans-IO: Feed gives it bytes, Next and
// Event hand out what it found, in stream order. It holds at most one
// partial frame header, one partial control frame and one partial data
// message, so its memory is bounded by a small multiple of
// MaxMessageSize. A Decoder is not safe for concurrent use.
type Decoder struct {
	sender Side
	max    int64
	infl   *inflater // nil without permessage-deflate

	in  []byte // unconsumed part of the chunk given to Feed
	off int64  // stream offset of in[0]

	q    []Event // events found by the last step
	qi   int     // q[qi-1] is the current event
	none Event   // returned by Event before any Next

	state uint8
	hbuf  [MaxHeaderLen]byte
	hn    int // bytes of a partial header in hbuf

	// current frame
	fh     Header
	fstart int64
	rem    int64 // payload bytes still to read
	mpos   int   // masking key position
	dest   uint8

	closeAt int64 // offset of the first close frame, -1 if none
	deadAt  int64 // offset of the frame that lost the framing

	// current data message
	msgState  uint8
	msgOp     Opcode
	msgComp   bool
	msgFrames int
	msgWire   int64
	msgFirst  int64
	msg       []byte

	ctrl []byte
}

// NewDecoder returns a Decoder for a stream starting at offset 0.
func NewDecoder(cfg Config) *Decoder {
	d := &Decoder{
		sender:  cfg.Sender,
		max:     cfg.MaxMessageSize,
		closeAt: -1,
		q:       make([]Event, 0, 2), // a step makes a frame event and a message event
	}
	if d.max <= 0 {
		d.max = DefaultMaxMessageSize
	}
	d.max = min(d.max, maxMaxMessageSize)
	if cfg.Deflate != nil {
		d.infl = newInflater(cfg.Deflate.ContextTakeover(cfg.Sender))
	}
	return d
}

// Feed hands the decoder the next chunk of the stream; chunks may split
// frames anywhere. The decoder reads p during the following calls to Next
// and does not modify it, so the caller must not change p until Next has
// returned false. Feed is meant to be called once Next has returned false;
// if events of the previous chunk are still pending, Feed decodes and
// discards them first.
func (d *Decoder) Feed(p []byte) {
	for d.Next() {
	}
	d.in = p
}

// Next advances to the next event and reports whether there is one. It
// returns false when the bytes fed so far are used up.
func (d *Decoder) Next() bool {
	if d.qi < len(d.q) {
		d.qi++
		return true
	}
	d.q = d.q[:0]
	d.qi = 0
	for len(d.q) == 0 {
		if len(d.in) == 0 {
			return false
		}
		d.step()
	}
	d.qi = 1
	return true
}

// Event returns the current event, valid until the next call to Next or
// Feed (use Event.Clone to keep it). Before the first Next it returns a
// zero Event.
func (d *Decoder) Event() *Event {
	if d.qi == 0 || d.qi > len(d.q) {
		d.none = Event{}
		return &d.none
	}
	return &d.q[d.qi-1]
}

// Offset returns the stream offset of the next byte the decoder will read:
// the number of bytes consumed so far.
func (d *Decoder) Offset() int64 { return d.off }

// PartialHeaderLen returns how many of the bytes consumed so far (0-13)
// belong to a frame header that is not complete yet. A relay that must be
// able to stop before a frame it rejects forwards all but these bytes and
// holds them back until the header is complete, that is until the next
// chunk's FrameEvent.
func (d *Decoder) PartialHeaderLen() int {
	if d.state != stHeader {
		return 0
	}
	return d.hn
}

// End reports whether the stream may end here: it returns an *Error
// wrapping ErrTruncated if the bytes consumed so far end inside a frame or
// inside a fragmented message, and nil otherwise. Call it once Next has
// returned false; it does not change the decoder.
func (d *Decoder) End() error {
	switch {
	case d.state == stDead:
		return &Error{Offset: d.deadAt, Err: ErrTruncated, Detail: "framing lost"}
	case d.state == stHeader && d.hn > 0:
		return &Error{Offset: d.off - int64(d.hn), Err: ErrTruncated,
			Detail: fmt.Sprintf("stream ends at offset %d inside a frame header", d.off)}
	case d.state == stPayload:
		return &Error{Offset: d.fstart, Err: ErrTruncated,
			Detail: fmt.Sprintf("stream ends at offset %d with %d payload bytes missing", d.off, d.rem)}
	case d.msgState == msgCollect || d.msgState == msgDrop:
		return &Error{Offset: d.msgFirst, Err: ErrTruncated,
			Detail: fmt.Sprintf("stream ends at offset %d inside a fragmented message", d.off)}
	}
	return nil
}

// step consumes some input, queueing the events it finds.
func (d *Decoder) step() {
	switch d.state {
	case stHeader:
		d.readHeader()
		if d.state == stPayload && len(d.in) > 0 {
			d.readPayload()
		}
	case stPayload:
		d.readPayload()
	default:
		d.off += int64(len(d.in))
		d.in = nil
	}
}

func (d *Decoder) readHeader() {
	start := d.off - int64(d.hn)
	var (
		h   Header
		n   int
		err error
	)
	if d.hn == 0 {
		h, n, err = ParseHeader(d.in)
		if err == ErrShortHeader {
			n = copy(d.hbuf[:], d.in) // len(d.in) < MaxHeaderLen here
			d.hn = n
		}
	} else {
		c := copy(d.hbuf[d.hn:], d.in)
		h, n, err = ParseHeader(d.hbuf[:d.hn+c])
		if err == ErrShortHeader {
			d.hn += c
			n = c
		} else {
			n -= d.hn
			d.hn = 0
		}
	}
	d.in = d.in[n:]
	d.off += int64(n)
	if err != ErrShortHeader {
		d.beginFrame(h, start, err)
	}
}

func (d *Decoder) violation(off int64, err error, detail string) {
	d.q = append(d.q, Event{Kind: ErrorEvent, Offset: off, Err: &Error{Offset: off, Err: err, Detail: detail}})
}

func rsvString(h Header) string {
	var b strings.Builder
	for i, set := range [3]bool{h.RSV1, h.RSV2, h.RSV3} {
		if set {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "RSV%d", i+1)
		}
	}
	return b.String()
}

// beginFrame checks a complete header and decides where the payload goes.
func (d *Decoder) beginFrame(h Header, start int64, perr error) {
	d.q = append(d.q, Event{Kind: FrameEvent, Offset: start, Header: h})
	if perr != nil {
		d.violation(start, perr, "ignoring the rest of the stream")
		d.state = stDead
		d.deadAt = start
		return
	}
	d.fh = h
	d.fstart = start
	d.rem = h.PayloadLen
	d.mpos = 0
	d.dest = destSkip

	if h.Len != minHeaderLen(h.PayloadLen, h.Masked) {
		d.violation(start, ErrNonMinimalLength, fmt.Sprintf("%d-byte header for a %d-byte payload", h.Len, h.PayloadLen))
	}
	if h.Masked && d.sender == Server {
		d.violation(start, ErrMaskUnexpected, "")
	} else if !h.Masked && d.sender == Client {
		d.violation(start, ErrMaskMissing, "")
	}
	if d.closeAt >= 0 {
		d.violation(start, ErrAfterClose, fmt.Sprintf("%s frame after the close frame at offset %d", h.Opcode, d.closeAt))
	}

	op := h.Opcode
	switch {
	case op.IsReserved():
		d.violation(start, ErrReservedOpcode, fmt.Sprintf("opcode 0x%x, frame skipped", uint8(op)))
	case op.IsControl():
		if op == OpClose && d.closeAt < 0 {
			d.closeAt = start
		}
		if h.RSV1 || h.RSV2 || h.RSV3 {
			d.violation(start, ErrReservedBits, rsvString(h)+" on a "+op.String()+" frame")
		}
		if !h.Fin {
			d.violation(start, ErrFragmentedControl, op.String()+" frame without FIN")
		}
		if h.PayloadLen > d.max {
			d.violation(start, ErrFrameTooBig, fmt.Sprintf("%s frame of %d bytes, frame skipped", op, h.PayloadLen))
			break
		}
		if h.PayloadLen > MaxControlPayload {
			d.violation(start, ErrControlTooLong, fmt.Sprintf("%s frame of %d bytes", op, h.PayloadLen))
		}
		d.ctrl = reuse(d.ctrl)
		d.dest = destCtrl
	case op != OpContinuation: // text or binary
		if h.RSV2 || h.RSV3 || (h.RSV1 && d.infl == nil) {
			d.violation(start, ErrReservedBits, rsvString(h)+" without a negotiated extension")
		}
		if d.msgState == msgCollect || d.msgState == msgDrop {
			d.violation(start, ErrUnfinishedMessage, fmt.Sprintf("message at offset %d abandoned", d.msgFirst))
		}
		d.msgState = msgNone
		if h.PayloadLen > d.max {
			d.violation(start, ErrFrameTooBig, fmt.Sprintf("%d-byte payload, maximum %d, message skipped", h.PayloadLen, d.max))
			if !h.Fin {
				d.msgState = msgDrop
				d.msgFirst = start
			}
			break
		}
		d.msgState = msgCollect
		d.msgOp = op
		d.msgComp = h.RSV1 && d.infl != nil
		d.msgFrames = 0
		d.msgWire = 0
		d.msgFirst = start
		d.msg = reuse(d.msg)
		d.dest = destMsg
	default: // continuation
		if h.RSV1 || h.RSV2 || h.RSV3 {
			d.violation(start, ErrReservedBits, rsvString(h)+" on a continuation frame")
		}
		switch d.msgState {
		case msgNone:
			d.violation(start, ErrUnexpectedContinuation, "frame skipped")
			if !h.Fin {
				d.msgState = msgOrphan
			}
		case msgDrop, msgOrphan:
			if h.Fin {
				d.msgState = msgNone
			}
		default:
			if h.PayloadLen > d.max-int64(len(d.msg)) {
				err := ErrMessageTooBig
				if h.PayloadLen > d.max {
					err = ErrFrameTooBig
				}
				d.violation(start, err, fmt.Sprintf("message at offset %d would exceed %d bytes, message skipped", d.msgFirst, d.max))
				d.msgState = msgDrop
				if h.Fin {
					d.msgState = msgNone
				}
				break
			}
			d.dest = destMsg
		}
	}
	d.state = stPayload
	if d.rem == 0 {
		d.endFrame()
	}
}

func (d *Decoder) readPayload() {
	p := d.in
	if int64(len(p)) > d.rem {
		p = p[:d.rem]
	}
	switch d.dest {
	case destMsg:
		d.msg = d.appendPayload(d.msg, p)
	case destCtrl:
		d.ctrl = d.appendPayload(d.ctrl, p)
	}
	d.in = d.in[len(p):]
	d.off += int64(len(p))
	d.rem -= int64(len(p))
	if d.rem == 0 {
		d.endFrame()
	}
}

func (d *Decoder) appendPayload(dst, p []byte) []byte {
	if !d.fh.Masked {
		return append(dst, p...)
	}
	n := len(dst)
	dst = slices.Grow(dst, len(p))[:n+len(p)]
	d.mpos = maskBytes(d.fh.MaskKey, d.mpos, dst[n:], p)
	return dst
}

func (d *Decoder) endFrame() {
	d.state = stHeader
	last := d.off - 1
	switch d.dest {
	case destCtrl:
		m := Message{
			Opcode:   d.fh.Opcode,
			Payload:  d.ctrl,
			Frames:   1,
			WireSize: d.fh.WireSize(),
			First:    d.fstart,
			Last:     last,
		}
		bad := false
		if m.Opcode == OpClose {
			switch {
			case len(d.ctrl) == 1:
				bad = true
			case len(d.ctrl) >= 2:
				m.HasCloseCode = true
				m.CloseCode = binary.BigEndian.Uint16(d.ctrl)
				m.CloseReason = string(d.ctrl[2:])
			}
		}
		d.q = append(d.q, Event{Kind: MessageEvent, Offset: m.First, Message: m})
		if bad {
			d.violation(d.fstart, ErrBadClosePayload, "")
		}
	case destMsg:
		d.msgFrames++
		d.msgWire += d.fh.WireSize()
		if d.fh.Fin {
			d.finishMessage(last)
		}
	}
}

func (d *Decoder) finishMessage(last int64) {
	d.msgState = msgNone
	payload := d.msg
	if d.msgComp {
		d.msg = append(d.msg, deflateTail...)
		out, detail, kind := d.infl.inflate(d.msg, d.max)
		if kind != nil {
			d.violation(d.msgFirst, kind, detail)
			return
		}
		payload = out
	}
	d.q = append(d.q, Event{Kind: MessageEvent, Offset: d.msgFirst, Message: Message{
		Opcode:     d.msgOp,
		Payload:    payload,
		Frames:     d.msgFrames,
		Compressed: d.msgComp,
		WireSize:   d.msgWire,
		First:      d.msgFirst,
		Last:       last,
	}})
}

// reuse empties a buffer for the next message. A buffer over 64 KiB whose
// last message used less than a quarter of it is dropped, so that one
// large message does not pin its memory for the rest of the stream.
func reuse(b []byte) []byte {
	if cap(b) > 64<<10 && len(b) < cap(b)/4 {
		return nil
	}
	return b[:0]
}

// memSize returns the bytes held in the decoder's buffers (for tests).
func (d *Decoder) memSize() int {
	n := cap(d.msg) + cap(d.ctrl)
	if d.infl != nil {
		n += d.infl.memSize()
	}
	return n
}
