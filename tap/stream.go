package tap

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// Stream is the tap of one direction of a connection. Its methods are for
// one goroutine at a time (the two Streams of a Conn may run in parallel).
type Stream struct {
	c    *Conn
	from trace.Side
	dec  *wsframe.Decoder

	frameStart int64 // stream offset of the last frame whose header was seen
	frameEnd   int64 // stream offset just past that frame
	stop       int64 // forwarding must stop before this offset; -1: no stop
	sawClose   bool  // this side sent a close frame

	track  bool   // keep the frames' spans (see TrackFrames)
	spans  []Span // frames seen and not yet taken
	broken bool   // a framing error while tracking (see Broken)

	recs []trace.Record // block new records are carved from
	slab []byte         // block small payloads are copied into
	hint int            // size of the chunk being fed: blocks are sized by it
}

func newStream(c *Conn, from trace.Side, deflate *wsframe.DeflateParams) *Stream {
	sender := wsframe.Client
	if from == trace.Server {
		sender = wsframe.Server
	}
	return &Stream{c: c, from: from, stop: -1,
		dec: wsframe.NewDecoder(wsframe.Config{Sender: sender, Deflate: deflate, MaxMessageSize: c.opts.MaxMessage})}
}

// From returns the side whose frames this stream carries.
func (s *Stream) From() trace.Side { return s.from }

// Feed decodes b, bytes of the stream seen at t, and appends the records
// they complete to dst. Once the stream has stopped (see Stop), Feed
// decodes nothing more.
func (s *Stream) Feed(dst []*trace.Record, t time.Time, b []byte) []*trace.Record {
	if s.stop >= 0 {
		return dst
	}
	s.hint = len(b)
	s.dec.Feed(b)
	for s.stop < 0 && s.dec.Next() {
		ev := s.dec.Event()
		switch ev.Kind {
		case wsframe.FrameEvent:
			if ev.Header.PayloadLen > s.c.opts.MaxMessage || ev.Header.PayloadLen < 0 {
				s.stop = ev.Offset
				dst = append(dst, s.errorRecord(t, s.oversize(fmt.Sprintf("%s frame at offset %d declares %d payload bytes, over the %d-byte limit",
					s.from, ev.Offset, ev.Header.PayloadLen, s.c.opts.MaxMessage))))
				break
			}
			s.frameStart, s.frameEnd = ev.Offset, ev.Offset+ev.Header.WireSize()
			if s.track {
				s.spans = append(s.spans, Span{Start: s.frameStart, End: s.frameEnd, Control: ev.Header.Opcode.IsControl()})
			}
		case wsframe.MessageEvent:
			rec := s.frameRecord(t, &ev.Message)
			dst = append(dst, rec)
			if s.track {
				s.assign(rec, &ev.Message)
			}
		case wsframe.ErrorEvent:
			if s.track {
				s.broken = true
			}
			if errors.Is(ev.Err, wsframe.ErrFrameTooBig) || errors.Is(ev.Err, wsframe.ErrBadLength) {
				continue // reported from the frame header above
			}
			if errors.Is(ev.Err, wsframe.ErrMessageTooBig) {
				// Stop before the frame that made the message too big.
				s.stop = s.frameStart
				dst = append(dst, s.errorRecord(t, s.oversize(fmt.Sprintf("%s message: %v, over the %d-byte limit", s.from, ev.Err, s.c.opts.MaxMessage))))
				break
			}
			// A violation is recorded, and decoding goes on where the
			// decoder can: a debugging tool does not hide its peers' errors.
			dst = append(dst, s.errorRecord(t, fmt.Sprintf("%s stream: %v", s.from, ev.Err)))
		}
	}
	return dst
}

// Span is one wire frame of a tracked stream: its bytes are the stream
// offsets [Start, End). Rec is the record of the message it belongs to,
// nil until that message is complete.
type Span struct {
	Start, End int64
	Control    bool
	Rec        *trace.Record
}

// TrackFrames makes the stream keep the span of every frame and the
// message each belongs to (see Frames), for a relay that forwards whole
// messages (fault injection). Call it before the first Feed.
func (s *Stream) TrackFrames() { s.track = true }

// Frames returns the spans of the frames fed and not yet taken (see
// Take), in stream order. The slice is valid until the next Feed or Take.
func (s *Stream) Frames() []Span { return s.spans }

// Take forgets the first n spans of Frames.
func (s *Stream) Take(n int) {
	m := copy(s.spans, s.spans[n:])
	clear(s.spans[m:])
	s.spans = s.spans[:m]
}

// Broken reports that a tracked stream had a framing error: which bytes
// form which message is then not reliable, and a relay should forward the
// rest as it comes.
func (s *Stream) Broken() bool { return s.broken }

// assign gives a complete message's record to its frames: a control
// frame's own span, or every unassigned data frame of the message.
func (s *Stream) assign(rec *trace.Record, m *wsframe.Message) {
	ctrl := m.Opcode.IsControl()
	for i := len(s.spans) - 1; i >= 0; i-- {
		sp := &s.spans[i]
		if sp.Start < m.First {
			break
		}
		if sp.Rec == nil && sp.Control == ctrl && sp.Start <= m.Last {
			sp.Rec = rec
			if ctrl {
				return
			}
		}
	}
}

func (s *Stream) oversize(msg string) string {
	if s.c.opts.OversizeAction != "" {
		return msg + ": " + s.c.opts.OversizeAction
	}
	return msg
}

// Stop returns the stream offset before which the stream must stop, the
// start of a frame or message over the bound, or -1.
func (s *Stream) Stop() int64 { return s.stop }

// Offset returns how many bytes of the stream have been fed.
func (s *Stream) Offset() int64 { return s.dec.Offset() }

// PartialHeaderLen returns how many of the bytes fed so far belong to a
// frame header that is not complete yet (see wsframe.Decoder).
func (s *Stream) PartialHeaderLen() int { return s.dec.PartialHeaderLen() }

// FrameEnd reports whether off is the end of the last frame whose header
// was seen: a relay that has forwarded exactly off bytes is between
// frames there.
func (s *Stream) FrameEnd(off int64) bool { return off == s.frameEnd }

// SawClose reports whether this side sent a close frame.
func (s *Stream) SawClose() bool { return s.sawClose }

// End marks the end of the stream at t, for err (io.EOF for an orderly
// end; net.ErrClosed when the caller cut it, which records nothing), and
// appends what it makes: an error record when the stream ended before a
// close frame, or inside a frame or message.
func (s *Stream) End(dst []*trace.Record, t time.Time, err error) []*trace.Record {
	if errors.Is(err, net.ErrClosed) {
		return dst
	}
	tail := s.dec.End()
	if s.stop >= 0 {
		tail = nil // what follows a stop was not decoded
	}
	if s.sawClose {
		if tail != nil {
			dst = append(dst, s.errorRecord(t, fmt.Sprintf("%s: after its close frame: %v", s.who(), tail)))
		}
		return dst
	}
	what := "closed the connection without a close frame"
	if err != nil && err != io.EOF {
		what = err.Error()
	}
	if tail != nil {
		what += " (" + tail.Error() + ")"
	}
	return append(dst, s.errorRecord(t, s.who()+": "+what))
}

// who names the side as a person debugging a proxy would: the client, or
// the upstream.
func (s *Stream) who() string {
	if s.from == trace.Server {
		return "upstream"
	}
	return "client"
}

// frameRecord turns a decoded message into a record (payload copied,
// secrets redacted).
func (s *Stream) frameRecord(t time.Time, m *wsframe.Message) *trace.Record {
	rec := s.newRecord()
	op := opName(m.Opcode)
	*rec = trace.Record{Kind: trace.KindFrame, T: t, Conn: s.c.id, From: s.from, Op: op,
		Size: len(m.Payload), WireFrames: m.Frames, WireSize: int(m.WireSize), Compressed: m.Compressed}
	payload := m.Payload
	if op == trace.OpText {
		if red, ok := s.c.opts.Redact.Payload(payload); ok {
			payload, rec.Redacted = red, true
		}
	}
	rec.Payload = s.copyPayload(payload)
	// Decided once here, so that neither the recorder nor the checker
	// validates the JSON again.
	rec.Form = trace.FormOf(op, rec.Payload)
	if m.Opcode == wsframe.OpClose {
		if m.HasCloseCode {
			rec.Code, rec.Reason = int(m.CloseCode), m.CloseReason
		}
		if !s.sawClose {
			s.sawClose = true
			s.c.sawClose(s.from, rec.Code, rec.Reason)
		}
	}
	return rec
}

func (s *Stream) errorRecord(t time.Time, msg string) *trace.Record {
	return &trace.Record{Kind: trace.KindError, T: t, Conn: s.c.id, From: s.from, Message: msg}
}

// Records and small payloads are carved out of blocks, a few allocations
// per thousand frames instead of two per frame under load. Blocks are
// sized by the chunk being fed, so that a connection that idles (a ping a
// second) holds a few hundred bytes, not a block sized for a burst.
// Records are immutable once made, and a block lives as long as any record
// in it.
const (
	maxRecordBlock  = 64
	minPayloadBlock = 256
	maxPayloadBlock = 32 << 10
	maxInBlock      = 2 << 10
)

func (s *Stream) newRecord() *trace.Record {
	if len(s.recs) == cap(s.recs) {
		// About one record per 100 bytes of a busy stream.
		s.recs = make([]trace.Record, 0, min(max(s.hint/100, 1), maxRecordBlock))
	}
	s.recs = s.recs[:len(s.recs)+1]
	return &s.recs[len(s.recs)-1]
}

func (s *Stream) copyPayload(p []byte) []byte {
	if len(p) > maxInBlock {
		return append([]byte(nil), p...)
	}
	if cap(s.slab)-len(s.slab) < len(p) {
		s.slab = make([]byte, 0, min(max(s.hint, minPayloadBlock, len(p)), maxPayloadBlock))
	}
	start := len(s.slab)
	s.slab = append(s.slab, p...)
	return s.slab[start:len(s.slab):len(s.slab)]
}

func opName(op wsframe.Opcode) trace.Op {
	switch op {
	case wsframe.OpText:
		return trace.OpText
	case wsframe.OpBinary:
		return trace.OpBinary
	case wsframe.OpPing:
		return trace.OpPing
	case wsframe.OpPong:
		return trace.OpPong
	case wsframe.OpClose:
		return trace.OpClose
	}
	return trace.Op(op.String())
}
