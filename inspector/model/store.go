package model

import (
	"bytes"
	"sync"

	"github.com/klauspost/compress/s2"
)

// blockSize is how many payload bytes a block holds before it is sealed
// (compressed). A payload larger than a block gets a block of its own.
const blockSize = 256 << 10

// blockStore keeps payloads in blocks: the open block raw, sealed ones
// compressed with S2 (about a third of the raw size for protocol JSON,
// decoded at several GB/s). Writes happen under the model's write lock;
// reads under its read lock, so several readers may decode at once.
type blockStore struct {
	sealed [][]byte // compressed blocks
	rawLen []uint32 // uncompressed size of each sealed block
	open   []byte   // the block being filled: index len(sealed)
	bytes  int64    // compressed bytes held
	enc    []byte   // scratch for compressing

	cacheMu sync.Mutex
	cache   [4]cached
	tick    uint64
}

type cached struct {
	block uint32
	data  []byte
	used  uint64
}

// add stores p and returns where it is.
func (s *blockStore) add(p []byte) (block, off, n uint32) {
	if len(p) == 0 {
		return 0, 0, 0
	}
	if len(s.open) > 0 && len(s.open)+len(p) > blockSize {
		s.seal()
	}
	if cap(s.open) < len(p) {
		c := blockSize
		if len(p) > c {
			c = len(p)
		}
		s.open = make([]byte, 0, c)
	}
	off = uint32(len(s.open))
	s.open = append(s.open, p...)
	return uint32(len(s.sealed)), off, uint32(len(p))
}

// seal compresses the open block.
func (s *blockStore) seal() {
	if len(s.open) == 0 {
		return
	}
	// Encode returns a slice of a buffer of the worst-case size: keep an
	// exact copy, reuse the buffer and the open block's memory.
	if n := s2.MaxEncodedLen(len(s.open)); cap(s.enc) < n {
		s.enc = make([]byte, n)
	}
	c := bytes.Clone(s2.Encode(s.enc, s.open))
	s.sealed = append(s.sealed, c)
	s.rawLen = append(s.rawLen, uint32(len(s.open)))
	s.bytes += int64(len(c))
	if cap(s.open) == blockSize {
		s.open = s.open[:0]
	} else {
		s.open = nil
	}
}

// block returns block b decoded, from the cache when it is there. The
// result must not be modified.
func (s *blockStore) block(b uint32) []byte {
	if int(b) == len(s.sealed) {
		return s.open
	}
	if int(b) > len(s.sealed) {
		return nil
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.tick++
	oldest := 0
	for i := range s.cache {
		c := &s.cache[i]
		if c.data != nil && c.block == b {
			c.used = s.tick
			return c.data
		}
		if c.used < s.cache[oldest].used {
			oldest = i
		}
	}
	d, err := s2.Decode(make([]byte, s.rawLen[b]), s.sealed[b])
	if err != nil {
		return nil
	}
	s.cache[oldest] = cached{block: b, data: d, used: s.tick}
	return d
}

// decodeInto decodes block b into buf (grown as needed), bypassing the
// cache: for scans over every block.
func (s *blockStore) decodeInto(b uint32, buf []byte) []byte {
	if int(b) == len(s.sealed) {
		return s.open
	}
	n := int(s.rawLen[b])
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	d, err := s2.Decode(buf[:n], s.sealed[b])
	if err != nil {
		return nil
	}
	return d
}

// payload returns a copy of the payload at block, off, n.
func (s *blockStore) payload(block, off, n uint32) []byte {
	if n == 0 {
		return nil
	}
	d := s.block(block)
	if d == nil || int(off+n) > len(d) {
		return nil
	}
	return append([]byte(nil), d[off:off+n]...)
}
