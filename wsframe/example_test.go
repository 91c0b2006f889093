package wsframe_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/lettadev/wsproxy/wsframe"
)

// A relay decodes what it forwards and refuses to forward frames over its
// limit. Here the client sends a compressed message in two fragments with
// a ping between them, then an oversized frame.
func Example() {
	params, _, err := wsframe.ParseExtensions("permessage-deflate; client_no_context_takeover")
	if err != nil {
		panic(err)
	}
	comp, _ := wsframe.NewCompressor(6, false)
	payload, _ := comp.Compress(nil, []byte(`{"type":"hello"}`))
	key := [4]byte{1, 2, 3, 4}
	var stream []byte
	stream = wsframe.AppendFrame(stream, wsframe.Header{RSV1: true, Opcode: wsframe.OpText, Masked: true, MaskKey: key}, payload[:5])
	stream = wsframe.AppendFrame(stream, wsframe.Header{Fin: true, Opcode: wsframe.OpPing, Masked: true, MaskKey: key}, []byte("hi"))
	stream = wsframe.AppendFrame(stream, wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation, Masked: true, MaskKey: key}, payload[5:])
	stream = wsframe.AppendFrame(stream, wsframe.Header{Fin: true, Opcode: wsframe.OpBinary, Masked: true, MaskKey: key}, make([]byte, 2000))

	const limit = 1024
	src := io.Reader(bytes.NewReader(stream))
	var dst bytes.Buffer
	dec := wsframe.NewDecoder(wsframe.Config{Sender: wsframe.Client, MaxMessageSize: limit, Deflate: params})
	buf := make([]byte, 64)
	held := 0 // buf[:held]: fed to the decoder, not forwarded yet
	for {
		n, err := src.Read(buf[held:17])   // small reads split headers
		base := dec.Offset() - int64(held) // stream offset of buf[0]
		dec.Feed(buf[held : held+n])
		stop := -1
		for dec.Next() {
			ev := dec.Event()
			switch ev.Kind {
			case wsframe.FrameEvent:
				if ev.Header.PayloadLen > limit && stop < 0 {
					stop = int(ev.Offset - base)
				}
			case wsframe.MessageEvent:
				m := ev.Message
				fmt.Printf("%s %q frames=%d compressed=%v bytes %d-%d\n", m.Opcode, m.Payload, m.Frames, m.Compressed, m.First, m.Last)
			case wsframe.ErrorEvent:
				fmt.Println("violation:", ev.Err)
			}
		}
		if stop >= 0 {
			dst.Write(buf[:stop]) // everything before the rejected frame
			break
		}
		total := held + n
		held = dec.PartialHeaderLen()
		dst.Write(buf[:total-held])
		copy(buf, buf[total-held:total])
		if err != nil {
			break
		}
	}
	fmt.Printf("forwarded %d of %d bytes, intact: %v\n", dst.Len(), len(stream), bytes.HasPrefix(stream, dst.Bytes()))
	// Output:
	// ping "hi" frames=1 compressed=false bytes 11-18
	// text "{\"type\":\"hello\"}" frames=2 compressed=true bytes 0-41
	// violation: frame at offset 42: frame payload over the maximum message size: 2000-byte payload, maximum 1024, message skipped
	// forwarded 42 of 2050 bytes, intact: true
}
