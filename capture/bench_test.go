package capture

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/capture/pcapgen"
	"github.com/lettadev/wsproxy/wsframe"
)

var (
	benchOnce sync.Once
	benchData []byte
)

// benchCapture is a 32 MB capture of 16 connections taking turns: the
// server sends realistic events (300-byte JSON and some 4 KiB ones,
// several per segment), the client acks; full-size segments.
func benchCapture(b *testing.B) []byte {
	benchOnce.Do(func() {
		const conns = 16
		cs := make([]*pcapgen.Conn, conns)
		for i := range cs {
			cs[i] = pcapgen.NewConn(fmt.Sprintf("10.0.0.1:%d", 40000+i), "10.0.0.2:80", t0.Add(time.Duration(i)*time.Microsecond), pcapgen.Ethernet)
			cs[i].MSS = 1448
			cs[i].Step = 10 * time.Microsecond
			cs[i].Handshake()
			cs[i].Send(true, pcapgen.UpgradeRequest("h", "/v1/environments/c/status/ws?channel=stream"))
			cs[i].Send(false, pcapgen.UpgradeResponse())
		}
		ev := func(i int) []byte {
			n := 300
			if i%10 == 0 {
				n = 4096
			}
			m := fmt.Sprintf(`{"type":"stream_delta","seq":%d,"event_seq":%d,"delta":{"text":"`, i, i)
			m += strings.Repeat("x", n-len(m)-3) + `"}}`
			return pcapgen.Frame(false, true, wsframe.OpText, false, []byte(m), key)
		}
		total := 0
		for round := 0; total < 32<<20; round++ {
			for _, c := range cs {
				var burst []byte
				for j := 0; j < 20; j++ {
					burst = append(burst, ev(round*20+j)...)
				}
				c.Send(false, burst)
				c.Send(true, text(true, fmt.Sprintf(`{"type":"ack","seq":%d}`, round*20+19)))
				total += len(burst) + 30*len(burst)/1448
			}
		}
		var pkts []pcapgen.Packet
		for _, c := range cs {
			c.Close(true)
			pkts = append(pkts, c.Packets...)
		}
		// Interleave connections by time.
		sortByTime(pkts)
		var buf bytes.Buffer
		if err := pcapgen.WritePcap(&buf, pcapgen.Ethernet, true, pkts); err != nil {
			panic(err)
		}
		benchData = buf.Bytes()
	})
	return benchData
}

func sortByTime(p []pcapgen.Packet) {
	// Packets of each connection are already in order: merge by time.
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sortSlice(idx, func(a, b int) bool {
		if !p[a].Time.Equal(p[b].Time) {
			return p[a].Time.Before(p[b].Time)
		}
		return a < b
	})
	out := make([]pcapgen.Packet, len(p))
	for i, j := range idx {
		out[i] = p[j]
	}
	copy(p, out)
}

// BenchmarkSource is the import without writing: capture bytes to records.
func BenchmarkSource(b *testing.B) {
	data := benchCapture(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var frames int64
	for i := 0; i < b.N; i++ {
		pr, err := NewPacketReader(bytes.NewReader(data), "bench.pcap")
		if err != nil {
			b.Fatal(err)
		}
		src := NewSource(pr, Options{})
		frames = 0
		for {
			r, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if r.Kind == "frame" {
				frames++
			}
		}
	}
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkImport is "wsproxy import" end to end: a capture file to a
// zstd trace file (TestMemoryBounded measures the memory).
func BenchmarkImport(b *testing.B) {
	data := benchCapture(b)
	dir := b.TempDir()
	in := filepath.Join(dir, "bench.pcap")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := Import(in, ImportOptions{Out: filepath.Join(dir, "out.jsonl.zst")})
		if err != nil {
			b.Fatal(err)
		}
		if len(sum.Connections) != 16 {
			b.Fatalf("%d connections", len(sum.Connections))
		}
	}
}

func sortSlice(idx []int, less func(a, b int) bool) {
	sort.SliceStable(idx, func(i, j int) bool { return less(idx[i], idx[j]) })
}
