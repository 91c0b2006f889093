package tap

import (
	"io"
	"testing"

	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// FuzzFeed: any bytes, in any chunking, in both directions, with and
// without deflate: no panic, every record names its connection, and the
// stream never decodes past a stop.
func FuzzFeed(f *testing.F) {
	f.Add(frame(true, wsframe.OpText, true, false, []byte(`{"type":"ping"}`)), uint8(3), false)
	f.Add(append(frame(false, wsframe.OpText, false, true, []byte{0xf2, 0x48}), frame(true, wsframe.OpPing, false, false, nil)...), uint8(1), true)
	f.Add([]byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(2), false)
	f.Fuzz(func(t *testing.T, b []byte, step uint8, deflate bool) {
		ext := ""
		if deflate {
			ext = "permessage-deflate"
		}
		c, _ := Open(handshake(t, "", ext), Options{MaxMessage: 1 << 16})
		n := int(step%16) + 1
		for _, from := range []trace.Side{trace.Client, trace.Server} {
			var recs []*trace.Record
			for i := 0; i < len(b); i += n {
				recs = append(recs, c.Feed(from, t0, b[i:min(i+n, len(b))])...)
			}
			recs = append(recs, c.End(from, t0, io.EOF)...)
			for _, r := range recs {
				if r.Conn != "c1" {
					t.Fatalf("record without its connection: %+v", r)
				}
			}
		}
	})
}
