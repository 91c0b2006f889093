package recorder

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/lettadev/wsproxy/internal/synth"
	"github.com/lettadev/wsproxy/trace"
)

// These tests check the trace files with the real zstd command-line tool,
// which (unlike our reader) writes out every block it has decoded before
// it notices that a cut file ends: so a cut file reads cleanly with
// `zstd -dc | jq` only if every block ends at a line boundary.

// needTool skips the test when a command-line tool is not installed
// (.ci/run installs zstd and jq).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return p
}

// zstdBlock is one block of a zstd frame in a file, or a skippable frame.
type zstdBlock struct {
	end int  // offset just past the block (and the frame's checksum)
	typ byte // 0 raw, 1 RLE, 2 compressed, skippableFrame
}

const skippableFrame = 4

// zstdBlocks parses the frame and block headers of a zstd file (RFC 8878)
// and returns where each block ends. A cut file is parsed up to its last
// complete block.
func zstdBlocks(data []byte) ([]zstdBlock, error) {
	var out []zstdBlock
	off := 0
	for off < len(data) {
		if len(data)-off < 6 {
			return out, nil
		}
		if magic := binary.LittleEndian.Uint32(data[off:]); magic&^0xf == 0x184D2A50 {
			size := int(binary.LittleEndian.Uint32(data[off+4:]))
			if len(data)-off < 8+size {
				return out, nil
			}
			off += 8 + size
			out = append(out, zstdBlock{off, skippableFrame})
			continue
		} else if magic != 0xFD2FB528 {
			return out, fmt.Errorf("offset %d: no zstd frame magic", off)
		}
		fhd := data[off+4]
		single := fhd&0x20 != 0
		checksum := fhd&0x04 != 0
		n := 5
		if !single {
			n++ // window descriptor
		}
		n += []int{0, 1, 2, 4}[fhd&3]
		switch fcs := fhd >> 6; {
		case fcs == 0 && single:
			n++
		case fcs == 1:
			n += 2
		case fcs == 2:
			n += 4
		case fcs == 3:
			n += 8
		}
		off += n
		for {
			if len(data)-off < 3 {
				return out, nil
			}
			h := uint32(data[off]) | uint32(data[off+1])<<8 | uint32(data[off+2])<<16
			last, typ, size := h&1 != 0, byte(h>>1&3), int(h>>3)
			if typ == 1 {
				size = 1
			}
			if len(data)-off < 3+size {
				return out, nil
			}
			off += 3 + size
			out = append(out, zstdBlock{off, typ})
			if last {
				break
			}
		}
		if checksum {
			off += 4
			out[len(out)-1].end = off
		}
	}
	return out, nil
}

// zstdDC runs `zstd -dc` on a file and returns what it wrote (it exits
// non-zero on a cut file, which is expected).
func zstdDC(t *testing.T, path string) []byte {
	t.Helper()
	out, err := exec.Command("zstd", "-dc", path).Output()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("zstd -dc %s: %v", path, err)
		}
	}
	return out
}

// jsonLines checks that every line of a trace's JSONL is a JSON object
// and returns the offsets just past each line's newline.
func jsonLines(t *testing.T, full []byte) []int {
	t.Helper()
	var ends []int
	for off := 0; off < len(full); {
		n := bytes.IndexByte(full[off:], '\n')
		if n < 0 {
			t.Fatalf("the trace's last line has no newline")
		}
		if line := full[off : off+n]; !json.Valid(line) || line[0] != '{' {
			t.Fatalf("line %d is not a JSON object: %.80q", len(ends)+1, line)
		}
		off += n + 1
		ends = append(ends, off)
	}
	return ends
}

// checkLines checks that out, what `zstd -dc` wrote for a cut file, is a
// prefix of the trace made of complete lines (each a JSON object, as
// jsonLines checked) and returns how many. A prefix that ends inside a
// line is accepted only inside a line longer than maxLine (such a line
// spans several zstd blocks); longCut reports that case.
func checkLines(t *testing.T, what string, out, full []byte, ends []int, maxLine int) (lines int, longCut bool) {
	t.Helper()
	if !bytes.HasPrefix(full, out) {
		t.Fatalf("%s: zstd -dc wrote %d bytes that are not a prefix of the trace", what, len(out))
	}
	lines, exact := slices.BinarySearch(ends, len(out))
	if len(out) == 0 || exact {
		if exact {
			lines++
		}
		return lines, false
	}
	start := 0
	if lines > 0 {
		start = ends[lines-1]
	}
	if lineLen := ends[lines] - start; lineLen <= maxLine {
		t.Fatalf("%s: zstd -dc stops %d bytes into line %d, a line of %d bytes (blocks hold %d)",
			what, len(out)-start, lines+1, lineLen, maxLine)
	}
	return lines, true
}

// payloadOf returns a text payload of about n bytes: a JSON message whose
// content is random words, so it compresses like real text.
func payloadOf(rng *rand.Rand, n int) []byte {
	words := []string{"the", "device", "tool", "call", "returned", "file", "line", "error", "agent", "stream", "delta", "ok"}
	var b bytes.Buffer
	b.WriteString(`{"type":"read_file_response","request_id":"rf-1","content":"`)
	for b.Len() < n {
		b.WriteString(words[rng.Intn(len(words))])
		b.WriteByte(' ')
		if rng.Intn(8) == 0 {
			fmt.Fprintf(&b, "%x ", rng.Int63())
		}
	}
	b.WriteString(`"}`)
	return b.Bytes()
}

// cutTrace writes a trace of realistic traffic (synth sessions, with
// some messages of 10-100 KiB and two longer than a block) at level,
// flushing at random points, and returns the file's bytes, the plain
// JSONL, and after each flush the file size and the records written.
func cutTrace(t *testing.T, path string, level zstd.EncoderLevel, n int) (data, full []byte, flushed [][2]int) {
	t.Helper()
	w, err := Create(path, Options{Level: level, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(int64(level)))
	g := synth.New(int64(level))
	var plain []byte
	add := func(r *trace.Record) {
		if plain, err = trace.AppendLine(plain, r); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	add(trace.NewHeader("test", "0", trace.SourceProxy, t0))
	for i := 1; i < n; i++ {
		r := g.Next()
		switch {
		case i == n/3 || i == 2*n/3:
			p := payloadOf(rng, 300<<10)
			r = &trace.Record{Kind: trace.KindFrame, T: r.T, Conn: "c1", From: trace.Server, Op: trace.OpText, Payload: p, Size: len(p)}
		case i%211 == 0:
			p := payloadOf(rng, 10<<10+rng.Intn(90<<10))
			r = &trace.Record{Kind: trace.KindFrame, T: r.T, Conn: "c1", From: trace.Server, Op: trace.OpText, Payload: p, Size: len(p)}
		}
		if i%1000 == 500 {
			// A short line of random letters: as a unit of its own (below),
			// the encoder would store it raw.
			p := make([]byte, 160)
			for j := range p {
				p[j] = byte('!' + rng.Intn(90))
				if p[j] == '\\' || p[j] == '"' {
					p[j] = 'x'
				}
			}
			p = fmt.Appendf(nil, `{"type":"note","n":"%s"}`, p)
			r = &trace.Record{Kind: trace.KindFrame, T: r.T, Conn: "c1", From: trace.Server, Op: trace.OpText, Payload: p, Size: len(p)}
		}
		add(r)
		if rng.Intn(400) == 0 || i%1000 >= 490 && i%1000 < 510 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			flushed = append(flushed, [2]int{int(fi.Size()), i + 1})
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, plain, flushed
}

// TestBlocksEndAtLineBoundaries cuts traces written at every zstd level
// at the end and in the middle of every block and at random offsets, runs
// the real `zstd -dc` on each cut, and checks that it writes complete JSON
// lines only (a cut can fall inside a line only when that line is longer
// than a block), and at least every record flushed before the cut.
func TestBlocksEndAtLineBoundaries(t *testing.T) {
	needTool(t, "zstd")
	levels := []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression}
	for _, level := range levels {
		t.Run(level.String(), func(t *testing.T) {
			dir := t.TempDir()
			data, full, flushed := cutTrace(t, filepath.Join(dir, "t.jsonl.zst"), level, 3000)
			blocks, err := zstdBlocks(data)
			if err != nil {
				t.Fatal(err)
			}
			raw, frames := 0, 0
			for _, b := range blocks {
				switch b.typ {
				case 0:
					raw++
				case skippableFrame:
					frames--
				}
			}
			frames += bytes.Count(data, []byte{0x28, 0xb5, 0x2f, 0xfd})
			rng := rand.New(rand.NewSource(7))
			cuts := []int{0, 3, 9}
			prev := 0
			for _, b := range blocks {
				cuts = append(cuts, b.end, prev+(b.end-prev)/2)
				prev = b.end
			}
			for range 30 {
				cuts = append(cuts, rng.Intn(len(data)))
			}
			maxLine := encoderBlockSize(level)
			ends := jsonLines(t, full)
			cutPath := filepath.Join(dir, "cut.jsonl.zst")
			longCuts := 0
			for _, off := range cuts {
				if err := os.WriteFile(cutPath, data[:off], 0o600); err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("cut at byte %d of %d", off, len(data))
				lines, long := checkLines(t, what, zstdDC(t, cutPath), full, ends, maxLine)
				if long {
					longCuts++
				}
				want := 0
				for _, f := range flushed {
					if f[0] <= off {
						want = f[1]
					}
				}
				if lines < want {
					t.Fatalf("%s: %d lines, but %d records were flushed before it", what, lines, want)
				}
			}
			if out := zstdDC(t, filepath.Join(dir, "t.jsonl.zst")); !bytes.Equal(out, full) {
				t.Fatalf("zstd -dc of the whole file gives %d bytes, not the %d written", len(out), len(full))
			}
			if raw > 0 {
				t.Errorf("%d raw blocks: the zstd tool streams those out, cut lines included", raw)
			}
			t.Logf("%d bytes, about %d frames, %d blocks (%d raw), %d flushes, %d cuts (%d inside the two lines longer than a block)",
				len(data), frames, len(blocks), raw, len(flushed), len(cuts), longCuts)
		})
	}
}

// TestKill9ZstdCLI kills a process writing a trace with SIGKILL and reads
// the file as outside tools do: `zstd -dc | jq -c .kind` must succeed on
// every line, and give every record handed to the writer more than a
// second before the kill. Cuts of that file at random offsets (a copy
// taken while it is written) must give whole lines only.
func TestKill9ZstdCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process for ~2.5 s")
	}
	needTool(t, "zstd")
	path := filepath.Join(t.TempDir(), "crash.jsonl.zst")
	mustHave := killWriter(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := zstdDC(t, path)
	if len(out) == 0 || out[len(out)-1] != '\n' {
		t.Fatalf("zstd -dc of the killed trace (%d bytes) ends inside a line: %.80q", len(out), out[max(0, len(out)-80):])
	}
	ends := jsonLines(t, out)
	lines := len(ends)
	if lines < mustHave+1 {
		t.Fatalf("zstd -dc gave %d lines, want at least %d (header and the records older than 1 s)", lines, mustHave+1)
	}
	if _, err := exec.LookPath("jq"); err == nil {
		cmd := exec.Command("sh", "-c", `zstd -dc "$1" 2>/dev/null | jq -c .kind`, "sh", path)
		kinds, err := cmd.Output()
		if err != nil {
			t.Fatalf("zstd -dc | jq -c .kind on the killed trace: %v", err)
		}
		if n := strings.Count(string(kinds), "\n"); n != lines {
			t.Fatalf("jq printed %d kinds for %d lines", n, lines)
		}
	} else {
		t.Log("jq is not installed: checked the lines with encoding/json only")
	}
	rng := rand.New(rand.NewSource(3))
	cutPath := path + ".cut"
	for range 30 {
		off := rng.Intn(len(data))
		if err := os.WriteFile(cutPath, data[:off], 0o600); err != nil {
			t.Fatal(err)
		}
		checkLines(t, fmt.Sprintf("killed trace cut at byte %d of %d", off, len(data)), zstdDC(t, cutPath), out, ends, encoderBlockSize(zstd.SpeedDefault))
	}
	t.Logf("killed trace: %d bytes, %d lines, at least %d required", len(data), lines, mustHave+1)
}

// TestLiteralFrame checks the frames lineFrame makes of input the encoder
// stores raw: both decoders read them back, and the zstd tool writes
// nothing of one that is cut.
func TestLiteralFrame(t *testing.T) {
	needTool(t, "zstd")
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	prefix := []byte("{\"kind\":\"header\"}\n")
	for _, n := range []int{1, 31, 32, 4095, 4096, 70000, encoderBlockSize(zstd.SpeedDefault)} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(rng.Intn(256))
		}
		// A complete first frame, then the literal frame.
		f := appendLiteralFrame(appendLiteralFrame(nil, prefix), src)
		got, err := dec.DecodeAll(f, nil)
		if err != nil || !bytes.Equal(got, append(append([]byte(nil), prefix...), src...)) {
			t.Fatalf("%d bytes: Go decoder: %v (%d bytes back)", n, err, len(got))
		}
		path := filepath.Join(dir, "f.zst")
		if err := os.WriteFile(path, f, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("zstd", "-dc", path).Output(); err != nil || !bytes.Equal(out, got) {
			t.Fatalf("%d bytes: zstd -dc: %v (%d bytes back)", n, err, len(out))
		}
		for _, cut := range []int{len(f) - 1, len(f) - n/2 - 1} {
			if err := os.WriteFile(path, f[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
			if out := zstdDC(t, path); !bytes.Equal(out, prefix) {
				t.Fatalf("%d bytes cut at %d of %d: zstd -dc wrote %d bytes, want only the first frame's %d", n, cut, len(f), len(out), len(prefix))
			}
		}
		if !rawSingleBlock(zenc(t).EncodeAll(src, nil)) && n > 100 {
			t.Errorf("%d random bytes: the encoder did not store them raw; rawSingleBlock is wrong", n)
		}
		if lf := lineFrame(zenc(t), src, nil); rawSingleBlock(lf) {
			t.Errorf("%d bytes: lineFrame left a raw block", n)
		}
	}
}

func zenc(t *testing.T) *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}
