package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Format is a capture file format.
type Format string

// Capture file formats.
const (
	FormatPcap   Format = "pcap"
	FormatPcapNG Format = "pcapng"
)

// Packet is one packet read from a capture. Data aliases the reader's
// buffer until the next call to Next.
type Packet struct {
	// Num numbers the packets of the file from 1.
	Num int64
	// Offset is the byte offset in the file where the packet's record
	// starts (exact for pcap; for pcapng, where the reader stood after the
	// previous packet, which may include non-packet blocks).
	Offset   int64
	Time     time.Time
	LinkType layers.LinkType
	// Interface is the pcapng interface index (0 in pcap files).
	Interface int
	// Length is the packet's length on the wire; len(Data) may be less
	// when the capture's snap length cut it.
	Length int
	Data   []byte
}

// CutError reports a capture file that ends inside a packet record:
// every packet before it was read.
type CutError struct {
	File string
	// Offset is where the incomplete record starts (pcap) or how far the
	// file was read (pcapng).
	Offset int64
	// Packets is how many complete packets came before the cut.
	Packets int64
	// Last is the time of the last complete packet (zero if none).
	Last time.Time
	Err  error
}

// Error says where the file was cut and what was read before.
func (e *CutError) Error() string {
	last := ""
	if !e.Last.IsZero() {
		last = ", the last at " + e.Last.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s: capture cut at byte %d inside packet %d (%v): the %d complete packets before it were read%s",
		e.File, e.Offset, e.Packets+1, e.Err, e.Packets, last)
}

// Unwrap returns the underlying read error.
func (e *CutError) Unwrap() error { return e.Err }

// NotCaptureError reports a file that is not a pcap or pcapng capture.
type NotCaptureError struct {
	File  string
	Start []byte // the file's first bytes (up to 8)
}

// Error names the file and how it starts.
func (e *NotCaptureError) Error() string {
	if len(e.Start) == 0 {
		return fmt.Sprintf("%s: not a packet capture: the file is empty", e.File)
	}
	return fmt.Sprintf("%s: not a packet capture: it starts with % x, not a pcap (a1 b2 c3 d4, a1 b2 3c 4d, either byte order) or pcapng (0a 0d 0d 0a) magic number", e.File, e.Start)
}

// Pcap magic numbers as they appear in the file (either byte order).
var (
	magicPcapMicro = []byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPcapNano  = []byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicNG        = []byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// DetectFormat tells a capture's format from its first bytes, or returns
// a *NotCaptureError. (NewPacketReader also takes gzip-compressed
// captures.)
func DetectFormat(name string, start []byte) (Format, error) {
	if len(start) >= 4 {
		m := start[:4]
		rev := []byte{m[3], m[2], m[1], m[0]}
		switch {
		case bytes.Equal(m, magicPcapMicro), bytes.Equal(m, magicPcapNano),
			bytes.Equal(rev, magicPcapMicro), bytes.Equal(rev, magicPcapNano):
			return FormatPcap, nil
		case bytes.Equal(m, magicNG):
			return FormatPcapNG, nil
		}
	}
	return "", &NotCaptureError{File: name, Start: append([]byte(nil), start[:min(len(start), 8)]...)}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// PacketReader reads the packets of a pcap or pcapng capture in file
// order.
type PacketReader struct {
	name   string
	format Format
	cr     *countingReader // bytes of the capture (decompressed)
	file   *countingReader // bytes of the file
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	link   layers.LinkType // pcap only
	off    int64           // pcap: offset of the next record
	num    int64
	last   time.Time
	err    error
	closer io.Closer
}

// OpenFile opens a capture file for reading.
func OpenFile(path string) (*PacketReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	r, err := NewPacketReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewPacketReader reads a capture from rd; name is used in errors. It
// returns a *NotCaptureError when rd does not start like a capture and a
// *CutError when it ends inside the file header.
func NewPacketReader(rd io.Reader, name string) (*PacketReader, error) {
	file := &countingReader{r: rd}
	br := bufio.NewReaderSize(file, 64<<10)
	start, err := br.Peek(8)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(start) >= 2 && start[0] == 0x1f && start[1] == 0x8b { // gzip: session.pcap.gz
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
		if start, err = br.Peek(8); err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
	}
	format, err := DetectFormat(name, start)
	if err != nil {
		return nil, err
	}
	r := &PacketReader{name: name, format: format, cr: &countingReader{r: br}, file: file}
	switch format {
	case FormatPcap:
		r.pcap, err = pcapgo.NewReader(r.cr)
		if err == nil {
			r.link = r.pcap.LinkType()
			r.off = 24
		}
	case FormatPcapNG:
		r.ng, err = pcapgo.NewNgReader(r.cr, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &CutError{File: name, Offset: 0, Err: fmt.Errorf("%s file header incomplete", format)}
		}
		return nil, fmt.Errorf("%s: bad %s file header: %w", name, format, err)
	}
	return r, nil
}

// Format returns the capture's format.
func (r *PacketReader) Format() Format { return r.format }

// Name returns the name the reader was opened with.
func (r *PacketReader) Name() string { return r.name }

// BytesRead returns how many bytes of the file have been consumed so far
// (including read-ahead), for progress reports.
func (r *PacketReader) BytesRead() int64 { return r.file.n }

// Next reads the next packet. It returns io.EOF at the clean end of the
// file, a *CutError when the file ends inside a packet, and another error
// naming the packet for a malformed record; after an error it keeps
// returning it.
func (r *PacketReader) Next(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
		link = r.link
	)
	start := r.off
	if r.pcap != nil {
		data, ci, err = r.pcap.ZeroCopyReadPacketData()
	} else {
		start = r.cr.n
		data, ci, err = r.ng.ZeroCopyReadPacketData()
		if err == nil {
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					link = lt
				}
			}
		}
	}
	if err != nil {
		r.err = r.wrap(err, start)
		return r.err
	}
	r.num++
	r.off += 16 + int64(ci.CaptureLength)
	r.last = ci.Timestamp
	*p = Packet{Num: r.num, Offset: start, Time: ci.Timestamp, LinkType: link, Interface: ci.InterfaceIndex, Length: ci.Length, Data: data}
	return nil
}

func (r *PacketReader) wrap(err error, start int64) error {
	if err == io.EOF {
		return io.EOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		off := start
		if r.ng != nil {
			off = r.cr.n
		}
		return &CutError{File: r.name, Offset: off, Packets: r.num, Last: r.last, Err: errors.New("unexpected end of file")}
	}
	return fmt.Errorf("%s: packet %d at byte %d: %w", r.name, r.num+1, start, err)
}

// Close closes the file opened by OpenFile.
func (r *PacketReader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}
