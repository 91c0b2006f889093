package trace

import (
	"errors"
	"io"
)

// Source produces records in order. Next returns io.EOF after the last
// one. The live proxy, a trace file, a packet capture and the simulator
// are sources.
type Source interface {
	Next() (*Record, error)
}

// Sink consumes records. The recorder, the checker, the inspector and the
// replayer are sinks. A sink must not keep r's Payload past the call
// unless it copies it, and must not modify r.
type Sink interface {
	Write(r *Record) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(r *Record) error

// Write calls f(r).
func (f SinkFunc) Write(r *Record) error { return f(r) }

// Tee is a sink that writes every record to each of its sinks in order.
// It writes to all of them even when one fails, and returns the errors
// joined.
type Tee []Sink

// Write writes r to every sink.
func (t Tee) Write(r *Record) error {
	var errs []error
	for _, s := range t {
		if err := s.Write(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Copy writes every record of src to dst until src is exhausted. It
// returns the number of records copied and the first error other than
// io.EOF.
func Copy(dst Sink, src Source) (int, error) {
	n := 0
	for {
		r, err := src.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if err := dst.Write(r); err != nil {
			return n, err
		}
		n++
	}
}

// SliceSource is a Source over records held in memory.
type SliceSource struct {
	Records []*Record
	i       int
}

// Next returns the next record, or io.EOF.
func (s *SliceSource) Next() (*Record, error) {
	if s.i >= len(s.Records) {
		return nil, io.EOF
	}
	s.i++
	return s.Records[s.i-1], nil
}
