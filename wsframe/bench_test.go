package wsframe

import (
	"fmt"
	"testing"
)

const benchChunk = 32 << 10 // a typical relay read size

// message300 returns a 300-byte JSON-like text message.
func message300(i int) []byte {
	m := fmt.Appendf(nil, `{"type":"agent.delta","id":"msg-%06d","seq":%d,"delta":{"role":"assistant","content":"`, i, i)
	for len(m) < 298 {
		m = append(m, "token "[len(m)%6])
	}
	return append(m, `"}`...)[:300]
}

func benchDecode(b *testing.B, cfg Config, stream []byte, frames int) {
	d := NewDecoder(cfg)
	var payload int
	b.ReportAllocs()
	for b.Loop() {
		for off := 0; off < len(stream); off += benchChunk {
			d.Feed(stream[off:min(off+benchChunk, len(stream))])
			for d.Next() {
				if ev := d.Event(); ev.Kind == MessageEvent {
					payload += len(ev.Message.Payload)
				}
			}
		}
	}
	if payload == 0 || d.End() != nil {
		b.Fatal("nothing decoded")
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(len(stream))*float64(b.N)/sec/1e6, "MB/s")
	b.ReportMetric(float64(frames)*float64(b.N)/sec, "frames/s")
}

// BenchmarkDecode300 decodes a client stream of 300-byte masked text frames.
func BenchmarkDecode300(b *testing.B) {
	const n = 1000
	var stream []byte
	for i := 0; i < n; i++ {
		key := [4]byte{byte(i), byte(i >> 8), 0x5a, 0xa5}
		stream = AppendFrame(stream, Header{Fin: true, Opcode: OpText, Masked: true, MaskKey: key}, message300(i))
	}
	benchDecode(b, Config{Sender: Client}, stream, n)
}

// BenchmarkDecode300Deflate decodes 300-byte messages compressed with
// context takeover, as browsers send them by default.
func BenchmarkDecode300Deflate(b *testing.B) {
	benchDeflate(b, true)
}

// BenchmarkDecode300DeflateNoContextTakeover is the same without context
// takeover.
func BenchmarkDecode300DeflateNoContextTakeover(b *testing.B) {
	benchDeflate(b, false)
}

func benchDeflate(b *testing.B, takeover bool) {
	const n = 1000
	comp, err := NewCompressor(6, takeover)
	if err != nil {
		b.Fatal(err)
	}
	var stream []byte
	for i := 0; i < n; i++ {
		key := [4]byte{byte(i), byte(i >> 8), 0x5a, 0xa5}
		c, err := comp.Compress(nil, message300(i))
		if err != nil {
			b.Fatal(err)
		}
		stream = AppendFrame(stream, Header{Fin: true, RSV1: true, Opcode: OpText, Masked: true, MaskKey: key}, c)
	}
	// The stream was compressed as one DEFLATE context, so each pass
	// starts a new decoder (13 allocations per 1000 messages).
	cfg := Config{Sender: Client, Deflate: &DeflateParams{ClientNoContextTakeover: !takeover}}
	b.ReportAllocs()
	var payload int
	for b.Loop() {
		d := NewDecoder(cfg)
		for off := 0; off < len(stream); off += benchChunk {
			d.Feed(stream[off:min(off+benchChunk, len(stream))])
			for d.Next() {
				ev := d.Event()
				if ev.Kind == ErrorEvent {
					b.Fatal(ev.Err)
				}
				if ev.Kind == MessageEvent {
					payload += len(ev.Message.Payload)
				}
			}
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(len(stream))*float64(b.N)/sec/1e6, "MB/s")
	b.ReportMetric(float64(payload)/sec/1e6, "payload-MB/s")
	b.ReportMetric(float64(n)*float64(b.N)/sec, "frames/s")
	b.ReportMetric(float64(len(stream))/float64(n), "wire-B/frame")
}
