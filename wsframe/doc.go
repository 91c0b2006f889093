// Package wsframe decodes and encodes RFC 6455 WebSocket frames, with
// permessage-deflate (RFC 7692), for tools that watch a WebSocket stream
// rather than terminate it: a relaying proxy, a packet-capture importer.
//
// It does no I/O. A Decoder takes one direction of a stream (the bytes after
// the HTTP upgrade) in chunks of any size and yields, in stream order:
//
//   - a FrameEvent as soon as a frame header is complete, with the stream
//     offset where the frame starts, so a relay can stop before forwarding a
//     frame it does not want to pass;
//   - a MessageEvent for every complete data message (unmasked, reassembled,
//     inflated) and every control frame, with its wire size and offsets;
//   - an ErrorEvent for every protocol violation, as an *Error naming the
//     stream offset. The decoder then carries on with the next frame, so
//     one bad frame does not hide the rest of the stream.
//
// A relay loop (Example shows it in full):
//
//	dec := wsframe.NewDecoder(wsframe.Config{Sender: wsframe.Client, Deflate: params})
//	held := 0 // buf[:held] was fed but not forwarded: part of a frame header
//	for {
//		n, err := src.Read(buf[held:])
//		base := dec.Offset() - int64(held) // stream offset of buf[0]
//		dec.Feed(buf[held : held+n])
//		for dec.Next() {
//			ev := dec.Event()
//			// act on ev; to refuse a frame, forward buf[:ev.Offset-base]
//			// and stop
//		}
//		total := held + n
//		held = dec.PartialHeaderLen()
//		dst.Write(buf[:total-held]) // relayed unchanged
//		copy(buf, buf[total-held:total])
//		...
//	}
//
// A relay that never refuses frames can skip the held bytes and forward
// each chunk whole.
//
// Payloads handed out alias the decoder's buffers until the next Next or
// Feed; Event.Clone and Message.Clone copy them.
//
// ParseHeader, AppendHeader and AppendFrame work on single frames;
// ParseExtensions reads the negotiated Sec-WebSocket-Extensions response;
// Compressor produces permessage-deflate payloads for tests and odd peers.
package wsframe
