package replay

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

type itemKind uint8

const (
	itemFrame itemKind = iota // a message
	itemClose                 // a close (frame or record)
	itemOpen                  // a socket opening
)

// item is one step of a session's timeline: a frame or close the replay
// sends ("ours") or expects from its peer ("theirs"), or a socket opening.
type item struct {
	kind    itemKind
	ours    bool
	done    bool // theirs: matched or given up
	nonJSON bool
	sock    int
	pos     int64 // place in the session's timeline
	line    int64
	t       time.Time
	op      trace.Op
	typ     string
	info    *protocol.TypeInfo
	payload []byte // ours, and theirs when contents are compared
	reqID   []byte // recorded request_id (aliases payload for ours)
	seq     int64
	hasSeq  bool
	evSeq   int64 // the device's event_seq, 0 when none
	sent    bool  // ours: sent ahead of its turn
	code    int
	reason  string
}

// describe names the item's type for messages.
func (it *item) describe() string {
	switch {
	case it.kind == itemClose:
		return "close"
	case it.kind == itemOpen:
		return "open"
	case it.op == trace.OpBinary:
		return "binary frame"
	case it.nonJSON:
		return "non-JSON text frame"
	case it.typ == "":
		return "frame without type"
	}
	return it.typ
}

const (
	feedBatch     = 64
	reorderWindow = 256 // records held to put them in time order
)

// reorder is a min-heap of items by recorded time, then trace line.
type reorder struct{ h []*item }

func (r *reorder) len() int { return len(r.h) }

func (r *reorder) less(i, j int) bool {
	a, b := r.h[i], r.h[j]
	if !a.t.Equal(b.t) {
		return a.t.Before(b.t)
	}
	return a.line < b.line
}

func (r *reorder) push(it *item) {
	r.h = append(r.h, it)
	for i := len(r.h) - 1; i > 0; {
		p := (i - 1) / 2
		if !r.less(i, p) {
			break
		}
		r.h[i], r.h[p] = r.h[p], r.h[i]
		i = p
	}
}

func (r *reorder) pop() *item {
	top := r.h[0]
	n := len(r.h) - 1
	r.h[0] = r.h[n]
	r.h[n] = nil
	r.h = r.h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && r.less(l, m) {
			m = l
		}
		if l+1 < n && r.less(l+1, m) {
			m = l + 1
		}
		if m == i {
			break
		}
		r.h[i], r.h[m] = r.h[m], r.h[i]
		i = m
	}
	return top
}

// feeder streams one session's records from the trace file as items, in
// batches, reading ahead at most a few batches.
type feeder struct {
	ch  chan []*item
	err error // valid once ch is closed
}

// startFeeder starts reading the session's records. ours is the side
// whose frames the replay sends; keepTheirs keeps the payloads of the
// other side's frames (to compare contents).
func startFeeder(ctx context.Context, wg *sync.WaitGroup, x *Index, info *SessionInfo, m *protocol.Model, ours trace.Side, keepTheirs bool, logf func(string, ...any)) *feeder {
	f := &feeder{ch: make(chan []*item, 4)}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(f.ch)
		f.err = f.run(ctx, x, info, m, ours, keepTheirs, logf)
	}()
	return f
}

// run feeds the session's records from the index's files that hold some
// of them, numbering lines as the index does.
func (f *feeder) run(ctx context.Context, x *Index, info *SessionInfo, m *protocol.Model, ours trace.Side, keepTheirs bool, logf func(string, ...any)) error {
	files := x.Files
	if len(files) == 0 {
		files = []IndexFile{{Path: x.Path}}
	}
	opens := make(map[int64]int, len(info.Conns))
	for i, c := range info.Conns {
		opens[c.Line] = i
	}
	active := make(map[string]int, len(info.Conns))
	closed := make([]bool, len(info.Conns))
	batch := make([]*item, 0, feedBatch)
	var pos int64
	send := func(it *item) bool {
		pos++
		it.pos = pos
		batch = append(batch, it)
		if len(batch) < feedBatch {
			return true
		}
		select {
		case f.ch <- batch:
		case <-ctx.Done():
			return false
		}
		batch = make([]*item, 0, feedBatch)
		return true
	}
	// Records are put back in the order their frames were read: a
	// recorder writes the records of different sockets and directions as
	// their goroutines hand them over, which may differ slightly.
	var ro reorder
	emit := func(it *item) bool {
		ro.push(it)
		for ro.len() > reorderWindow {
			if !send(ro.pop()) {
				return false
			}
		}
		return true
	}
	next, closeFile := f.records(files, info)
	defer closeFile()
	for {
		rec, err := next()
		if err == io.EOF {
			break
		}
		var le *recorder.LineError
		if errors.As(err, &le) {
			if logf != nil {
				logf("replay: skipping bad record: %v", le)
			}
			continue
		}
		if err != nil {
			return err
		}
		if rec.Line < info.FirstLine {
			continue
		}
		if rec.Line > info.LastLine {
			break
		}
		switch rec.Kind {
		case trace.KindOpen, trace.KindFrame, trace.KindClose:
		default:
			continue
		}
		idx, ok := active[rec.Conn]
		if i, isOpen := opens[rec.Line]; isOpen && info.Conns[i].Conn == rec.Conn {
			idx, ok = i, true
			active[rec.Conn] = i
			if !emit(&item{kind: itemOpen, sock: i, line: rec.Line, t: rec.T}) {
				return nil
			}
		}
		if !ok || rec.Kind == trace.KindOpen || closed[idx] {
			continue
		}
		it := buildItem(m, rec, idx, ours, keepTheirs)
		if it == nil {
			continue
		}
		if it.kind == itemClose {
			closed[idx] = true
		}
		if !emit(it) {
			return nil
		}
	}
	for ro.len() > 0 {
		if !send(ro.pop()) {
			return nil
		}
	}
	if len(batch) > 0 {
		select {
		case f.ch <- batch:
		case <-ctx.Done():
		}
	}
	return nil
}

// records returns an iterator over the records of the files that hold
// lines FirstLine..LastLine of info, with index line numbers, and a
// function closing the open file. Bad lines inside the range come as
// *recorder.LineError.
func (f *feeder) records(files []IndexFile, info *SessionInfo) (func() (*trace.Record, error), func()) {
	var r *recorder.Reader
	var base int64
	i := 0
	done := func() {
		if r != nil {
			r.Close()
			r = nil
		}
	}
	next := func() (*trace.Record, error) {
		for {
			if r == nil {
				for i < len(files) && files[i].Lines > 0 && files[i].Base+files[i].Lines < info.FirstLine {
					i++ // ends before the session
				}
				if i >= len(files) || files[i].Base >= info.LastLine {
					return nil, io.EOF
				}
				var err error
				if r, err = recorder.Open(files[i].Path); err != nil {
					return nil, err
				}
				base = files[i].Base
				i++
			}
			rec, err := r.Next()
			if err == io.EOF {
				done()
				continue
			}
			var le *recorder.LineError
			if errors.As(err, &le) {
				if n := base + le.Line; n < info.FirstLine || n > info.LastLine {
					continue
				}
				return nil, err
			}
			if err != nil {
				return nil, err
			}
			rec.Line += base
			return rec, nil
		}
	}
	return next, done
}

// buildItem turns a frame or close record into an item, or nil for
// transport noise the replay neither sends nor expects: WebSocket pings
// and pongs, and JSON transport messages (ack, ping, pong,
// listener_ready) except the server's pings, which a Server replays.
func buildItem(m *protocol.Model, rec *trace.Record, sock int, ours trace.Side, keepTheirs bool) *item {
	if rec.Kind == trace.KindClose || rec.Op == trace.OpClose {
		by := rec.By
		if rec.Kind == trace.KindFrame {
			by = rec.From
		}
		isOurs := by == ours || (by == trace.Proxy && ours == trace.Server)
		return &item{kind: itemClose, ours: isOurs, sock: sock, line: rec.Line, t: rec.T, code: rec.Code, reason: rec.Reason}
	}
	if rec.Op != trace.OpText && rec.Op != trace.OpBinary {
		return nil
	}
	it := &item{kind: itemFrame, ours: rec.From == ours, sock: sock, line: rec.Line, t: rec.T, op: rec.Op}
	if rec.Op == trace.OpText {
		env, err := m.Parse(rec.Payload)
		if err != nil {
			it.nonJSON = true
		} else {
			it.typ, it.info = env.TypeString(), env.Info
			it.seq, it.hasSeq = env.Seq, env.HasSeq
			it.reqID = env.RequestID
			if env.HasEventSeq && env.EventSeq > 0 {
				it.evSeq = env.EventSeq
			}
		}
	}
	if it.info != nil && it.info.Role == protocol.RoleTransport {
		if !it.ours || ours == trace.Client || it.typ == "pong" {
			return nil
		}
	}
	if it.ours || keepTheirs {
		it.payload = rec.Payload
	} else if it.reqID != nil {
		it.reqID = append([]byte(nil), it.reqID...)
	}
	return it
}
