package wsframe

import (
	"bytes"
	stdflate "compress/flate"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
)

// jsonMessages returns similar messages, so that with context takeover
// later ones are mostly back-references into earlier ones.
func jsonMessages(n int) [][]byte {
	var msgs [][]byte
	for i := 0; i < n; i++ {
		msgs = append(msgs, fmt.Appendf(nil,
			`{"type":"agent.message","id":"msg-%04d","seq":%d,"payload":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog, part %d"}}`,
			i, i, i%7))
	}
	msgs = append(msgs, []byte{}) // empty message
	return msgs
}

// syncFlushWriter is the compressor of a browser or of Python websockets:
// one DEFLATE stream kept alive across messages, each message ended with a
// sync flush whose trailing 0x00 0x00 0xff 0xff is stripped.
type syncFlushWriter interface {
	Write([]byte) (int, error)
	Flush() error
}

func compressStream(t *testing.T, w syncFlushWriter, buf *bytes.Buffer, msg []byte) []byte {
	t.Helper()
	buf.Reset()
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("flush output % x", b)
	}
	return bytes.Clone(b[:len(b)-4])
}

// compressedFrames encodes compressed payloads as masked client frames,
// every third one fragmented, with a ping interleaved.
func compressedFrames(comp [][]byte) []byte {
	var s []byte
	for i, c := range comp {
		key := [4]byte{byte(i), 0xa5, 0x5a, byte(i * 7)}
		if i%3 == 2 && len(c) >= 2 {
			s = AppendFrame(s, Header{RSV1: true, Opcode: OpText, Masked: true, MaskKey: key}, c[:1])
			s = AppendFrame(s, Header{Fin: true, Opcode: OpPing, Masked: true, MaskKey: key}, []byte("keepalive"))
			s = AppendFrame(s, Header{Opcode: OpContinuation, Masked: true, MaskKey: key}, c[1:len(c)/2])
			s = AppendFrame(s, Header{Fin: true, Opcode: OpContinuation, Masked: true, MaskKey: key}, c[len(c)/2:])
			continue
		}
		s = AppendFrame(s, Header{Fin: true, RSV1: true, Opcode: OpText, Masked: true, MaskKey: key}, c)
	}
	return s
}

func decodedTexts(t *testing.T, evs []Event) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range evs {
		switch {
		case e.Kind == ErrorEvent:
			t.Fatalf("unexpected %v", e.Err)
		case e.Kind == MessageEvent && e.Message.Opcode == OpText:
			if !e.Message.Compressed {
				t.Fatalf("message at %d not marked compressed", e.Offset)
			}
			out = append(out, e.Message.Payload)
		}
	}
	return out
}

func TestDeflateContextTakeover(t *testing.T) {
	msgs := jsonMessages(12)
	writers := map[string]func(*bytes.Buffer) syncFlushWriter{
		"klauspost": func(b *bytes.Buffer) syncFlushWriter {
			w, err := flate.NewWriter(b, flate.DefaultCompression)
			if err != nil {
				t.Fatal(err)
			}
			return w
		},
		"stdlib": func(b *bytes.Buffer) syncFlushWriter {
			w, err := stdflate.NewWriter(b, stdflate.BestCompression)
			if err != nil {
				t.Fatal(err)
			}
			return w
		},
	}
	for name, newWriter := range writers {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			w := newWriter(&buf)
			var comp [][]byte
			for _, m := range msgs {
				comp = append(comp, compressStream(t, w, &buf, m))
			}
			if len(comp[5]) > len(msgs[5])/3 {
				t.Fatalf("message 5 compressed to %d bytes: not using the shared window", len(comp[5]))
			}
			stream := compressedFrames(comp)
			for _, cfg := range []Config{
				{Sender: Client, Deflate: &DeflateParams{}},
				{Sender: Client, Deflate: &DeflateParams{ServerNoContextTakeover: true}}, // the other side's flag
				{Sender: AnySide, Deflate: &DeflateParams{ClientNoContextTakeover: true, ServerNoContextTakeover: true}},
			} {
				evs, _ := decodeSplit(cfg, stream, randomSplits(newRand(1), len(stream), 40))
				checkInvariants(t, evs, int64(len(stream)))
				if got := decodedTexts(t, evs); !reflect.DeepEqual(got, msgs) {
					t.Fatalf("%+v: decoded %q", cfg.Deflate, got)
				}
			}
			// Decoding without the window must fail: the test really
			// exercises context takeover.
			evs := decodeAll(Config{Sender: Client, Deflate: &DeflateParams{ClientNoContextTakeover: true}}, stream)
			if errs := errorsOf(evs); len(errs) == 0 || !errors.Is(errs[0], ErrInflate) {
				t.Fatalf("no inflate error without the window:\n%s", dumpEvents(evs))
			}
		})
	}
}

func TestDeflateNoContextTakeover(t *testing.T) {
	msgs := jsonMessages(8)
	comp, err := NewCompressor(flate.BestSpeed, false)
	if err != nil {
		t.Fatal(err)
	}
	var s []byte
	for _, m := range msgs {
		c, err := comp.Compress(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		s = AppendFrame(s, Header{Fin: true, RSV1: true, Opcode: OpText}, c)
	}
	for _, cfg := range []Config{
		{Sender: Server, Deflate: &DeflateParams{ServerNoContextTakeover: true}},
		{Sender: Server, Deflate: &DeflateParams{}},
	} {
		evs, _ := decodeSplit(cfg, s, randomSplits(newRand(2), len(s), 30))
		if got := decodedTexts(t, evs); !reflect.DeepEqual(got, msgs) {
			t.Fatalf("decoded %q", got)
		}
	}
}

func TestDeflateMixedAndFinalBlock(t *testing.T) {
	// A DEFLATE stream ended with BFINAL (writer closed): allowed by
	// RFC 7692 7.2.3.
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 5)
	w.Write([]byte("closed stream"))
	w.Close()
	final := bytes.Clone(buf.Bytes())
	s := AppendFrame(nil, Header{Fin: true, RSV1: true, Opcode: OpBinary}, final)
	s = AppendFrame(s, Header{Fin: true, Opcode: OpText}, []byte("plain")) // uncompressed message
	s = AppendFrame(s, Header{Fin: true, RSV1: true, Opcode: OpBinary}, append(bytes.Clone(final), 0x00, 0x12))
	s = AppendFrame(s, Header{Fin: true, RSV1: true, Opcode: OpText}, nil) // empty
	evs := decodeAll(Config{Sender: Server, Deflate: &DeflateParams{}}, s)
	if got, want := messages(evs), []string{"binary:closed stream", "text:plain", "text:"}; !reflect.DeepEqual(got, want) {
		t.Errorf("messages %q, want %q", got, want)
	}
	if errs := errorsOf(evs); len(errs) != 1 || !errors.Is(errs[0], ErrInflate) || !strings.Contains(errs[0].Error(), "after a final") {
		t.Errorf("errors %v", errs)
	}
}

func TestDecompressionBomb(t *testing.T) {
	comp, err := NewCompressor(flate.BestCompression, true)
	if err != nil {
		t.Fatal(err)
	}
	first := []byte(strings.Repeat("remember me ", 100))
	c1, _ := comp.Compress(nil, first)
	bomb, _ := comp.Compress(nil, make([]byte, 20<<20))
	refers, _ := comp.Compress(nil, make([]byte, 1000)) // back-references into the bomb's zeros
	fresh, _ := NewCompressor(flate.BestSpeed, false)
	alone, _ := fresh.Compress(nil, []byte("standalone message"))
	if len(bomb) > 128<<10 {
		t.Fatalf("bomb compressed to %d bytes", len(bomb))
	}
	var s []byte
	for _, c := range [][]byte{c1, bomb, refers, alone} {
		s = AppendFrame(s, Header{Fin: true, RSV1: true, Opcode: OpBinary}, c)
	}
	for _, maxSize := range []int64{1 << 20, 0} {
		d := NewDecoder(Config{Sender: Server, MaxMessageSize: maxSize, Deflate: &DeflateParams{}})
		var evs []Event
		peak := 0
		for off := 0; off < len(s); off += 4096 {
			d.Feed(s[off:min(off+4096, len(s))])
			for d.Next() {
				evs = append(evs, d.Event().Clone())
				peak = max(peak, d.memSize())
			}
		}
		limit := d.max
		if int64(peak) > 2*limit+int64(len(s))+256<<10 {
			t.Errorf("max %d: decoder held %d bytes", limit, peak)
		}
		if got, want := messages(evs), []string{"binary:" + string(first), "binary:standalone message"}; !reflect.DeepEqual(got, want) {
			t.Errorf("max %d: messages %d, want 2\n%s", limit, len(got), dumpEvents(evs))
		}
		errs := errorsOf(evs)
		if len(errs) != 2 || !errors.Is(errs[0], ErrMessageTooBig) || !errors.Is(errs[1], ErrInflate) ||
			!strings.Contains(errs[1].Error(), "window was lost") {
			t.Errorf("max %d: errors %v", limit, errs)
		}
	}
}

func TestCompressorLevels(t *testing.T) {
	msg := bytes.Repeat([]byte("abcdefgh"), 5000)
	for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
		for _, takeover := range []bool{false, true} {
			c, err := NewCompressor(level, takeover)
			if err != nil {
				t.Fatal(err)
			}
			var s []byte
			for i := 0; i < 3; i++ {
				p, err := c.Compress(nil, msg)
				if err != nil {
					t.Fatal(err)
				}
				s = AppendFrame(s, Header{Fin: true, RSV1: true, Opcode: OpBinary}, p)
			}
			evs := decodeAll(Config{Deflate: &DeflateParams{ServerNoContextTakeover: !takeover}, Sender: Server}, s)
			n := 0
			for _, e := range evs {
				if e.Kind == ErrorEvent {
					t.Fatalf("level %d: %v", level, e.Err)
				}
				if e.Kind == MessageEvent {
					if !bytes.Equal(e.Message.Payload, msg) {
						t.Fatalf("level %d takeover %v: payload differs", level, takeover)
					}
					n++
				}
			}
			if n != 3 {
				t.Fatalf("level %d: %d messages", level, n)
			}
		}
	}
	if _, err := NewCompressor(42, false); err == nil {
		t.Error("level 42 accepted")
	}
}
