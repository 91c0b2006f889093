package capture

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/capture/pcapgen"
	"github.com/lettadev/wsproxy/wsframe"
)

// writeLongCapture writes a capture of 4 connections exchanging about
// size bytes, generated and written round by round (never all in memory).
func writeLongCapture(t *testing.T, path string, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs := make([]*pcapgen.Conn, 4)
	var head []pcapgen.Packet
	for i := range cs {
		cs[i] = pcapgen.NewConn(fmt.Sprintf("10.0.0.1:%d", 41000+i), "10.0.0.2:80", t0, pcapgen.Ethernet)
		cs[i].MSS = 1448
		cs[i].Handshake()
		cs[i].Send(true, pcapgen.UpgradeRequest("h", "/ws"))
		cs[i].Send(false, pcapgen.UpgradeResponse())
		head = append(head, cs[i].Packets...)
		cs[i].Packets = nil
	}
	if err := pcapgen.WritePcap(f, pcapgen.Ethernet, false, head); err != nil {
		t.Fatal(err)
	}
	msg := pcapgen.Frame(false, true, wsframe.OpText, false, []byte(`{"type":"stream_delta","delta":"`+strings.Repeat("z", 1000)+`"}`), key)
	w := pcapgenAppender{f}
	for written := 0; written < size; {
		for _, c := range cs {
			for j := 0; j < 10; j++ {
				c.Send(false, msg)
			}
			c.Send(true, text(true, `{"type":"ack"}`))
			for _, p := range c.Packets {
				w.write(t, p)
				written += len(p.Data) + 16
			}
			c.Packets = c.Packets[:0]
		}
	}
	for _, c := range cs {
		c.Close(true)
		for _, p := range c.Packets {
			w.write(t, p)
		}
	}
}

// pcapgenAppender appends pcap records (µs) after a file header.
type pcapgenAppender struct{ f *os.File }

func (a pcapgenAppender) write(t *testing.T, p pcapgen.Packet) {
	var h [16]byte
	us := p.Time.UnixMicro()
	putLE32(h[0:], uint32(us/1e6))
	putLE32(h[4:], uint32(us%1e6))
	putLE32(h[8:], uint32(len(p.Data)))
	putLE32(h[12:], uint32(len(p.Data)))
	if _, err := a.f.Write(append(h[:], p.Data...)); err != nil {
		t.Fatal(err)
	}
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// peakLiveHeap imports a capture file, discarding records, and returns
// the largest live heap seen after a collection every 2000 records.
func peakLiveHeap(t *testing.T, path string) (uint64, int64) {
	pr, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	src := NewSource(pr, Options{})
	var peak uint64
	var ms runtime.MemStats
	var frames int64
	for n := 0; ; n++ {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == "frame" {
			frames++
		}
		if n%2000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	return peak, frames
}

// Memory is bounded by the open connections, not by the capture's size.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 40 MB")
	}
	dir := t.TempDir()
	small, big := filepath.Join(dir, "small.pcap"), filepath.Join(dir, "big.pcap")
	writeLongCapture(t, small, 4<<20)
	writeLongCapture(t, big, 40<<20)
	ps, fs := peakLiveHeap(t, small)
	pb, fb := peakLiveHeap(t, big)
	if fb < 8*fs {
		t.Fatalf("big capture gave %d frames, small %d", fb, fs)
	}
	t.Logf("peak live heap: %.1f MB for %d frames, %.1f MB for %d frames", float64(ps)/1e6, fs, float64(pb)/1e6, fb)
	if pb > ps+4<<20 {
		t.Errorf("live heap grows with the capture: %.1f MB for the 4 MB capture, %.1f MB for the 40 MB one", float64(ps)/1e6, float64(pb)/1e6)
	}
}
