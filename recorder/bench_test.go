package recorder

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/lettadev/wsproxy/internal/synth"
	"github.com/lettadev/wsproxy/trace"
)

var (
	benchOnce sync.Once
	benchRecs []*trace.Record
)

// benchFrames returns 200,000 realistic frame records of synthetic session
// traffic (about 300 bytes of JSON each on average), made once.
func benchFrames() []*trace.Record {
	benchOnce.Do(func() { benchRecs = frames(200000) })
	return benchRecs
}

func frames(n int) []*trace.Record {
	g := synth.New(1)
	out := make([]*trace.Record, 0, n)
	for len(out) < n {
		if r := g.Next(); r.Kind == trace.KindFrame {
			out = append(out, r)
		}
	}
	return out
}

func avgPayload(recs []*trace.Record) float64 {
	total := 0
	for _, r := range recs {
		total += len(r.Payload)
	}
	return float64(total) / float64(len(recs))
}

var (
	bench300Once sync.Once
	bench300     []*trace.Record
)

// benchFrames300 returns 200,000 realistic frame records whose payloads
// are exactly 300 bytes: synth traffic, shorter messages padded with a
// "note" string of random letters, longer ones left out.
func benchFrames300() []*trace.Record {
	bench300Once.Do(func() {
		rng := rand.New(rand.NewSource(2))
		g := synth.New(2)
		for len(bench300) < 200000 {
			r := g.Next()
			if r.Kind != trace.KindFrame || len(r.Payload) > 300-10 {
				continue
			}
			pad := make([]byte, 300-10-len(r.Payload))
			for i := range pad {
				pad[i] = byte('a' + rng.Intn(26))
			}
			p := append(append(append([]byte(nil), r.Payload[:len(r.Payload)-1]...), `,"note":"`...), pad...)
			p = append(p, `"}`...)
			cp := *r
			cp.Payload, cp.Size = p, len(p)
			bench300 = append(bench300, &cp)
		}
	})
	return bench300
}

// BenchmarkWrite300 measures writing records of 300-byte JSON frames
// through a zstd Writer (the target: 300,000 records/s).
func BenchmarkWrite300(b *testing.B) {
	recs := benchFrames300()
	if len(recs[0].Payload) != 300 {
		b.Fatalf("payload of %d bytes", len(recs[0].Payload))
	}
	b.SetBytes(300)
	benchWrite(b, recs, Options{})
}

// BenchmarkWrite measures writing frame records through a zstd Writer
// (to memory, so the disk does not dominate) and reports the compression
// ratio on realistic traffic.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{{"zstd", Options{}}, {"plain", Options{Compression: Plain}}} {
		b.Run(c.name, func(b *testing.B) {
			recs := benchFrames()
			s := benchWrite(b, recs, c.opts)
			b.ReportMetric(avgPayload(recs), "payload-bytes")
			b.ReportMetric(float64(s.Written)/float64(s.Bytes), "compressed/raw")
		})
	}
}

// benchWrite writes b.N of recs (cycling) to a Writer on io.Discard,
// reports records/s and returns the writer's counters.
func benchWrite(b *testing.B, recs []*trace.Record, opts Options) Stats {
	w, err := NewWriter(io.Discard, "bench", opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Write(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	return w.Stats()
}

// BenchmarkRead measures reading records back from a zstd and a plain
// trace of realistic traffic.
func BenchmarkRead(b *testing.B) {
	for _, c := range []struct {
		name string
		opts Options
	}{{"zstd", Options{}}, {"plain", Options{Compression: Plain}}} {
		b.Run(c.name, func(b *testing.B) {
			recs := benchFrames()
			var out bytes.Buffer
			w, _ := NewWriter(&out, "bench", c.opts)
			w.Write(trace.NewHeader("bench", "0", trace.SourceSimulator, recs[0].T))
			for _, r := range recs {
				w.Write(r)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			data := out.Bytes()
			b.SetBytes(int64(len(data) / len(recs)))
			b.ReportAllocs()
			b.ResetTimer()
			var r *Reader
			for i := 0; i < b.N; i++ {
				if r == nil {
					var err error
					if r, err = NewReader(bytes.NewReader(data), "bench"); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := r.Next(); err == io.EOF {
					r.Close()
					r = nil
					i--
				} else if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if r != nil {
				r.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkFraming compares, on the same realistic traffic cut into units
// of whole lines (128 KiB: full speed; 8 KiB: about 25 records per 500 ms
// flush), the ways of writing zstd that were considered: "unaligned", one
// frame and no flushes (the best ratio, but a cut file gives the zstd tool
// half lines); "blocks", one frame with a flushed block per unit (the
// writer before: the zstd tool still stops mid-line after a kill, see
// lineFrame); "frames", a frame per unit (the writer now).
func BenchmarkFraming(b *testing.B) {
	var plain []byte
	for _, r := range benchFrames()[:100000] {
		plain, _ = trace.AppendLine(plain, r)
	}
	for _, unit := range []int{128 << 10, 8 << 10} {
		var units [][]byte
		for rest := plain; len(rest) > 0; {
			n := len(rest)
			if n > unit {
				n = bytes.LastIndexByte(rest[:unit], '\n') + 1
			}
			units = append(units, rest[:n])
			rest = rest[n:]
		}
		for _, mode := range []string{"unaligned", "blocks", "frames"} {
			b.Run(fmt.Sprintf("unit=%dK/%s", unit>>10, mode), func(b *testing.B) {
				var out countingDiscard
				b.SetBytes(int64(len(plain)))
				b.ResetTimer()
				for range b.N {
					out = 0
					switch mode {
					case "unaligned", "blocks":
						enc, _ := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
						for _, u := range units {
							enc.Write(u)
							if mode == "blocks" {
								enc.Flush()
							}
						}
						enc.Close()
					case "frames":
						enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
						var buf []byte
						for _, u := range units {
							buf = lineFrame(enc, u, buf[:0])
							out.Write(buf)
						}
					}
				}
				b.ReportMetric(100*float64(out)/float64(len(plain)), "%compressed")
				b.ReportMetric(float64(b.N*len(plain))/b.Elapsed().Seconds()/float64(len(plain))*100000, "records/s")
			})
		}
	}
}

// countingDiscard counts what is written to it.
type countingDiscard int64

func (c *countingDiscard) Write(p []byte) (int, error) {
	*c += countingDiscard(len(p))
	return len(p), nil
}
