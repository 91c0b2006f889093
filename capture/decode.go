package capture

import (
	"fmt"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
)

// decoder takes packets of any supported link type down to their TCP
// segment, reusing its layers (no allocation per packet) and putting IPv4
// fragments back together.
type decoder struct {
	eth    layers.Ethernet
	dot1q  layers.Dot1Q
	loop   layers.Loopback
	sll    layers.LinuxSLL
	sll2   layers.LinuxSLL2
	ip4    layers.IPv4
	ip6    layers.IPv6
	tcp    layers.TCP
	parser map[gopacket.LayerType]*gopacket.DecodingLayerParser
	types  []gopacket.LayerType
	defrag *ip4defrag.IPv4Defragmenter
	// unsupported counts packets per link type this decoder cannot read.
	unsupported map[layers.LinkType]int64
}

func newDecoder() *decoder {
	d := &decoder{parser: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}, unsupported: map[layers.LinkType]int64{}}
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLoopback, layers.LayerTypeLinuxSLL,
		layers.LayerTypeLinuxSLL2, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first, &d.eth, &d.dot1q, &d.loop, &d.sll, &d.sll2, &d.ip4, &d.ip6, &d.tcp)
		p.IgnoreUnsupported = true
		d.parser[first] = p
	}
	return d
}

// firstLayer returns the layer a link type's packets start with, given
// the first byte of the packet (raw IP carries v4 and v6 alike).
func firstLayer(lt layers.LinkType, b0 byte) (gopacket.LayerType, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, true
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, true
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, true
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4, true
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, true
	case layers.LinkTypeRaw, 12, 14: // DLT_RAW has had several numbers
		if b0>>4 == 6 {
			return layers.LayerTypeIPv6, true
		}
		return layers.LayerTypeIPv4, true
	}
	return 0, false
}

// segment is a decoded TCP segment with its network flow.
type segment struct {
	net gopacket.Flow
	tcp *layers.TCP
}

// decode returns the TCP segment of a packet, or ok false for packets that
// carry none (other protocols, unsupported link types, fragments still
// waiting for the rest). err reports a damaged packet worth a warning.
func (d *decoder) decode(p *Packet) (seg segment, ok bool, err error) {
	if len(p.Data) == 0 {
		return seg, false, nil
	}
	first, known := firstLayer(p.LinkType, p.Data[0])
	if !known {
		d.unsupported[p.LinkType]++
		return seg, false, nil
	}
	d.types = d.types[:0]
	if err := d.parser[first].DecodeLayers(p.Data, &d.types); err != nil {
		return seg, false, fmt.Errorf("packet %d: %v", p.Num, err)
	}
	var netFlow gopacket.Flow
	haveTCP := false
	for _, t := range d.types {
		switch t {
		case layers.LayerTypeIPv4:
			netFlow = d.ip4.NetworkFlow()
		case layers.LayerTypeIPv6:
			netFlow = d.ip6.NetworkFlow()
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	if haveTCP {
		return segment{net: netFlow, tcp: &d.tcp}, true, nil
	}
	last := gopacket.LayerTypeZero
	if len(d.types) > 0 {
		last = d.types[len(d.types)-1]
	}
	if last == layers.LayerTypeIPv4 && d.ip4.Protocol == layers.IPProtocolTCP &&
		(d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0) {
		return d.fragment(p.Time)
	}
	return seg, false, nil
}

// fragment feeds an IPv4 fragment to the defragmenter (a copy: the packet
// buffer is reused) and decodes the TCP segment once it is whole.
func (d *decoder) fragment(t time.Time) (seg segment, ok bool, err error) {
	if d.defrag == nil {
		d.defrag = ip4defrag.NewIPv4Defragmenter()
	}
	frag := d.ip4
	frag.Contents = append([]byte(nil), d.ip4.Contents...)
	frag.Payload = append([]byte(nil), d.ip4.Payload...)
	frag.Options = nil
	whole, err := d.defrag.DefragIPv4WithTimestamp(&frag, t)
	if err != nil {
		return seg, false, fmt.Errorf("IPv4 fragment %v: %v", frag.NetworkFlow(), err)
	}
	if whole == nil {
		return seg, false, nil
	}
	if err := d.tcp.DecodeFromBytes(whole.Payload, gopacket.NilDecodeFeedback); err != nil {
		return seg, false, fmt.Errorf("reassembled IPv4 datagram %v: TCP: %v", whole.NetworkFlow(), err)
	}
	return segment{net: whole.NetworkFlow(), tcp: &d.tcp}, true, nil
}
