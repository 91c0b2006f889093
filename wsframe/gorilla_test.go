package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// tapDirection decodes one direction of a TCP connection beside the relay:
// it skips the HTTP upgrade head, then feeds every chunk to a Decoder.
type tapDirection struct {
	sender   Side
	head     []byte
	headDone bool
	params   *DeflateParams
	dec      *Decoder
	events   []Event
	endErr   error
	ready    chan struct{}                  // closed once the response head is parsed
	onHead   func() error                   // called when the HTTP head is complete
	getParam func() (*DeflateParams, error) // called before the first frame byte
}

// observe is called with every relayed chunk, before it is forwarded.
func (o *tapDirection) observe(chunk []byte) error {
	if !o.headDone {
		o.head = append(o.head, chunk...)
		i := bytes.Index(o.head, []byte("\r\n\r\n"))
		if i < 0 {
			return nil
		}
		o.headDone = true
		chunk = o.head[i+4:]
		o.head = o.head[:i+4]
		if o.onHead != nil {
			if err := o.onHead(); err != nil {
				return err
			}
		}
	}
	if len(chunk) == 0 {
		return nil
	}
	if o.dec == nil {
		params, err := o.getParam()
		if err != nil {
			return err
		}
		o.dec = NewDecoder(Config{Sender: o.sender, Deflate: params})
	}
	o.dec.Feed(chunk)
	for o.dec.Next() {
		o.events = append(o.events, o.dec.Event().Clone())
	}
	return nil
}

// relay copies src to dst, showing each chunk to o first.
func relay(dst, src net.Conn, o *tapDirection, errc chan<- error) {
	buf := make([]byte, 1500) // small reads: frames split across chunks
	var err error
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if err = o.observe(buf[:n]); err != nil {
				break
			}
			if _, err = dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			break
		}
	}
	if o.dec != nil {
		o.endErr = o.dec.End()
	}
	dst.(*net.TCPConn).CloseWrite()
	errc <- err
}

func noise(n int) []byte {
	rng := newRand(uint64(n))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

type sentMessage struct {
	op         Opcode
	payload    []byte
	compressed bool
}

func TestGorillaCrossCheck(t *testing.T) {
	for _, compression := range []bool{true, false} {
		t.Run(fmt.Sprintf("compression=%v", compression), func(t *testing.T) { gorillaRun(t, compression) })
	}
}

func gorillaRun(t *testing.T, compression bool) {
	deadline := time.Now().Add(20 * time.Second)

	// Echo server.
	upgrader := websocket.Upgrader{EnableCompression: compression}
	srvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(deadline)
		for {
			mt, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			// NextWriter sends a frame whenever its 4 KiB buffer fills.
			w, err := c.NextWriter(mt)
			if err != nil {
				return
			}
			w.Write(data)
			if err := w.Close(); err != nil {
				return
			}
		}
	})}
	go srv.Serve(srvLn)
	defer srv.Close()

	// Tap.
	tapLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tapLn.Close()
	c2s := &tapDirection{sender: Client, ready: make(chan struct{})}
	s2c := &tapDirection{sender: Server, ready: c2s.ready}
	s2c.onHead = func() error {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(s2c.head)), nil)
		if err != nil {
			return err
		}
		p, _, err := ParseExtensions(strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", "))
		s2c.params = p
		close(s2c.ready)
		return err
	}
	s2c.getParam = func() (*DeflateParams, error) { return s2c.params, nil }
	c2s.getParam = func() (*DeflateParams, error) {
		// The client sends no frame before it has the response, so this
		// wait is over by the time frame bytes arrive.
		select {
		case <-c2s.ready:
			return s2c.params, nil
		case <-time.After(time.Until(deadline)):
			return nil, errors.New("no upgrade response")
		}
	}
	errc := make(chan error, 2)
	go func() {
		cc, err := tapLn.Accept()
		if err != nil {
			errc <- err
			errc <- err
			return
		}
		sc, err := net.Dial("tcp", srvLn.Addr().String())
		if err != nil {
			cc.Close()
			errc <- err
			errc <- err
			return
		}
		cc.SetDeadline(deadline)
		sc.SetDeadline(deadline)
		go relay(sc, cc, c2s, errc)
		go relay(cc, sc, s2c, errc)
	}()

	// Client.
	dialer := websocket.Dialer{EnableCompression: compression, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := dialer.Dial("ws://"+tapLn.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); strings.Contains(got, "permessage-deflate") != compression {
		t.Fatalf("negotiated %q", got)
	}
	conn.SetReadDeadline(deadline)
	big := bytes.Repeat([]byte(`{"k":"value","n":12345}`), 4000) // ~92 KB: several frames
	sent := []sentMessage{
		{op: OpText, payload: []byte("hello")},
		{op: OpBinary, payload: []byte{0, 1, 2, 0xff, 0xfe}},
		{op: OpText, payload: []byte{}},
		{op: OpText, payload: big},
		{op: OpText, payload: []byte(strings.Repeat("x", 300)), compressed: false},
		{op: OpBinary, payload: bytes.Repeat([]byte{7}, 65536)},
		{op: OpBinary, payload: noise(50000)}, // incompressible: many frames
		{op: OpText, payload: []byte("after ping")},
	}
	var want []sentMessage
	for i := range sent {
		m := &sent[i]
		m.compressed = compression && i != 4
		conn.EnableWriteCompression(m.compressed)
		mt := websocket.TextMessage
		if m.op == OpBinary {
			mt = websocket.BinaryMessage
		}
		if err := conn.WriteMessage(mt, m.payload); err != nil {
			t.Fatal(err)
		}
		want = append(want, *m)
		if i == 6 {
			if err := conn.WriteControl(websocket.PingMessage, []byte("are you there"), deadline); err != nil {
				t.Fatal(err)
			}
			want = append(want, sentMessage{op: OpPing, payload: []byte("are you there")})
		}
		_, echo, err := conn.ReadMessage() // the pong is handled inside
		if err != nil || !bytes.Equal(echo, m.payload) {
			t.Fatalf("echo %d: %v", i, err)
		}
	}
	closeMsg := websocket.FormatCloseMessage(4001, "bye")
	if err := conn.WriteControl(websocket.CloseMessage, closeMsg, deadline); err != nil {
		t.Fatal(err)
	}
	want = append(want, sentMessage{op: OpClose, payload: closeMsg})
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, 4001) {
		t.Fatalf("close: %v", err)
	}
	conn.Close()
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil {
			t.Fatalf("relay: %v", err)
		}
	}

	// What the client sent.
	check := func(dir string, o *tapDirection, want []sentMessage) {
		t.Helper()
		if o.endErr != nil {
			t.Errorf("%s: End: %v", dir, o.endErr)
		}
		var got []Message
		frames := 0
		for _, e := range o.events {
			switch e.Kind {
			case ErrorEvent:
				t.Errorf("%s: %v", dir, e.Err)
			case FrameEvent:
				frames++
			case MessageEvent:
				got = append(got, e.Message)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d\n%s", dir, len(got), len(want), dumpEvents(o.events))
		}
		multi := false
		for i, w := range want {
			g := got[i]
			if g.Opcode != w.op || !bytes.Equal(g.Payload, w.payload) || (g.Compressed != w.compressed && !w.op.IsControl()) {
				t.Errorf("%s message %d: got %v compressed=%v %d bytes, want %v compressed=%v %d bytes",
					dir, i, g.Opcode, g.Compressed, len(g.Payload), w.op, w.compressed, len(w.payload))
			}
			multi = multi || g.Frames > 1
		}
		if !multi {
			t.Errorf("%s: no fragmented message: the test is too easy", dir)
		}
		t.Logf("%s: %d frames, %d messages", dir, frames, len(got))
	}
	check("client->server", c2s, want)

	// What the server sent: echoes, a pong, and the close echoed back.
	var echoes []sentMessage
	for _, m := range want {
		switch m.op {
		case OpPing:
			m.op = OpPong
		case OpClose:
			m.payload = websocket.FormatCloseMessage(4001, "")
		default:
			m.compressed = compression
		}
		echoes = append(echoes, m)
	}
	check("server->client", s2c, echoes)
}
