package capture

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"

	"github.com/lettadev/wsproxy/redact"
	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// Defaults of Options.
const (
	// DefaultWindow bounds the out-of-order bytes buffered per connection.
	DefaultWindow = 4 << 20
	// DefaultTotalWindow bounds them over all connections.
	DefaultTotalWindow = 64 << 20
	// maxHandshake bounds an HTTP request or response head.
	maxHandshake = 64 << 10
	// maxRefusalBody bounds the body kept of a refused upgrade.
	maxRefusalBody = 64 << 10
	// pageSize is the reassembly package's page size (bytes per page).
	pageSize = 1900
)

// Options configure a Source.
type Options struct {
	// Redact is the redaction policy (the zero value redacts).
	Redact redact.Policy
	// MaxMessage bounds a frame or an (inflated) message; default
	// tap.DefaultMaxMessage.
	MaxMessage int64
	// Window bounds the out-of-order bytes buffered for one connection
	// (default DefaultWindow); TotalWindow for all of them (default
	// DefaultTotalWindow). A segment still missing when a window is full
	// is reported lost.
	Window, TotalWindow int
	// LostAfter is how long (in capture time) a missing segment may stay
	// missing while later ones wait before it counts as lost (default
	// DefaultLostAfter): TCP retransmits within seconds.
	LostAfter time.Duration
}

// DefaultLostAfter is the default of Options.LostAfter.
const DefaultLostAfter = 10 * time.Second

// Source reads a capture and produces the trace records of the WebSocket
// connections in it, in the order their bytes became available to the
// receiving side, numbered from 1 and stamped with packet times. It
// implements trace.Source. It is not safe for concurrent use.
type Source struct {
	pr   *PacketReader
	opts Options
	dec  *decoder
	asm  *reassembly.Assembler

	pkt      Packet
	ctx      packetContext
	out      []*trace.Record
	head     int
	n        int64   // last record number given
	nextID   int     // last WebSocket connection number given (c1, …)
	nextHTTP int     // last plain HTTP exchange number given (h1, …)
	conns    []*conn // connections not finished yet, in creation order
	// finished summarises connections finished and forgotten.
	finished []ConnSummary
	done     bool
	err      error
	flushed  bool
	last     time.Time // latest packet time
	flushAt  time.Time // capture time of the next look for lost segments

	sum Summary
}

// packetContext carries a packet's capture info through the assembler.
type packetContext struct {
	ci  gopacket.CaptureInfo
	num int64
}

// GetCaptureInfo returns the packet's capture info.
func (c *packetContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// NewSource reads the packets of pr. Close pr when done.
func NewSource(pr *PacketReader, o Options) *Source {
	if o.MaxMessage <= 0 {
		o.MaxMessage = tap.DefaultMaxMessage
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.LostAfter <= 0 {
		o.LostAfter = DefaultLostAfter
	}
	if o.TotalWindow <= 0 {
		o.TotalWindow = DefaultTotalWindow
	}
	s := &Source{pr: pr, opts: o, dec: newDecoder()}
	pool := reassembly.NewStreamPool(factory{s})
	s.asm = reassembly.NewAssembler(pool)
	s.asm.MaxBufferedPagesPerConnection = max(1, o.Window/pageSize)
	s.asm.MaxBufferedPagesTotal = max(1, o.TotalWindow/pageSize)
	s.sum.File = pr.Name()
	s.sum.Format = pr.Format()
	return s
}

// Next returns the next record, io.EOF after the last one, or the error
// that stopped reading the file: a *CutError after every record of the
// packets before the cut was returned (the caller reports it as a
// warning), or another read error.
func (s *Source) Next() (*trace.Record, error) {
	for s.head >= len(s.out) {
		s.out, s.head = s.out[:0], 0
		if s.done {
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		s.step()
	}
	r := s.out[s.head]
	s.out[s.head] = nil
	s.head++
	return r, nil
}

// Summary returns what the import found so far; complete after Next
// returned io.EOF or an error.
func (s *Source) Summary() *Summary {
	s.sum.Connections = append(s.sum.Connections[:0], s.finished...)
	for _, c := range s.conns {
		if c.id != "" {
			s.sum.Connections = append(s.sum.Connections, c.stats())
		}
	}
	sort.Slice(s.sum.Connections, func(i, j int) bool { return s.sum.Connections[i].num < s.sum.Connections[j].num })
	return &s.sum
}

// step reads one packet and assembles it, or finishes at the end.
func (s *Source) step() {
	err := s.pr.Next(&s.pkt)
	if err != nil {
		s.finish()
		if err != io.EOF {
			s.err = err
			var cut *CutError
			if errors.As(err, &cut) {
				s.sum.Cut = cut
			}
		}
		return
	}
	s.sum.Packets++
	s.sum.Bytes += int64(len(s.pkt.Data))
	if s.pkt.Time.After(s.last) {
		s.last = s.pkt.Time
	}
	seg, ok, derr := s.dec.decode(&s.pkt)
	if derr != nil {
		s.sum.warn(fmt.Sprintf("%s: %v", s.pr.Name(), derr))
		return
	}
	if !ok {
		return
	}
	s.sum.TCPPackets++
	if s.pkt.Length > len(s.pkt.Data) && len(seg.tcp.Payload) > 0 {
		s.sum.warn(fmt.Sprintf("%s: packet %d was cut to %d of its %d bytes by the capture's snap length: its stream has a gap there (capture with tcpdump -s 0)",
			s.pr.Name(), s.pkt.Num, len(s.pkt.Data), s.pkt.Length))
	}
	// A fresh context per packet: the assembler keeps it with segments
	// it queues.
	ctx := &packetContext{ci: gopacket.CaptureInfo{Timestamp: s.pkt.Time, CaptureLength: len(s.pkt.Data), Length: s.pkt.Length}, num: s.pkt.Num}
	s.asm.AssembleWithContext(seg.net, seg.tcp, ctx)
	if s.flushAt.IsZero() {
		s.flushAt = s.pkt.Time.Add(time.Second)
	} else if !s.pkt.Time.Before(s.flushAt) {
		s.flushAt = s.pkt.Time.Add(time.Second)
		s.held(func() { s.asm.FlushWithOptions(reassembly.FlushOptions{T: s.pkt.Time.Add(-s.opts.LostAfter)}) })
		if s.dec.defrag != nil {
			// IPv4 fragments whose datagram never completes are dropped
			// after the reassembly timeout receivers use (RFC 791: 15 s
			// at least; Linux 30 s), in capture time.
			s.dec.defrag.DiscardOlderThan(s.pkt.Time.Add(-30 * time.Second))
		}
	}
}

// held runs f (an assembler flush, which visits connections in no
// particular order) and then emits the records it made in connection
// order, so that imports are deterministic.
func (s *Source) held(f func()) {
	for _, c := range s.conns {
		c.hold = true
	}
	f()
	live := s.conns[:0]
	for _, c := range s.conns {
		c.hold = false
		s.emit(c.held...)
		c.held = nil
		if c.st == stateDone || c.st == stateSkipped {
			if c.id != "" {
				s.finished = append(s.finished, c.stats())
			}
			continue
		}
		live = append(live, c)
	}
	clear(s.conns[len(live):])
	s.conns = live
}

// finish flushes what the assembler still holds (segments after a gap
// are then reported lost) and ends every connection still open. Records
// of different connections made here come out in connection order.
func (s *Source) finish() {
	s.done = true
	if s.flushed {
		return
	}
	s.flushed = true
	s.held(func() {
		s.asm.FlushAll()
		for _, c := range s.conns {
			c.finish(s.last, true)
		}
	})
	for lt, n := range s.dec.unsupported {
		s.sum.warn(fmt.Sprintf("%s: %d packets of link type %v skipped (not supported: Ethernet, loopback/null, raw IP, Linux SLL and SLL2 are)", s.pr.Name(), n, lt))
	}
}

// emit numbers records and queues them for Next.
func (s *Source) emit(recs ...*trace.Record) {
	for _, r := range recs {
		s.n++
		r.N = s.n
		s.out = append(s.out, r)
	}
}

// factory makes the reassembly stream of each new TCP connection.
type factory struct{ s *Source }

// New makes the conn of a new TCP connection.
func (f factory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	return f.s.newConn(netFlow, tcpFlow, tcp, ac)
}

var _ trace.Source = (*Source)(nil)
