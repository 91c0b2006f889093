package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/lettadev/wsproxy/capture/pcapgen"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

var key = [4]byte{1, 2, 3, 4}

// session builds a short session on a connection and returns the capture.
func session(t testing.TB, link pcapgen.Link, client, server string, nanos bool, body func(c *pcapgen.Conn)) []byte {
	t.Helper()
	c := pcapgen.NewConn(client, server, t0, link)
	c.Handshake()
	c.Send(true, pcapgen.UpgradeRequest("h", "/ws"))
	c.Send(false, pcapgen.UpgradeResponse())
	body(c)
	c.Close(true)
	var b bytes.Buffer
	if err := pcapgen.WritePcap(&b, link, nanos, c.Packets); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func text(fromClient bool, s string) []byte {
	return pcapgen.Frame(fromClient, true, wsframe.OpText, false, []byte(s), key)
}

func TestLinkTypesAndTimestamps(t *testing.T) {
	for _, c := range []struct {
		name           string
		link           pcapgen.Link
		client, server string
		nanos          bool
	}{
		{"ethernet-v4-us", pcapgen.Ethernet, "10.1.1.1:5000", "10.1.1.2:80", false},
		{"ethernet-v6-ns", pcapgen.Ethernet, "[fd00::1]:5000", "[fd00::2]:80", true},
		{"null-v4", pcapgen.Null, "127.0.0.1:5000", "127.0.0.1:80", false},
		{"null-v6", pcapgen.Null, "[::1]:5000", "[::1]:80", true},
		{"raw-v6", pcapgen.Raw, "[fd00::1]:5000", "[fd00::2]:80", false},
		{"sll-v4", pcapgen.SLL, "127.0.0.1:5000", "127.0.0.1:80", true},
		{"sll2-v6", pcapgen.SLL2, "[::1]:5000", "[::1]:80", false},
		{"vlan-v4", pcapgen.VLAN, "10.1.1.1:5000", "10.1.1.2:80", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var sent time.Time
			data := session(t, c.link, c.client, c.server, c.nanos, func(cn *pcapgen.Conn) {
				cn.Step = 1234567 * time.Nanosecond
				sent = cn.Time
				cn.Send(false, text(false, `{"type":"hello"}`))
			})
			recs, sum, err := readAll(t, c.name, data, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fr := framesOf(recs)
			if len(fr) != 1 || fr[0].Payload != `{"type":"hello"}` || fr[0].From != "server" {
				t.Fatalf("frames %+v", fr)
			}
			want := sent
			if !c.nanos {
				want = sent.Truncate(time.Microsecond)
			}
			for _, r := range recs {
				if r.Kind == trace.KindFrame && !r.T.Equal(want) {
					t.Errorf("frame time %v, want the packet's %v", r.T, want)
				}
			}
			if len(sum.Connections) != 1 || sum.Connections[0].Client != c.client || sum.Connections[0].Server != c.server {
				t.Errorf("summary %+v", sum.Connections)
			}
		})
	}
}

// Frames with 64-bit lengths, and messages over the bound.
func TestLargeFrames(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000)
	data := session(t, pcapgen.Ethernet, "10.0.0.1:1", "10.0.0.2:2", false, func(c *pcapgen.Conn) {
		c.Send(false, pcapgen.Frame(false, true, wsframe.OpBinary, false, big, key))
		c.Send(true, text(true, "after"))
	})
	recs, _, err := readAll(t, "big", data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fr := framesOf(recs)
	if len(fr) != 2 || fr[0].Op != "binary" || fr[0].Payload != string(big) || fr[1].Payload != "after" {
		t.Fatalf("got %d frames", len(fr))
	}
	recs, _, err = readAll(t, "big", data, Options{MaxMessage: 65536})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, r := range recs {
		if r.Kind == trace.KindError && r.From == trace.Server {
			msgs = append(msgs, r.Message)
		}
	}
	if len(msgs) == 0 || !strings.Contains(msgs[0], "declares 70000 payload bytes, over the 65536-byte limit") {
		t.Errorf("errors %q", msgs)
	}
	if fr := framesOf(recs); len(fr) != 1 || fr[0].Payload != "after" {
		t.Errorf("frames after the oversized one: %+v", fr)
	}
}

// A segment that never comes is reported once LostAfter of capture time
// has passed, in the middle of the trace, not at its end.
func TestLostSegmentFoundInTime(t *testing.T) {
	data := session(t, pcapgen.Ethernet, "10.0.0.1:1", "10.0.0.2:2", false, func(c *pcapgen.Conn) {
		c.MSS = 10
		segs := c.Segments(false, text(false, "0123456789abcdefghij"))
		c.Emit(segs[0])
		c.Emit(segs[2:]...)
		for i := 0; i < 30; i++ {
			c.Time = c.Time.Add(time.Second)
			c.Send(true, text(true, fmt.Sprint(i)))
		}
	})
	recs, _, err := readAll(t, "lost", data, Options{LostAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clientAfter := 0
	found := false
	for _, r := range recs {
		if r.Kind == trace.KindError && strings.HasPrefix(r.Message, "lost segment: 10 bytes of 10.0.0.2:2's stream missing at stream offset") {
			found = true
		}
		if found && r.Kind == trace.KindFrame && r.From == trace.Client {
			clientAfter++
		}
	}
	if !found || clientAfter < 20 || clientAfter > 26 {
		t.Fatalf("lost segment found %v, client frames after it %d (want it after about 5 s of the 30)", found, clientAfter)
	}
}

func TestTruncated(t *testing.T) {
	s := pcapgen.Scenarios()[0]
	var b bytes.Buffer
	if err := s.Write(&b); err != nil {
		t.Fatal(err)
	}
	full := b.Bytes()
	whole, _, _ := readAll(t, "full", full, Options{})
	for _, cut := range []int{len(full) - 1, len(full) - 20, len(full) / 2, 24 + 16 + 10} {
		recs, sum, err := readAll(t, "cut.pcap", full[:cut], Options{})
		var ce *CutError
		if !errors.As(err, &ce) || sum.Cut == nil {
			t.Fatalf("cut at %d: err %v, want a CutError", cut, err)
		}
		if !strings.Contains(err.Error(), "cut.pcap: capture cut at byte") || !strings.Contains(err.Error(), "complete packets before it were read") {
			t.Errorf("message %q", err)
		}
		// Everything before the cut is there: the frames are a prefix of
		// the whole capture's.
		got, want := framesOf(recs), framesOf(whole)
		if len(got) > len(want) {
			t.Fatalf("cut at %d: %d frames, more than the whole file's %d", cut, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("cut at %d: frame %d differs", cut, i)
			}
		}
		if cut == len(full)-1 && len(got) != len(want) {
			t.Errorf("cut in the last packet lost frames: %d of %d", len(got), len(want))
		}
		if ce.Packets != sum.Packets {
			t.Errorf("cut says %d packets, summary %d", ce.Packets, sum.Packets)
		}
	}
	if _, err := NewPacketReader(bytes.NewReader(full[:10]), "hdr.pcap"); err == nil || !strings.Contains(err.Error(), "hdr.pcap: capture cut at byte 0") {
		t.Errorf("cut header: %v", err)
	}
	// pcapng cut too.
	for _, sc := range pcapgen.Scenarios() {
		if !strings.HasSuffix(sc.File, ".pcapng") {
			continue
		}
		var b bytes.Buffer
		sc.Write(&b)
		_, sum, err := readAll(t, sc.File, b.Bytes()[:b.Len()-7], Options{})
		if !errors.As(err, new(*CutError)) || sum.Packets == 0 {
			t.Errorf("pcapng cut: %v, %d packets", err, sum.Packets)
		}
	}
}

// A gzip-compressed capture reads like the plain one.
func TestGzipCapture(t *testing.T) {
	s := pcapgen.Scenarios()[1]
	var b, z bytes.Buffer
	s.Write(&b)
	zw := gzip.NewWriter(&z)
	zw.Write(b.Bytes())
	zw.Close()
	plain, _, err := readAll(t, "p", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	zipped, _, err := readAll(t, "z.pcap.gz", z.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := framesOf(zipped), framesOf(plain); len(g) == 0 || len(g) != len(w) {
		t.Fatalf("gzip: %d frames, plain %d", len(g), len(w))
	}
}

// Import writes one trace per capture, or one per connection with Split,
// readable by the recorder, with the header's source pcap.
func TestImportFiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "traces", "captures", "two-interfaces.pcapng")
	now := func() time.Time { return t0 }
	sum, err := Import(src, ImportOptions{Out: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Outputs) != 1 || sum.Outputs[0] != filepath.Join(dir, "two-interfaces.jsonl.zst") {
		t.Fatalf("outputs %v", sum.Outputs)
	}
	one := readTrace(t, sum.Outputs[0])
	sum2, err := Import(src, ImportOptions{Out: filepath.Join(dir, "x.jsonl"), Split: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum2.Outputs) != 2 || sum2.Outputs[1] != filepath.Join(dir, "x-c2.jsonl") {
		t.Fatalf("split outputs %v", sum2.Outputs)
	}
	n := 0
	for _, p := range sum2.Outputs {
		recs := readTrace(t, p)
		for i, r := range recs {
			if r.N != int64(i+1) || r.Conn != recs[0].Conn {
				t.Fatalf("%s: record %d: n %d conn %s", p, i, r.N, r.Conn)
			}
		}
		n += len(recs)
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, fi.Mode())
		}
	}
	if n != len(one) || int64(n) != sum.Records {
		t.Errorf("split traces hold %d records, the single one %d (summary %d)", n, len(one), sum.Records)
	}
	var out strings.Builder
	sum.WriteText(&out)
	for _, w := range []string{"2 WebSocket connections imported", "c2   [2001:db8::1]:40008 → [2001:db8::2]:8765 /v1/environments/conn-1/status/ws?channel=stream",
		"server: 4 frames, 1028 bytes payload, 1042 bytes on the wire"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, out.String())
		}
	}
	keep := ImportOptions{Out: filepath.Join(dir, "kept.jsonl"), Now: now}
	keep.Redact.Keep = true
	if _, err := Import(filepath.Join("..", "traces", "captures", "basic.pcap"), keep); err != nil {
		t.Fatal(err)
	}
	if kr, err := recorder.Open(keep.Out); err != nil || kr.Header().Secrets != "kept" {
		t.Errorf("-keep-secrets trace: %v", err)
	} else {
		kr.Close()
	}
	cp := filepath.Join(dir, "same.pcap")
	data, _ := os.ReadFile(src)
	os.WriteFile(cp, data, 0o600)
	if _, err := Import(cp, ImportOptions{Out: cp}); err == nil || !strings.Contains(err.Error(), "would overwrite the capture itself") {
		t.Errorf("out = in: %v", err)
	}
	if after, _ := os.ReadFile(cp); !bytes.Equal(after, data) {
		t.Error("the capture was overwritten")
	}
	if _, err := Import(filepath.Join("..", "go.mod"), ImportOptions{Out: dir}); !errors.As(err, new(*NotCaptureError)) {
		t.Errorf("go.mod: %v", err)
	}
}

func readTrace(t *testing.T, path string) []*trace.Record {
	t.Helper()
	r, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Header().Source != trace.SourcePcap || r.Header().Secrets != "redacted" {
		t.Errorf("%s: header %+v", path, r.Header())
	}
	var out []*trace.Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}

// Secrets stay out unless kept.
func TestKeepSecrets(t *testing.T) {
	s := pcapgen.Scenarios()[0]
	var b bytes.Buffer
	s.Write(&b)
	for _, keep := range []bool{false, true} {
		o := Options{}
		o.Redact.Keep = keep
		recs, _, err := readAll(t, s.File, b.Bytes(), o)
		if err != nil {
			t.Fatal(err)
		}
		var all []byte
		for _, r := range recs {
			all, _ = trace.AppendLine(all, r)
		}
		if got := bytes.Contains(all, []byte("s3cret")) || bytes.Contains(all, []byte("sk-live-123")); got != keep {
			t.Errorf("keep %v: secrets in the trace: %v", keep, got)
		}
	}
}

// Progress lines come at every tenth of a big capture.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	data := session(t, pcapgen.Ethernet, "10.0.0.1:1", "10.0.0.2:2", false, func(c *pcapgen.Conn) {
		for i := 0; i < 200; i++ {
			c.Send(false, text(false, strings.Repeat("y", 1000)))
		}
	})
	p := filepath.Join(dir, "p.pcap")
	os.WriteFile(p, data, 0o600)
	var prog strings.Builder
	if _, err := Import(p, ImportOptions{Out: dir, Progress: &prog, ProgressMin: 1000}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(prog.String(), "\n"); n != 9 || !strings.Contains(prog.String(), "import: "+p+": 50% (") {
		t.Errorf("progress:\n%s", prog.String())
	}
}

// A mid-session connection with compressed frames (no context takeover)
// is recovered and inflated; the client is the side that masks.
func TestRecoverCompressed(t *testing.T) {
	c := pcapgen.NewConn("10.0.0.9:5555", "10.0.0.8:80", t0, pcapgen.Ethernet)
	comp, _ := wsframe.NewCompressor(1, false)
	var want []string
	for i := 0; i < 3; i++ {
		m := fmt.Sprintf(`{"type":"ack","seq":%d}`, i)
		p, _ := comp.Compress(nil, []byte(m))
		c.Send(true, pcapgen.Frame(true, true, wsframe.OpText, true, p, key))
		want = append(want, m)
	}
	var b bytes.Buffer
	pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
	recs, sum, err := readAll(t, "rc", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fr := framesOf(recs)
	if len(fr) != 3 || fr[0].From != "client" || fr[2].Payload != want[2] {
		t.Fatalf("frames %+v", fr)
	}
	if recs[0].Kind != trace.KindOpen || !recs[0].Open.Recovered || len(sum.Connections) != 1 || !sum.Connections[0].Recovered {
		t.Errorf("open %+v", recs[0])
	}
	if sum.Connections[0].Client != "10.0.0.9:5555" {
		t.Errorf("client %s", sum.Connections[0].Client)
	}
}

// Mid-session bytes with no frame boundary are skipped with the reason.
func TestRecoverFails(t *testing.T) {
	c := pcapgen.NewConn("10.0.0.9:5555", "10.0.0.8:80", t0, pcapgen.Ethernet)
	for i := 0; i < 5; i++ {
		c.Send(false, []byte(strings.Repeat("not a websocket stream ", 20)))
	}
	var b bytes.Buffer
	pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
	recs, sum, err := readAll(t, "rf", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 || len(sum.Skipped) != 1 || !strings.Contains(sum.Skipped[0].Reason, "capture started mid-session (no handshake) and no WebSocket frame boundary was found") {
		t.Fatalf("records %d, skipped %+v", len(recs), sum.Skipped)
	}
}

// When the reassembly window fills behind a missing segment, the loss is
// reported there; a loss inside the handshake skips the connection.
func TestLostByWindow(t *testing.T) {
	data := session(t, pcapgen.Ethernet, "10.0.0.1:1", "10.0.0.2:2", false, func(c *pcapgen.Conn) {
		segs := c.Segments(false, text(false, strings.Repeat("q", 3000)))
		c.Emit(segs[0])
		for i := 0; i < 100; i++ {
			c.Emit(c.Segments(false, text(false, strings.Repeat("r", 1000)))...)
		}
		c.Send(true, text(true, "client still talking"))
	})
	recs, _, err := readAll(t, "w", data, Options{Window: 20000})
	if err != nil {
		t.Fatal(err)
	}
	lostAt, clientAt := -1, -1
	for i, r := range recs {
		if r.Kind == trace.KindError && strings.HasPrefix(r.Message, "lost segment:") {
			lostAt = i
		}
		if r.Kind == trace.KindFrame && r.From == trace.Client {
			clientAt = i
		}
	}
	if lostAt < 0 || clientAt < lostAt {
		t.Fatalf("lost at record %d, client frame at %d: the loss must be found before the capture ends", lostAt, clientAt)
	}
	if n := len(framesOf(recs)); n != 1 {
		t.Errorf("%d frames, want only the client's", n)
	}

	c := pcapgen.NewConn("10.0.0.1:3", "10.0.0.2:4", t0, pcapgen.Ethernet)
	c.Handshake()
	c.MSS = 20
	segs := c.Segments(true, pcapgen.UpgradeRequest("h", "/ws"))
	c.Emit(segs[0])
	c.Emit(segs[2:]...)
	c.Close(true)
	var b bytes.Buffer
	pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
	_, sum, err := readAll(t, "hs", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Skipped) != 1 || !strings.Contains(sum.Skipped[0].Reason, "lost segment before the WebSocket stream was established: 20 bytes of 10.0.0.1:3's stream missing at stream offset 20") {
		t.Errorf("skipped %+v", sum.Skipped)
	}
}

// A TLS server hello (the client's hello not captured) is skipped too.
func TestTLSFromServer(t *testing.T) {
	c := pcapgen.NewConn("10.0.0.1:5", "10.0.0.2:443", t0, pcapgen.Ethernet)
	c.Send(false, []byte{0x16, 0x03, 0x03, 0x00, 0x10, 2, 0, 0, 12, 3, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	c.Send(false, []byte{0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5})
	var b bytes.Buffer
	pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
	_, sum, err := readAll(t, "tls", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Skipped) != 1 || !strings.HasPrefix(sum.Skipped[0].Reason, "TLS (record type 0x16, version 3.3) from 10.0.0.2:443") {
		t.Errorf("skipped %+v", sum.Skipped)
	}
}

// Packets cut by the snap length leave a gap that is reported as such.
func TestSnapLength(t *testing.T) {
	c := pcapgen.NewConn("10.0.0.1:7", "10.0.0.2:8", t0, pcapgen.Ethernet)
	c.Handshake()
	c.Send(true, pcapgen.UpgradeRequest("h", "/ws"))
	c.Send(false, pcapgen.UpgradeResponse())
	c.Send(false, text(false, strings.Repeat("s", 1200)))
	c.Send(false, text(false, "next"))
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	w.WriteFileHeader(200, layers.LinkTypeEthernet)
	for _, p := range c.Packets {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, Length: len(p.Data), CaptureLength: min(len(p.Data), 200)}
		w.WritePacket(ci, p.Data[:ci.CaptureLength])
	}
	recs, sum, err := readAll(t, "snap.pcap", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range sum.Warnings {
		found = found || strings.Contains(m, "snap.pcap: packet 6 was cut to 200 of its 1258 bytes by the capture's snap length")
	}
	lost := false
	for _, r := range recs {
		lost = lost || r.Kind == trace.KindError && strings.HasPrefix(r.Message, "lost segment:")
	}
	if !found || !lost {
		t.Errorf("warnings %q, lost segment reported %v", sum.Warnings, lost)
	}
}

// The open record carries what the handshake negotiated.
func TestOpenRecord(t *testing.T) {
	recs, _ := importFixture(t, "basic.pcap")
	o := recs[0]
	if o.Kind != trace.KindOpen || o.Open.Subprotocol != "letta.v1" || o.Open.Session.ConnectionID != "conn-1" || o.Open.Session.AgentID != "agent-1" ||
		o.Open.Session.Channel != "control" || o.Open.Client != "127.0.0.1:40001" || o.Open.Upstream != "ws://127.0.0.1:8765" || !o.Redacted ||
		o.Open.Headers["Authorization"][0] != "[REDACTED]" || o.T != time.Date(2026, 12, 1, 9, 30, 0, 3000000, time.UTC) {
		t.Errorf("open record %+v %+v", o, o.Open)
	}
}

// A compressed message that inflates past the bound is an error record,
// not a memory blow-up.
func TestDeflateBomb(t *testing.T) {
	comp, _ := wsframe.NewCompressor(9, false)
	bomb, _ := comp.Compress(nil, make([]byte, 8<<20))
	c := pcapgen.NewConn("10.0.0.1:9", "10.0.0.2:10", t0, pcapgen.Ethernet)
	c.Handshake()
	c.Send(true, pcapgen.UpgradeRequest("h", "/ws", "Sec-WebSocket-Extensions: permessage-deflate"))
	c.Send(false, pcapgen.UpgradeResponse("Sec-WebSocket-Extensions: permessage-deflate"))
	c.Send(false, pcapgen.Frame(false, true, wsframe.OpText, true, bomb, key))
	var b bytes.Buffer
	pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
	if len(bomb) > 20000 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	recs, _, err := readAll(t, "bomb", b.Bytes(), Options{MaxMessage: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, r := range recs {
		if r.Kind == trace.KindFrame {
			t.Errorf("a frame of %d bytes came out", r.Size)
		}
		if r.Kind == trace.KindError {
			msgs = append(msgs, r.Message)
		}
	}
	if len(msgs) == 0 || !strings.Contains(msgs[0], "over the 1048576-byte limit") {
		t.Errorf("errors %q", msgs)
	}
}

// Many connections that are not WebSocket: the summary stays short.
func TestManySkipped(t *testing.T) {
	var pkts []pcapgen.Packet
	for i := 0; i < 1100; i++ {
		c := pcapgen.NewConn(fmt.Sprintf("10.0.%d.%d:1000", i/250, i%250+1), "10.9.9.9:25", t0.Add(time.Duration(i)*time.Millisecond), pcapgen.Ethernet)
		c.Handshake()
		c.Send(false, []byte("220 smtp ready\r\n"))
		pkts = append(pkts, c.Packets...)
	}
	var b bytes.Buffer
	pcapgen.WritePcap(&b, pcapgen.Ethernet, false, pkts)
	_, sum, err := readAll(t, "smtp", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sum.WriteText(&out)
	if len(sum.Skipped) != 1000 || sum.SkippedMore != 100 || !strings.Contains(out.String(), "1100 TCP connections skipped") ||
		!strings.Contains(out.String(), "… and 1080 more TCP connections skipped") || strings.Count(out.String(), "\n") > 25 {
		t.Errorf("%d skipped, %d more:\n%s", len(sum.Skipped), sum.SkippedMore, out.String())
	}
	if !strings.Contains(sum.Skipped[0].Reason, "not HTTP: the server 10.9.9.9:25 spoke first (32 32 30 20 73 6d 74 70)") {
		t.Errorf("reason %q", sum.Skipped[0].Reason)
	}
}

// Plain HTTP exchanges are http records like the proxy's: redacted
// headers and bodies, durations; a body that ends with the connection.
func TestPlainHTTP(t *testing.T) {
	recs, sum := importFixture(t, "tls-http.pcap")
	var h []*trace.Record
	for _, r := range recs {
		if r.Kind == trace.KindHTTP && strings.HasPrefix(r.Conn, "h") {
			h = append(h, r)
		}
	}
	if len(h) != 2 || sum.HTTP != 2 {
		t.Fatalf("%d http records, summary %d", len(h), sum.HTTP)
	}
	if h[0].HTTP.RequestHeaders["Authorization"][0] != "[REDACTED]" || !h[0].Redacted || h[0].HTTP.Duration != time.Millisecond || h[0].HTTP.Upstream != "http://10.0.0.2:80" {
		t.Errorf("h1 %+v", h[0].HTTP)
	}
	if b := h[1].HTTP.RequestBody; b == nil || string(b.Data) != `{"name":"a","api_key":"[REDACTED]"}` || b.Size != 28 {
		t.Errorf("h2 request body %+v", b)
	}

	c := pcapgen.NewConn("10.0.0.1:11", "10.0.0.2:12", t0, pcapgen.Ethernet)
	c.Handshake()
	c.Send(true, []byte("GET /old HTTP/1.0\r\n\r\n"))
	c.Send(false, []byte("HTTP/1.0 200 OK\r\n\r\nuntil the end"))
	c.Close(false)
	var b bytes.Buffer
	pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
	recs, _, err := readAll(t, "old", b.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].HTTP == nil || recs[0].HTTP.ResponseBody == nil || string(recs[0].HTTP.ResponseBody.Data) != "until the end" {
		t.Fatalf("records %+v", recs)
	}
}

// HTTP messages cut into tiny segments (heads, chunk lines and bodies
// across segment boundaries) give the same records.
func TestPlainHTTPTinySegments(t *testing.T) {
	for _, mss := range []int{1, 3, 7, 40} {
		c := pcapgen.NewConn("10.0.0.1:21", "10.0.0.2:22", t0, pcapgen.Ethernet)
		c.MSS = mss
		c.Handshake()
		post := `{"k":"v","password":"p"}`
		c.Send(true, []byte(fmt.Sprintf("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(post), post)))
		c.Send(false, []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n"))
		c.Send(true, []byte("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
		c.Send(false, []byte("HTTP/1.1 204 No Content\r\n\r\n"))
		c.Send(true, pcapgen.UpgradeRequest("x", "/ws"))
		c.Send(false, pcapgen.UpgradeResponse())
		c.Send(false, text(false, "hello"))
		c.Close(true)
		var b bytes.Buffer
		pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
		recs, sum, err := readAll(t, "tiny", b.Bytes(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			switch r.Kind {
			case trace.KindHTTP:
				s := fmt.Sprintf("%s %s %s %d", r.Conn, r.HTTP.Method, r.HTTP.URL, r.HTTP.Status)
				if r.HTTP.RequestBody != nil {
					s += " req=" + string(r.HTTP.RequestBody.Data)
				}
				if r.HTTP.ResponseBody != nil {
					s += " resp=" + string(r.HTTP.ResponseBody.Data)
				}
				got = append(got, s)
			case trace.KindFrame:
				got = append(got, r.Conn+" "+string(r.Payload))
			}
		}
		want := []string{`h1 POST /a 200 req={"k":"v","password":"[REDACTED]"} resp=abcde`, "h2 GET /b 204", "c1 hello"}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(sum.Skipped) != 0 {
			t.Errorf("mss %d:\n got %q\nwant %q\nskipped %+v", mss, got, want, sum.Skipped)
		}
	}
}

func TestChain(t *testing.T) {
	f := func(client bool, op wsframe.Opcode, fin bool, p string) []byte {
		return pcapgen.Frame(client, fin, op, false, []byte(p), key)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, c := range []struct {
		name   string
		b      []byte
		res    chainResult
		masked bool
	}{
		{"one text frame", f(true, wsframe.OpText, true, "hi"), chainValid, true},
		{"two server frames", cat(f(false, wsframe.OpText, true, "a"), f(false, wsframe.OpPing, true, "")), chainValid, false},
		{"fragments with a ping", cat(f(false, wsframe.OpText, false, "a"), f(false, wsframe.OpPing, true, ""), f(false, wsframe.OpContinuation, true, "b")), chainValid, false},
		{"half a frame", f(true, wsframe.OpText, true, "hello")[:5], chainUndecided, false},
		{"continuation first", f(false, wsframe.OpContinuation, true, "x"), chainInvalid, false},
		{"mixed masking", cat(f(false, wsframe.OpText, true, "a"), f(true, wsframe.OpText, true, "b")), chainInvalid, false},
		{"JSON text", []byte(`{"type":"x"}`), chainInvalid, false},
		{"fragmented ping", f(false, wsframe.OpPing, false, ""), chainInvalid, false},
		{"lone frame, not UTF-8", f(false, wsframe.OpText, true, "\xff\xfe"), chainInvalid, false},
		{"non-minimal length", []byte{0x81, 126, 0, 1, 'x'}, chainInvalid, false},
	} {
		res, masked, _ := chain(c.b, 1<<20)
		if res != c.res || (res == chainValid && masked != c.masked) {
			t.Errorf("%s: %v masked %v, want %v %v", c.name, res, masked, c.res, c.masked)
		}
	}
}

// Ethernet padding after short IP packets is not stream data.
func TestEthernetPadding(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		cl, sv := "10.0.0.1:31", "10.0.0.2:32"
		if v6 {
			cl, sv = "[fd00::1]:31", "[fd00::2]:32"
		}
		c := pcapgen.NewConn(cl, sv, t0, pcapgen.Ethernet)
		c.Handshake()
		c.Send(true, pcapgen.UpgradeRequest("h", "/ws"))
		c.Send(false, pcapgen.UpgradeResponse())
		c.Send(false, text(false, "a"))
		c.Send(true, text(true, "b"))
		for i := range c.Packets {
			c.Packets[i].Data = append(c.Packets[i].Data, make([]byte, 18)...)
		}
		var b bytes.Buffer
		pcapgen.WritePcap(&b, pcapgen.Ethernet, false, c.Packets)
		recs, _, err := readAll(t, "pad", b.Bytes(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if fr := framesOf(recs); len(fr) != 2 || fr[0].Payload != "a" || fr[1].Payload != "b" {
			t.Errorf("v6 %v: frames %+v", v6, fr)
		}
		for _, r := range recs {
			if r.Kind == trace.KindError && !strings.Contains(r.Message, "the capture ended") {
				t.Errorf("v6 %v: %s", v6, r.Message)
			}
		}
	}
}
