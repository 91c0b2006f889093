package pcapgen

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/wsframe"
)

// Want is a frame a scenario's import must produce, in order per
// connection.
type Want struct {
	Conn    string
	From    string // "client" or "server"
	Op      string
	Payload string
}

// Scenario is a generated capture and what importing it must give.
type Scenario struct {
	// File is the fixture's name under traces/captures.
	File string
	// What the fixture shows.
	About string
	// Frames are the frame records expected, in order per connection.
	Frames []Want
	// Errors are substrings of the error records expected (in order).
	Errors []string
	// Skipped are substrings of the summary's skip reasons.
	Skipped []string
	// HTTP are the http records expected, in order, as
	// "conn method url status response-body".
	HTTP []string
	// Write writes the capture.
	Write func(w io.Writer) error
}

var t0 = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

var key = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// session is a generated WebSocket session: frames are appended as the
// scenario goes, and Wants follow.
type session struct {
	c     *Conn
	id    string
	wants []Want
}

func newSession(id string, c *Conn, path string, reqExtra, respExtra []string) *session {
	s := &session{c: c, id: id}
	c.Handshake()
	c.Send(true, UpgradeRequest(c.Server.String(), path, reqExtra...))
	c.Send(false, UpgradeResponse(respExtra...))
	return s
}

// msg returns a text frame of a side and records the Want.
func (s *session) msg(fromClient bool, text string) []byte {
	s.want(fromClient, "text", text)
	return Frame(fromClient, true, wsframe.OpText, false, []byte(text), key)
}

func (s *session) want(fromClient bool, op, payload string) {
	from := "server"
	if fromClient {
		from = "client"
	}
	s.wants = append(s.wants, Want{Conn: s.id, From: from, Op: op, Payload: payload})
}

// closeBoth sends the close handshake (client first) and the FINs.
func (s *session) closeBoth(code uint16, reason string) {
	p := wsframe.ClosePayload(code, reason)
	s.want(true, "close", string(p))
	s.c.Send(true, Frame(true, true, wsframe.OpClose, false, p, key))
	s.want(false, "close", string(p))
	s.c.Send(false, Frame(false, true, wsframe.OpClose, false, p, key))
	s.c.Close(false)
}

func writePcap(link Link, nanos bool, c ...*Conn) func(io.Writer) error {
	return func(w io.Writer) error {
		var pkts []Packet
		for _, x := range c {
			pkts = append(pkts, x.Packets...)
		}
		sortPackets(pkts)
		return WritePcap(w, link, nanos, pkts)
	}
}

// sortPackets orders packets by time, stably (insertion sort: small).
func sortPackets(p []Packet) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].Time.Before(p[j-1].Time); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func event(i int) string {
	return fmt.Sprintf(`{"type":"stream_delta","event_seq":%d,"delta":{"text":"%s"}}`, i, strings.Repeat("lorem ipsum ", 20+i%7))
}

// Scenarios returns the generated fixtures, in a fixed order.
func Scenarios() []Scenario {
	return []Scenario{basic(), reorder(), retransmit(), lost(), fragments(), deflate(true), deflate(false), twoInterfaces(), sll2(), midSession(), tlsAndHTTP()}
}

func basic() Scenario {
	c := NewConn("127.0.0.1:40001", "127.0.0.1:8765", t0, Ethernet)
	s := newSession("c1", c, "/v1/environments/conn-1/status/ws?agentId=agent-1&conversationId=default&channel=control&token=s3cret",
		[]string{"Authorization: Bearer s3cret", "User-Agent: pcapgen", "Sec-WebSocket-Protocol: letta.v1, letta.v0"}, []string{"Sec-WebSocket-Protocol: letta.v1"})
	c.Send(true, s.msg(true, `{"type":"sync","recover_approvals":true,"request_id":"r1"}`))
	c.Send(false, s.msg(false, `{"type":"update_loop_status","loop_status":{"status":"WAITING_ON_INPUT"},"event_seq":1}`))
	s.want(true, "ping", "hb")
	c.Send(true, Frame(true, true, wsframe.OpPing, false, []byte("hb"), key))
	s.want(false, "pong", "hb")
	c.Send(false, Frame(false, true, wsframe.OpPong, false, []byte("hb"), key))
	c.Send(false, s.msg(false, `{"type":"secret_list_response","request_id":"r2","api_key":"sk-live-123"}`))
	s.wants[len(s.wants)-1].Payload = `{"type":"secret_list_response","request_id":"r2","api_key":"[REDACTED]"}`
	s.closeBoth(1000, "bye")
	return Scenario{File: "basic.pcap", About: "Ethernet, µs timestamps: handshake with a token in the query and an Authorization header (both redacted), a subprotocol, text, ping/pong, a secret in a payload (redacted), close handshake",
		Frames: s.wants, Write: writePcap(Ethernet, false, c)}
}

func reorder() Scenario {
	c := NewConn("10.0.0.1:40002", "10.0.0.2:80", t0, Ethernet)
	c.MSS = 200
	s := newSession("c1", c, "/v1/environments/conn-1/status/ws?channel=stream", nil, nil)
	segs := c.Segments(false, append(s.msg(false, event(1)), s.msg(false, event(2))...))
	// 0 2 1 3 …: the second segment arrives after the third.
	segs[1], segs[2] = segs[2], segs[1]
	c.Emit(segs...)
	cs := c.Segments(true, s.msg(true, `{"type":"ack","seq":2}`))
	c.Emit(cs...)
	s.closeBoth(1000, "")
	return Scenario{File: "reorder.pcap", About: "server segments out of order (the second arrives after the third)", Frames: s.wants, Write: writePcap(Ethernet, false, c)}
}

func retransmit() Scenario {
	c := NewConn("10.0.0.1:40003", "10.0.0.2:80", t0, Ethernet)
	c.MSS = 150
	s := newSession("c1", c, "/ws", nil, nil)
	segs := c.Segments(false, append(s.msg(false, event(3)), s.msg(false, event(4))...))
	// Each segment twice, and one overlapping the boundary of two.
	var out []Segment
	for i, g := range segs {
		out = append(out, g, g)
		if i == 1 && len(segs) > 2 {
			ov := Segment{FromClient: false, Seq: g.Seq + 50, Ack: g.Ack, ACK: true,
				Payload: append(append([]byte(nil), g.Payload[50:]...), segs[2].Payload[:40]...)}
			out = append(out, ov)
		}
	}
	c.Emit(out...)
	s.closeBoth(1001, "going away")
	return Scenario{File: "retransmit.pcap", About: "every server segment retransmitted, plus an overlapping segment across a boundary", Frames: s.wants, Write: writePcap(Ethernet, false, c)}
}

func lost() Scenario {
	c := NewConn("10.0.0.1:40004", "10.0.0.2:80", t0, Ethernet)
	c.MSS = 200
	s := newSession("c1", c, "/ws", nil, nil)
	c.Send(false, s.msg(false, event(5)))
	// The second message loses its second segment: nothing of the
	// server's stream after it is decoded.
	w := len(s.wants)
	segs := c.Segments(false, append(s.msg(false, event(6)), s.msg(false, event(7))...))
	s.wants = s.wants[:w]
	c.Emit(segs[0])
	c.Emit(segs[2:]...)
	c.Send(true, s.msg(true, `{"type":"ping"}`))
	c.Send(true, s.msg(true, `{"type":"ack","seq":7}`))
	c.Close(true)
	return Scenario{File: "lost.pcap", About: "ns timestamps: a server segment lost in the middle of a message; the client's stream goes on",
		Frames: s.wants, Errors: []string{"lost segment: 200 bytes of 10.0.0.2:80's stream missing at stream offset 690 (the capture resumes with packet 9 at 2026-12-01T09:30:00.008Z); nothing more the server sent is decoded"}, Write: writePcap(Ethernet, true, c)}
}

func fragments() Scenario {
	c := NewConn("10.0.0.1:40005", "10.0.0.2:80", t0, Raw)
	s := newSession("c1", c, "/ws", nil, nil)
	// A client message in three frames with a ping between the second
	// and the third.
	parts := []string{`{"type":"input","text":"`, strings.Repeat("ab", 100), `"}`}
	var b []byte
	b = append(b, Frame(true, false, wsframe.OpText, false, []byte(parts[0]), key)...)
	b = append(b, Frame(true, false, wsframe.OpContinuation, false, []byte(parts[1]), key)...)
	b = append(b, Frame(true, true, wsframe.OpPing, false, []byte("p"), key)...)
	b = append(b, Frame(true, true, wsframe.OpContinuation, false, []byte(parts[2]), key)...)
	s.want(true, "ping", "p")
	s.want(true, "text", strings.Join(parts, ""))
	c.Send(true, b)
	// A server message sent as IPv4 fragments of 256 bytes.
	segs := c.Segments(false, s.msg(false, event(8)))
	for i := range segs {
		segs[i].Fragment = 256
	}
	c.Emit(segs...)
	s.closeBoth(1000, "")
	return Scenario{File: "fragments.pcap", About: "raw IP link: a fragmented client message with a ping between its fragments; a server segment in IPv4 fragments",
		Frames: s.wants, Write: writePcap(Raw, false, c)}
}

func deflate(takeover bool) Scenario {
	name, ext := "deflate-takeover.pcap", "permessage-deflate; client_max_window_bits=15"
	if !takeover {
		name, ext = "deflate-no-takeover.pcap", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	}
	c := NewConn("127.0.0.1:40006", "127.0.0.1:8080", t0, Null)
	s := newSession("c1", c, "/ws", []string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"}, []string{"Sec-WebSocket-Extensions: " + ext})
	cc, _ := wsframe.NewCompressor(flate.BestSpeed, takeover)
	sc, _ := wsframe.NewCompressor(flate.BestSpeed, takeover)
	for i := 0; i < 4; i++ {
		m := event(10 + i)
		p, err := sc.Compress(nil, []byte(m))
		if err != nil {
			panic(err)
		}
		s.want(false, "text", m)
		c.Send(false, Frame(false, true, wsframe.OpText, true, p, key))
		a := fmt.Sprintf(`{"type":"ack","seq":%d}`, 10+i)
		p, _ = cc.Compress(nil, []byte(a))
		s.want(true, "text", a)
		c.Send(true, Frame(true, true, wsframe.OpText, true, p, key))
	}
	// A compressed message in two frames (RSV1 on the first only).
	m := event(20)
	p, _ := sc.Compress(nil, []byte(m))
	s.want(false, "text", m)
	c.Send(false, append(Frame(false, false, wsframe.OpText, true, p[:10], key), Frame(false, true, wsframe.OpContinuation, false, p[10:], key)...))
	s.closeBoth(1000, "")
	about := "BSD loopback (null) link: permessage-deflate with context takeover in both directions, messages repeating earlier ones, a compressed message in two frames"
	if !takeover {
		about = "BSD loopback (null) link: permessage-deflate without context takeover in both directions, a compressed message in two frames"
	}
	return Scenario{File: name, About: about, Frames: s.wants, Write: writePcap(Null, false, c)}
}

func twoInterfaces() Scenario {
	a := NewConn("192.0.2.1:40007", "192.0.2.2:80", t0, Ethernet)
	b := NewConn("[2001:db8::1]:40008", "[2001:db8::2]:8765", t0.Add(500*time.Microsecond), SLL)
	b.Iface = 1
	sa := newSession("c1", a, "/v1/environments/conn-1/status/ws?channel=control", nil, nil)
	sb := newSession("c2", b, "/v1/environments/conn-1/status/ws?channel=stream", nil, nil)
	for i := 0; i < 3; i++ {
		a.Send(false, sa.msg(false, event(30+i)))
		b.Send(false, sb.msg(false, event(40+i)))
	}
	sa.closeBoth(1000, "")
	sb.closeBoth(1000, "")
	wants := append(sa.wants, sb.wants...)
	return Scenario{File: "two-interfaces.pcapng", About: "pcapng with two interfaces of different link types (Ethernet/IPv4 and Linux SLL/IPv6), two connections interleaved",
		Frames: wants, Write: func(w io.Writer) error {
			pkts := append(append([]Packet(nil), a.Packets...), b.Packets...)
			sortPackets(pkts)
			return WritePcapNG(w, []Link{Ethernet, SLL}, pkts)
		}}
}

func sll2() Scenario {
	c := NewConn("127.0.0.1:40009", "127.0.0.1:8765", t0, SLL2)
	s := newSession("c1", c, "/ws", nil, nil)
	c.Send(true, s.msg(true, `{"type":"list_models","request_id":"m1"}`))
	c.Send(false, s.msg(false, `{"type":"list_models_response","request_id":"m1","models":[]}`))
	s.closeBoth(1000, "")
	return Scenario{File: "sll2.pcap", About: "Linux cooked v2 (what tcpdump -i any writes)", Frames: s.wants, Write: writePcap(SLL2, true, c)}
}

func midSession() Scenario {
	c := NewConn("10.0.0.1:40010", "10.0.0.2:80", t0, Ethernet)
	c.MSS = 300
	// No SYN and no handshake: the capture starts while frames flow. The
	// first server segment starts inside a frame.
	first := Frame(false, true, wsframe.OpText, false, []byte(event(50)), key)
	c.segment(false, first[:40]) // sent before the capture started
	c.Emit(c.Segments(false, first[40:])...)
	s := &session{c: c, id: "c1"}
	c.Send(false, s.msg(false, event(51)))
	c.Send(true, s.msg(true, `{"type":"ack","seq":51}`))
	c.Send(false, s.msg(false, event(52)))
	s.closeBoth(1000, "")
	return Scenario{File: "mid-session.pcap", About: "capture started mid-session (no SYN, no handshake), the first segment inside a frame: recovered from the next frame boundary",
		Frames: s.wants, Write: writePcap(Ethernet, false, c)}
}

func tlsAndHTTP() Scenario {
	// A TLS connection; a keep-alive connection with two plain requests
	// and then an upgrade; a refused upgrade.
	t := NewConn("10.0.0.1:40011", "10.0.0.2:443", t0, Ethernet)
	t.Handshake()
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03}
	hello = append(hello, bytes.Repeat([]byte{0x42}, 60)...)
	t.Send(true, hello)
	t.Close(true)
	h := NewConn("10.0.0.1:40012", "10.0.0.2:80", t0.Add(100*time.Millisecond), Ethernet)
	h.Handshake()
	h.Send(true, []byte("GET /v1/environments?onlineOnly=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok-1\r\n\r\n"))
	list := `{"connections":[],"hasNextPage":false}`
	h.Send(false, []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(list), list)))
	post := `{"name":"a","api_key":"k-9"}`
	h.Send(true, []byte(fmt.Sprintf("POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(post), post)))
	h.Send(false, []byte("HTTP/1.1 100 Continue\r\n\r\n"))
	chunked := "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, c := range []string{`{"id":`, `"t1"`, `}`} {
		chunked += fmt.Sprintf("%x\r\n%s\r\n", len(c), c)
	}
	h.Send(false, []byte(chunked+"0\r\n\r\n"))
	s := &session{c: h, id: "c1"}
	h.Send(true, UpgradeRequest("10.0.0.2", "/v1/environments/conn-1/status/ws?channel=control"))
	h.Send(false, UpgradeResponse())
	h.Send(true, s.msg(true, `{"type":"ping"}`))
	s.closeBoth(1000, "")
	r := NewConn("10.0.0.1:40013", "10.0.0.2:80", t0.Add(200*time.Millisecond), Ethernet)
	r.Handshake()
	r.Send(true, UpgradeRequest("10.0.0.2", "/v1/environments/nope/status/ws?token=abc"))
	r.Send(false, []byte("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{\"error\":\"unauthorized\"}\n"))
	r.Close(false)
	return Scenario{File: "tls-http.pcap", About: "a TLS connection (skipped); a keep-alive connection with two plain HTTP requests (a 100 Continue, a chunked answer) and then an upgrade; an upgrade refused with 401 (an http record)",
		Frames:  s.wants,
		Skipped: []string{"TLS (record type 0x16, version 3.1) from 10.0.0.1:40011"},
		HTTP: []string{
			`h1 GET /v1/environments?onlineOnly=true 200 {"connections":[],"hasNextPage":false}`,
			`h2 POST /v1/things 201 {"id":"t1"}`,
			`c2 GET /v1/environments/nope/status/ws?token=%5BREDACTED%5D 401 {"error":"unauthorized"}` + "\n",
		},
		Write: writePcap(Ethernet, false, t, h, r)}
}
