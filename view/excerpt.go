package view

import "github.com/lettadev/wsproxy/trace"

// Excerpt cuts a trace down to the records a filter kept while keeping
// it a trace that checks and replays: each connection with a kept record
// gets its open record first and its close record last, even when the
// filter did not keep them. Records go to Sink in their original order.
type Excerpt struct {
	Sink  trace.Sink
	opens map[string]*trace.Record // connections not yet written
	live  map[string]bool          // connections written
}

// NewExcerpt returns an Excerpt writing to sink.
func NewExcerpt(sink trace.Sink) *Excerpt {
	return &Excerpt{Sink: sink, opens: map[string]*trace.Record{}, live: map[string]bool{}}
}

// Offer passes every record of the input, kept or not, in order.
func (x *Excerpt) Offer(r *trace.Record, kept bool) error {
	switch {
	case r.Kind == trace.KindHeader:
		return nil
	case r.Kind == trace.KindOpen:
		if kept {
			x.live[r.Conn] = true
			return x.Sink.Write(r)
		}
		x.opens[r.Conn] = r
		return nil
	case r.Kind == trace.KindClose:
		delete(x.opens, r.Conn)
		if kept || x.live[r.Conn] {
			delete(x.live, r.Conn)
			return x.Sink.Write(r)
		}
		return nil
	case !kept:
		return nil
	}
	if o := x.opens[r.Conn]; o != nil {
		delete(x.opens, r.Conn)
		x.live[r.Conn] = true
		if err := x.Sink.Write(o); err != nil {
			return err
		}
	}
	return x.Sink.Write(r)
}
