package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// rawServer is an upstream that speaks WebSocket at the byte level: it
// answers the upgrade (with extensions, if given), writes script, and
// keeps every byte it receives.
type rawServer struct {
	ln       net.Listener
	ext      string
	script   []byte
	received chan []byte
	request  chan *http.Request
	chunk    int  // write the script in writes of this many bytes (0: one write)
	hangUp   bool // after the script, end the stream (TCP half-close) without a close frame
}

func newRawServer(t *testing.T, ext string, script []byte, chunk ...int) *rawServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, ext: ext, script: script, received: make(chan []byte, 1), request: make(chan *http.Request, 1)}
	if len(chunk) > 0 {
		s.chunk = chunk[0]
	}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (s *rawServer) serve() {
	c, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	s.request <- req
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n"
	if s.ext != "" {
		resp += "Sec-WebSocket-Extensions: " + s.ext + "\r\n"
	}
	c.Write([]byte(resp + "\r\n"))
	if s.chunk > 0 {
		for b := s.script; len(b) > 0; {
			n := min(s.chunk, len(b))
			c.Write(b[:n])
			b = b[n:]
		}
	} else {
		c.Write(s.script)
	}
	if s.hangUp {
		c.(*net.TCPConn).CloseWrite()
	}
	got, _ := io.ReadAll(br)
	s.received <- got
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// rawClient dials the proxy, upgrades, writes script, and returns every
// byte the proxy sends back until the connection ends.
func rawClient(t *testing.T, addr, path string, script []byte, extra string) (status string, got []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", path, addr, extra)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		return resp.Status, body
	}
	if _, err := c.Write(script); err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(br)
	return resp.Status, got
}

func frame(h wsframe.Header, payload string) []byte {
	return wsframe.AppendFrame(nil, h, []byte(payload))
}

var key = [4]byte{1, 2, 3, 4}

// TestByteExactOddFrames sends fragmentation, interleaved control frames,
// RSV bits, non-minimal lengths, an unmasked client frame and a close code
// a strict library would reject, and checks each side gets exactly the
// other side's bytes, while the trace holds the decoded messages.
func TestByteExactOddFrames(t *testing.T) {
	var clientScript []byte
	clientScript = append(clientScript, frame(wsframe.Header{Opcode: wsframe.OpText, Masked: true, MaskKey: key}, `{"type":"re`)...)
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpPing, Masked: true, MaskKey: key}, "hb")...)
	clientScript = append(clientScript, frame(wsframe.Header{Opcode: wsframe.OpContinuation, Masked: true, MaskKey: key}, `ad_file","request_id"`)...)
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpContinuation, Masked: true, MaskKey: key}, `:"r1"}`)...)
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: true, MaskKey: key, Len: 8}, `{"type":"ack","seq":1}`)...) // 16-bit length for a short payload
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, `unmasked`)...)
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Masked: true, MaskKey: key}, string(wsframe.ClosePayload(4999, "odd")))...)

	var serverScript []byte
	serverScript = append(serverScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpText}, `{"type":"read_file_response","request_id":"r1","seq":1}`)...)
	serverScript = append(serverScript, frame(wsframe.Header{Fin: true, RSV2: true, Opcode: wsframe.OpText}, `rsv2`)...)
	serverScript = append(serverScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpPong}, "hb")...)
	serverScript = append(serverScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, string(wsframe.ClosePayload(1005, "")))...) // a code never to be sent

	up := newRawServer(t, "", serverScript)
	_, px, col := startProxy(t, up.url(), Options{CloseGrace: 100 * time.Millisecond})
	status, got := rawClient(t, px.Listener.Addr().String(), "/v1/environments/e1/status/ws?channel=control", clientScript, "")
	if !strings.HasPrefix(status, "101") {
		t.Fatalf("status %s", status)
	}
	if !bytes.Equal(got, serverScript) {
		t.Errorf("client got %x\nwant %x", got, serverScript)
	}
	if recv := <-up.received; !bytes.Equal(recv, clientScript) {
		t.Errorf("server got %x\nwant %x", recv, clientScript)
	}
	recs := col.waitFor(t, "close record", hasKind(trace.KindClose, "c1"))
	var summary []string
	for _, r := range recs {
		switch r.Kind {
		case trace.KindFrame:
			s := fmt.Sprintf("%s %s %q frames=%d", r.From, r.Op, r.Payload, r.Frames())
			if r.Op == trace.OpClose {
				s = fmt.Sprintf("%s close %d %q", r.From, r.Code, r.Reason)
			}
			summary = append(summary, s)
		case trace.KindError:
			summary = append(summary, "error: "+r.Message)
		}
	}
	want := []string{
		`client ping "hb" frames=1`,
		`client text "{\"type\":\"read_file\",\"request_id\":\"r1\"}" frames=3`,
		`error: client stream: frame at offset`, // non-minimal length
		`client text "{\"type\":\"ack\",\"seq\":1}" frames=1`,
		`error: client stream: frame at offset`, // unmasked
		`client text "unmasked" frames=1`,
		`client close 4999 "odd"`,
	}
	gotClient := []string{}
	gotServer := []string{}
	for _, s := range summary {
		if strings.HasPrefix(s, "server") || strings.Contains(s, "server stream") {
			gotServer = append(gotServer, s)
		} else {
			gotClient = append(gotClient, s)
		}
	}
	if len(gotClient) != len(want) {
		t.Fatalf("client records:\n%s", strings.Join(gotClient, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(gotClient[i], want[i]) {
			t.Errorf("client record %d: %s, want %s…", i, gotClient[i], want[i])
		}
	}
	if len(gotServer) != 5 || !strings.Contains(strings.Join(gotServer, "\n"), "server close 1005") {
		t.Errorf("server records:\n%s", strings.Join(gotServer, "\n"))
	}
}

// TestDeflateContextTakeover relays a permessage-deflate session with
// context takeover in both directions, as browsers and Python negotiate
// it, and records the inflated messages.
func TestDeflateContextTakeover(t *testing.T) {
	cc, _ := wsframe.NewCompressor(6, true)
	sc, _ := wsframe.NewCompressor(6, true)
	var clientScript, serverScript []byte
	var msgs []string
	for i := 0; i < 5; i++ {
		m := fmt.Sprintf(`{"type":"stream_delta","delta":{"content":"hello hello hello %d"},"event_seq":%d}`, i, i+1)
		msgs = append(msgs, m)
		p, _ := sc.Compress(nil, []byte(m))
		serverScript = append(serverScript, frame(wsframe.Header{Fin: true, RSV1: true, Opcode: wsframe.OpText}, string(p))...)
		p, _ = cc.Compress(nil, []byte(fmt.Sprintf(`{"type":"ack","seq":%d}`, i+1)))
		clientScript = append(clientScript, frame(wsframe.Header{Fin: true, RSV1: true, Opcode: wsframe.OpText, Masked: true, MaskKey: key}, string(p))...)
	}
	serverScript = append(serverScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose}, string(wsframe.ClosePayload(1000, "")))...)
	clientScript = append(clientScript, frame(wsframe.Header{Fin: true, Opcode: wsframe.OpClose, Masked: true, MaskKey: key}, string(wsframe.ClosePayload(1000, "")))...)

	up := newRawServer(t, "permessage-deflate; client_max_window_bits=15", serverScript)
	_, px, col := startProxy(t, up.url(), Options{CloseGrace: 100 * time.Millisecond})
	_, got := rawClient(t, px.Listener.Addr().String(), "/ws", clientScript, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	if !bytes.Equal(got, serverScript) {
		t.Error("compressed stream changed on its way to the client")
	}
	req := <-up.request
	if req.Header.Get("Sec-WebSocket-Extensions") != "permessage-deflate; client_max_window_bits" {
		t.Errorf("extension offer not passed through: %q", req.Header.Get("Sec-WebSocket-Extensions"))
	}
	<-up.received
	recs := col.waitFor(t, "close", hasKind(trace.KindClose, "c1"))
	n := 0
	for _, r := range recs {
		if r.Kind == trace.KindOpen && r.Open.Extensions != "permessage-deflate; client_max_window_bits=15" {
			t.Errorf("extensions %q", r.Open.Extensions)
		}
		if r.Kind == trace.KindError {
			t.Errorf("error record: %s", r.Message)
		}
		if r.Kind == trace.KindFrame && r.From == trace.Server && r.Op == trace.OpText {
			if string(r.Payload) != msgs[n] || !r.Compressed {
				t.Errorf("server message %d: %q compressed=%v", n, r.Payload, r.Compressed)
			}
			n++
		}
	}
	if n != len(msgs) {
		t.Errorf("%d server messages recorded", n)
	}
}
