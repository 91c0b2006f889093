package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lettadev/wsproxy/capture/pcapgen"
)

// FuzzImport feeds arbitrary bytes to the capture reader and the whole
// import behind it: nothing may panic, every error names the file, and
// reading ends.
func FuzzImport(f *testing.F) {
	for _, s := range pcapgen.Scenarios() {
		var b bytes.Buffer
		s.Write(&b)
		f.Add(b.Bytes())
		f.Add(b.Bytes()[:b.Len()*2/3])
	}
	if b, err := os.ReadFile(filepath.Join("..", "traces", "captures", "real-python.pcap")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("not a capture at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pr, err := NewPacketReader(bytes.NewReader(data), "fuzz.pcap")
		if err != nil {
			if !bytes.HasPrefix([]byte(err.Error()), []byte("fuzz.pcap: ")) {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		src := NewSource(pr, Options{MaxMessage: 1 << 20, Window: 64 << 10, TotalWindow: 256 << 10})
		for n := 0; ; n++ {
			r, err := src.Next()
			if err != nil {
				if err != io.EOF && !bytes.HasPrefix([]byte(err.Error()), []byte("fuzz.pcap: ")) {
					t.Fatalf("error without the file name: %v", err)
				}
				break
			}
			if r.N != int64(n+1) {
				t.Fatalf("record %d numbered %d", n, r.N)
			}
			if n > 1<<20 {
				t.Fatal("no end")
			}
		}
		src.Summary().WriteText(io.Discard)
	})
}
