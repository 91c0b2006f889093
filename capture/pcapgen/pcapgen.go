// Package pcapgen builds packet captures of WebSocket sessions for tests
// and fixtures: TCP segments with real headers (checksums included) over
// Ethernet, loopback, raw IP, Linux SLL or SLL2, written with gopacket's
// pcapgo writers. Segments can be reordered, repeated, overlapped, dropped
// or sent as IPv4 fragments before they are written, to exercise a
// capture importer's reassembly.
package pcapgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/lettadev/wsproxy/wsframe"
)

// Link is the link layer packets are framed in.
type Link int

// Links.
const (
	Ethernet Link = iota
	Null          // BSD loopback (what macOS writes for lo0)
	Raw           // raw IP
	SLL           // Linux cooked capture
	SLL2          // Linux cooked capture v2 (tcpdump -i any)
	VLAN          // Ethernet with an 802.1Q tag
)

// LinkType returns the pcap link type of l.
func (l Link) LinkType() layers.LinkType {
	switch l {
	case Null:
		return layers.LinkTypeNull
	case Raw:
		return layers.LinkTypeRaw
	case SLL:
		return layers.LinkTypeLinuxSLL
	case SLL2:
		return layers.LinkTypeLinuxSLL2
	}
	return layers.LinkTypeEthernet
}

// Packet is one packet of a capture.
type Packet struct {
	Time  time.Time
	Data  []byte
	Link  Link
	Iface int // pcapng interface index
}

// Segment is one TCP segment of a Conn.
type Segment struct {
	FromClient bool
	Seq, Ack   uint32
	SYN, ACK   bool
	FIN, RST   bool
	Payload    []byte
	// Fragment, if > 0, sends the segment as IPv4 fragments carrying at
	// most this many bytes of the IP payload each (a multiple of 8).
	Fragment int
}

// Conn builds the segments of one TCP connection and frames them into
// packets.
type Conn struct {
	Client, Server netip.AddrPort
	Link           Link
	Iface          int
	// MSS splits payloads into segments of at most this many bytes
	// (default 1400).
	MSS int
	// Time is the time of the next packet; Step is added after each.
	Time time.Time
	Step time.Duration

	cseq, sseq uint32
	ipID       uint16
	Packets    []Packet
}

// NewConn returns a connection between client and server ("ip:port")
// whose first packet is at start.
func NewConn(client, server string, start time.Time, link Link) *Conn {
	return &Conn{Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server),
		Link: link, MSS: 1400, Time: start, Step: time.Millisecond, cseq: 1000, sseq: 50000, ipID: 1}
}

// Handshake emits SYN, SYN-ACK and ACK.
func (c *Conn) Handshake() {
	c.Emit(Segment{FromClient: true, Seq: c.cseq, SYN: true})
	c.cseq++
	c.Emit(Segment{FromClient: false, Seq: c.sseq, Ack: c.cseq, SYN: true, ACK: true})
	c.sseq++
	c.Emit(Segment{FromClient: true, Seq: c.cseq, Ack: c.sseq, ACK: true})
}

// Segments cuts data sent by one side into MSS-sized segments and
// advances that side's sequence number, without emitting them.
func (c *Conn) Segments(fromClient bool, data []byte) []Segment {
	var out []Segment
	for len(data) > 0 {
		n := min(len(data), c.MSS)
		out = append(out, c.segment(fromClient, data[:n]))
		data = data[n:]
	}
	return out
}

func (c *Conn) segment(fromClient bool, p []byte) Segment {
	s := Segment{FromClient: fromClient, ACK: true, Payload: append([]byte(nil), p...)}
	if fromClient {
		s.Seq, s.Ack = c.cseq, c.sseq
		c.cseq += uint32(len(p))
	} else {
		s.Seq, s.Ack = c.sseq, c.cseq
		c.sseq += uint32(len(p))
	}
	return s
}

// Send emits data sent by one side, in order.
func (c *Conn) Send(fromClient bool, data []byte) {
	c.Emit(c.Segments(fromClient, data)...)
}

// Close emits FIN from the given side then from the other, and the last
// ACK.
func (c *Conn) Close(clientFirst bool) {
	for _, fc := range []bool{clientFirst, !clientFirst} {
		s := c.segment(fc, nil)
		s.FIN = true
		c.Emit(s)
		if fc {
			c.cseq++
		} else {
			c.sseq++
		}
	}
	s := c.segment(clientFirst, nil)
	c.Emit(s)
}

// Emit frames segments into packets, in the order given.
func (c *Conn) Emit(segs ...Segment) {
	for _, s := range segs {
		for _, p := range c.frame(s) {
			c.Packets = append(c.Packets, Packet{Time: c.Time, Data: p, Link: c.Link, Iface: c.Iface})
			c.Time = c.Time.Add(c.Step)
		}
	}
}

func (c *Conn) frame(s Segment) [][]byte {
	src, dst := c.Client, c.Server
	if !s.FromClient {
		src, dst = dst, src
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: s.Seq, Ack: s.Ack,
		SYN: s.SYN, ACK: s.ACK, FIN: s.FIN, RST: s.RST, PSH: len(s.Payload) > 0, Window: 65535}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	v6 := src.Addr().Is6()
	var netLayer gopacket.NetworkLayer
	if v6 {
		netLayer = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	} else {
		c.ipID++
		netLayer = &layers.IPv4{Version: 4, TTL: 64, Id: c.ipID, Protocol: layers.IPProtocolTCP, SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	}
	if err := tcp.SetNetworkLayerForChecksum(netLayer); err != nil {
		panic(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, opts, netLayer.(gopacket.SerializableLayer), tcp, gopacket.Payload(s.Payload)); err != nil {
		panic(fmt.Sprintf("pcapgen: serialize: %v", err))
	}
	ip := append([]byte(nil), buf.Bytes()...)
	var ips [][]byte
	if s.Fragment > 0 && !v6 {
		ips = fragment(ip, s.Fragment)
	} else {
		ips = [][]byte{ip}
	}
	out := make([][]byte, len(ips))
	for i, p := range ips {
		out[i] = append(linkHeader(c.Link, v6, s.FromClient), p...)
	}
	return out
}

// fragment splits an IPv4 packet into fragments of at most size payload
// bytes (rounded down to a multiple of 8).
func fragment(ip []byte, size int) [][]byte {
	size &^= 7
	hl := int(ip[0]&0x0f) * 4
	payload := ip[hl:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append(append([]byte(nil), ip[:hl]...), payload[off:end]...)
		binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
		flags := uint16(off / 8)
		if end < len(payload) {
			flags |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(f[6:8], flags)
		f[10], f[11] = 0, 0
		var sum uint32
		for i := 0; i < hl; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(f[i:]))
		}
		for sum > 0xffff {
			sum = sum>>16 + sum&0xffff
		}
		binary.BigEndian.PutUint16(f[10:12], ^uint16(sum))
		out = append(out, f)
	}
	return out
}

func linkHeader(l Link, v6, fromClient bool) []byte {
	etype := uint16(0x0800)
	if v6 {
		etype = 0x86dd
	}
	mac := func(client bool) []byte {
		if client {
			return []byte{0x02, 0, 0, 0, 0, 0x01}
		}
		return []byte{0x02, 0, 0, 0, 0, 0x02}
	}
	switch l {
	case Null:
		fam := uint32(2)
		if v6 {
			fam = 30
		}
		return binary.LittleEndian.AppendUint32(nil, fam)
	case Raw:
		return nil
	case SLL:
		h := binary.BigEndian.AppendUint16(nil, 0) // to us
		h = binary.BigEndian.AppendUint16(h, 772)  // ARPHRD_LOOPBACK
		h = binary.BigEndian.AppendUint16(h, 6)
		h = append(h, mac(fromClient)...)
		h = append(h, 0, 0)
		return binary.BigEndian.AppendUint16(h, etype)
	case SLL2:
		h := binary.BigEndian.AppendUint16(nil, etype)
		h = append(h, 0, 0)                       // reserved
		h = binary.BigEndian.AppendUint32(h, 1)   // interface index
		h = binary.BigEndian.AppendUint16(h, 772) // ARPHRD_LOOPBACK
		h = append(h, 0, 6)                       // packet type, address length
		h = append(h, mac(fromClient)...)
		return append(h, 0, 0)
	}
	h := append(mac(!fromClient), mac(fromClient)...)
	if l == VLAN {
		h = binary.BigEndian.AppendUint16(h, 0x8100)
		h = binary.BigEndian.AppendUint16(h, 100) // VLAN 100
	}
	return binary.BigEndian.AppendUint16(h, etype)
}

// WritePcap writes packets (all of one link type) as a pcap file, with
// nanosecond timestamps when nanos.
func WritePcap(w io.Writer, link Link, nanos bool, pkts []Packet) error {
	pw := pcapgo.NewWriter(w)
	if nanos {
		pw = pcapgo.NewWriterNanos(w)
	}
	if err := pw.WriteFileHeader(65535, link.LinkType()); err != nil {
		return err
	}
	for _, p := range pkts {
		if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data)}, p.Data); err != nil {
			return err
		}
	}
	return nil
}

// WritePcapNG writes packets as a pcapng file with one interface per
// entry of links (Packet.Iface indexes it).
func WritePcapNG(w io.Writer, links []Link, pkts []Packet) error {
	nw, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{Name: "if0", LinkType: links[0].LinkType(), SnapLength: 65535, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "wsproxy pcapgen"}})
	if err != nil {
		return err
	}
	for i, l := range links[1:] {
		if _, err := nw.AddInterface(pcapgo.NgInterface{Name: fmt.Sprintf("if%d", i+1), LinkType: l.LinkType(), SnapLength: 65535, TimestampResolution: 9}); err != nil {
			return err
		}
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: len(p.Data), InterfaceIndex: p.Iface}
		if err := nw.WritePacket(ci, p.Data); err != nil {
			return err
		}
	}
	return nw.Flush()
}

// Frame returns one WebSocket frame: masked with key when fromClient.
func Frame(fromClient bool, fin bool, op wsframe.Opcode, rsv1 bool, payload []byte, key [4]byte) []byte {
	h := wsframe.Header{Fin: fin, Opcode: op, RSV1: rsv1, Masked: fromClient, MaskKey: key}
	return wsframe.AppendFrame(nil, h, payload)
}

// UpgradeRequest returns an HTTP/1.1 WebSocket upgrade request for path
// (with its query), with extra header lines ("Name: value").
func UpgradeRequest(host, path string, extra ...string) []byte {
	s := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return []byte(s + "\r\n")
}

// UpgradeResponse returns a 101 answer with extra header lines.
func UpgradeResponse(extra ...string) []byte {
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return []byte(s + "\r\n")
}
