package proxy

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lettadev/wsproxy/inject"
	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// Fault injection (Options.Faults). A relay with rules forwards whole
// messages: the bytes of a data message are held until its last frame is
// in, then the engine's verdict decides what the receiver gets. Messages
// that pass are forwarded byte for byte; control frames always pass (a
// control frame interleaved in a fragmented message waits for it). A
// connection without rules never comes here: it runs relay.run, untouched.

// faultRelay is one direction of a connection with fault rules.
type faultRelay struct {
	*relay
	fc *inject.Conn

	pend     []byte // stream bytes from pendBase on, not yet forwarded or dropped
	hold     []byte // the relay's own buffer for held bytes (pend may alias the read buffer)
	pendBase int64
	raw      bool // the stream broke its framing: forward the rest as it comes

	verdicts map[*trace.Record]inject.Verdict
	seen     map[*trace.Record]int // frames of a message forwarded so far
	msg      []byte                // the current message's frames (for duplicate, delay, reorder)
	held     []heldMsg             // reorder holds
	delays   []*delayedMsg         // delayed messages, in the order they were delayed
	out      []byte
	emitBuf  []*trace.Record

	// While the receiver is blocked the source is still read (watch).
	watchBuf     []byte
	watchedBytes int  // read during the current blocked write
	watchedMore  bool // tapped during a write, not settled yet
}

type heldMsg struct {
	b    []byte
	rule int
	left int
	text string // the rule, for the trace
}

// delayedMsg is a message a delay rule holds: its timer goroutine writes
// it, unless the relay takes it first (the sender's close frame or end of
// stream came before the delay was over).
type delayedMsg struct {
	b     []byte
	text  string        // the rule, for the trace
	state atomic.Int32  // delayPending, delayWriting (the timer's), delayTaken (the relay's)
	done  chan struct{} // closed when the timer goroutine is over
}

const (
	delayPending = iota
	delayWriting
	delayTaken
)

// runFaults is run for a connection with fault rules.
func (r *relay) runFaults(fc *inject.Conn) {
	r.tap.TrackFrames()
	f := &faultRelay{relay: r, fc: fc, verdicts: map[*trace.Record]inject.Verdict{}, seen: map[*trace.Record]int{}}
	if len(r.early) > 0 {
		early := r.early
		r.early = nil
		if !f.chunk(early) {
			return
		}
	}
	buf := make([]byte, maxReadBuf)
	for {
		n, err := r.src.Read(buf)
		if n > 0 && !f.chunk(buf[:n]) {
			f.abandonPending()
			return
		}
		// What was read while a write was blocked is settled now.
		for f.watchedMore {
			f.watchedMore = false
			if !f.forward() {
				f.abandonPending()
				return
			}
		}
		if err == nil {
			err = r.watchErr
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				// The sender's stream ended: what is still held or delayed
				// goes before the close the proxy passes on.
				f.releasePending("the " + string(f.from) + "'s stream ended")
				f.flush()
			}
			f.abandonPending()
			r.ended(err)
			return
		}
	}
}

// releasePending appends every message still held by a reorder rule or
// delayed to the output, in the order they were held, and says so in a
// fault record: they are delivered now, ahead of what ends the stream
// (why).
func (f *faultRelay) releasePending(why string) {
	var rules []string
	n := 0
	for _, h := range f.held {
		f.out = append(f.out, h.b...)
		rules = append(rules, h.text)
		n++
	}
	clear(f.held)
	f.held = f.held[:0]
	for _, d := range f.delays {
		if d.state.CompareAndSwap(delayPending, delayTaken) {
			f.out = append(f.out, d.b...)
			rules = append(rules, d.text)
			n++
		} else {
			<-d.done // its write is under way: it goes first
		}
	}
	f.delays = f.delays[:0]
	if n > 0 {
		f.pendingRecord("release", fmt.Sprintf("%d message(s) still held or delayed delivered at once: %s", n, why), rules)
	}
}

// abandonPending notes the messages still held or delayed when the relay
// stops for good: they are never delivered.
func (f *faultRelay) abandonPending() {
	var rules []string
	for _, h := range f.held {
		rules = append(rules, h.text)
	}
	clear(f.held)
	f.held = f.held[:0]
	for _, d := range f.delays {
		if d.state.CompareAndSwap(delayPending, delayTaken) {
			rules = append(rules, d.text)
		}
	}
	f.delays = f.delays[:0]
	if len(rules) > 0 {
		f.pendingRecord("undelivered", fmt.Sprintf("%d message(s) still held or delayed never delivered: the connection ended first", len(rules)), rules)
	}
}

// pendingRecord emits a fault record about held or delayed messages; it
// names no frame (each was named by its own fault record).
func (f *faultRelay) pendingRecord(action, msg string, rules []string) {
	rules = slices.Compact(rules)
	f.c.p.emit(&trace.Record{Kind: trace.KindFault, T: f.c.p.opts.Now(), Conn: f.c.id, From: f.from,
		Rule: strings.Join(rules, "; "), Action: action, Message: msg})
}

// delay writes b (whole frames) to the receiver after d, unless the relay
// takes it first (releasePending, abandonPending) or the connection is
// cut.
func (f *faultRelay) delay(d time.Duration, b []byte, text string) {
	live := f.delays[:0]
	for _, x := range f.delays {
		if x.state.Load() == delayPending {
			live = append(live, x)
		}
	}
	clear(f.delays[len(live):])
	m := &delayedMsg{b: b, text: text, done: make(chan struct{})}
	f.delays = append(live, m)
	dst, cut := f.dst, f.c.cutCh
	go func() {
		defer close(m.done)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			if m.state.CompareAndSwap(delayPending, delayWriting) {
				dst.write(b, true, nil)
			}
		case <-cut:
		}
	}()
}

// chunk taps b, decides on the messages it completes, emits their records
// (each fault record right before its frame's) and forwards what is
// settled. It returns false when the relay must stop.
func (f *faultRelay) chunk(b []byte) bool {
	if f.raw {
		f.feed(b)
		return f.write(b)
	}
	f.take(b, false)
	return f.forward()
}

// take appends b to the held bytes, taps it, decides on the messages it
// completes and emits their records. Unless copyIn is set, b may become
// the held bytes themselves (settle copies out what stays).
func (f *faultRelay) take(b []byte, copyIn bool) {
	now := f.c.p.opts.Now()
	switch {
	case len(f.pend) == 0 && !copyIn:
		f.pend = b
	case copyIn:
		f.pend = append(f.pend[:len(f.pend):len(f.pend)], b...) // never into a buffer pend may share
	default:
		f.pend = append(f.pend, b...)
	}
	f.batch = f.tap.Feed(f.batch[:0], now, b)
	out := f.emitBuf[:0]
	faulted := false
	for i, rec := range f.batch {
		if rec.Kind != trace.KindFrame {
			continue
		}
		v := f.fc.Decide(f.from, rec, now)
		if v.Matched != 0 {
			f.verdicts[rec] = v
		}
		if v.Rule != nil {
			if !faulted {
				faulted = true
				out = append(out, f.batch[:i]...)
			}
			out = append(out, f.faultRecord(now, v)) // right before its frame
		}
		if faulted {
			out = append(out, rec)
		}
	}
	if faulted {
		f.c.p.emit(out...)
		clear(out)
		f.emitBuf = out[:0]
	} else {
		f.c.p.emit(f.batch...)
	}
	clear(f.batch)
}

// forward settles what the tap has decided: complete frames go to the
// receiver as their verdicts say. It returns false when the relay must
// stop.
func (f *faultRelay) forward() bool {
	if f.tap.Stop() >= 0 {
		f.settle(f.tap.Stop())
		f.c.abort(trace.Proxy, 1009, "message too big")
		return false
	}
	if f.tap.Broken() {
		// Framing is lost: what is settled goes as decided, the rest as it is.
		if !f.settle(-1) {
			return false
		}
		f.raw = true
		rest := f.pend
		f.pend = nil
		return f.write(rest)
	}
	return f.settle(-1)
}

// watch runs while the receiver accepts nothing, as relay.watch does for
// a relay without rules: what the source sends meanwhile (up to
// maxWatched) is read, tapped and decided, its records emitted, and waits
// with the held bytes until the write is through. It returns true to
// abandon the write: the source ended or sent its close frame.
func (f *faultRelay) watch() bool {
	r := f.relay
	if r.watchErr != nil {
		return true
	}
	if f.raw || f.watchedBytes >= maxWatched || r.tap.Stop() >= 0 || r.tap.Broken() {
		return false
	}
	if f.watchBuf == nil {
		f.watchBuf = make([]byte, maxWatched)
	}
	r.src.SetReadDeadline(time.Now().Add(time.Millisecond))
	n, err := r.src.Read(f.watchBuf[:maxWatched-f.watchedBytes])
	r.src.SetReadDeadline(time.Time{})
	if n > 0 {
		f.watchedBytes += n
		f.watchedMore = true
		f.take(f.watchBuf[:n], true)
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		r.watchErr = err
		return true
	}
	return r.tap.SawClose()
}

func (f *faultRelay) faultRecord(now time.Time, v inject.Verdict) *trace.Record {
	r := v.Rule
	rec := &trace.Record{Kind: trace.KindFault, T: now, Conn: f.c.id, From: f.from, Rule: r.Text,
		Action: r.Action.String(), Frame: -1, Message: v.Describe()}
	if r.Action == inject.Close {
		rec.Code = r.Code
	}
	if v.Payload != nil {
		p := append([]byte(nil), v.Payload...)
		if red, ok := f.c.p.tapOpts.Redact.Payload(p); ok {
			p, rec.Redacted = red, true
		}
		rec.Op, rec.Payload = trace.OpText, p
	}
	return rec
}

// settle forwards the complete frames at the start of the held bytes, up
// to limit (a stream offset; -1: no limit), each as its message's verdict
// says. A data frame of a message not complete yet, and everything after
// it, stays held.
func (f *faultRelay) settle(limit int64) bool {
	spans := f.tap.Frames()
	offset := f.tap.Offset()
	if limit >= 0 {
		offset = min(offset, limit)
	}
	f.out = f.out[:0]
	settled := f.pendBase
	i := 0
	var stop func() // what ends the connection after the write
	sawClose := false
	// While every frame so far passes untouched, the output is a prefix of
	// pend: it is written from there, not copied.
	direct := true
	for ; i < len(spans) && stop == nil; i++ {
		sp := spans[i]
		if sp.End > offset || sp.Rec == nil {
			break
		}
		b := f.pend[sp.Start-f.pendBase : sp.End-f.pendBase]
		settled = sp.End
		rec := sp.Rec
		var v inject.Verdict
		if len(f.verdicts) > 0 {
			v = f.verdicts[rec]
		}
		first, last := true, true
		if rec.Frames() > 1 {
			f.seen[rec]++
			first, last = f.seen[rec] == 1, f.seen[rec] == rec.Frames()
			if last {
				delete(f.seen, rec)
			}
		}
		if last && v.Matched != 0 {
			delete(f.verdicts, rec)
		}
		if rec.Op == trace.OpClose {
			sawClose = true
			if len(f.held) > 0 || len(f.delays) > 0 {
				f.undirect(&direct, sp.Start)
				// What is held or delayed goes before the close frame.
				f.releasePending("the " + string(f.from) + " sent its close frame")
			}
		}
		if v.Rule == nil && (v.Matched == 0 || len(f.held) == 0) {
			if !direct {
				f.out = append(f.out, b...)
			}
			continue
		}
		f.undirect(&direct, sp.Start)
		if v.Rule == nil {
			f.out = append(f.out, b...)
			if last {
				f.countMatched(v.Matched)
			}
			continue
		}
		r := v.Rule
		if first {
			f.msg = f.msg[:0]
		}
		f.msg = append(f.msg, b...)
		switch r.Action {
		case inject.Duplicate, inject.Inject:
			f.out = append(f.out, b...)
		case inject.Stall:
			if first {
				if !f.flush() || !f.c.wait(r.Duration) {
					return false
				}
			}
			f.out = append(f.out, b...)
		}
		if !last {
			continue
		}
		f.countMatched(v.Matched) // before a hold of its own is added
		switch r.Action {
		case inject.Duplicate:
			f.out = append(f.out, f.msg...)
		case inject.Inject, inject.Corrupt:
			f.out = f.appendFrame(f.out, v.Payload)
		case inject.Delay:
			f.delay(r.Duration, append([]byte(nil), f.msg...), r.Text)
		case inject.Reorder:
			f.held = append(f.held, heldMsg{b: append([]byte(nil), f.msg...), rule: v.Index, left: r.N, text: r.Text})
		case inject.Close:
			code, why := uint16(r.Code), "injected fault: "+r.Text
			stop = func() {
				f.c.forceCause(code, why)
				f.c.abort(trace.Proxy, code, why)
			}
		case inject.Truncate:
			stop = func() {
				f.c.forceCause(1006, "injected fault: "+r.Text+" (TCP connections cut, no close frame)")
				f.c.cut()
			}
		}
	}
	f.tap.Take(i)
	var err bool
	if direct {
		err = !f.write(f.pend[:settled-f.pendBase])
	} else {
		err = !f.flush()
	}
	// What stays held moves to the front of the relay's own buffer (pend
	// may be the read buffer, see chunk).
	if rest := f.pend[settled-f.pendBase:]; len(rest) == 0 {
		f.pend = f.hold[:0]
	} else {
		f.hold = append(f.hold[:0], rest...) // a memmove when pend is hold
		f.pend = f.hold
	}
	f.pendBase = settled
	if err {
		return false
	}
	if sawClose && !f.closeNoted {
		f.closeNoted = true
		f.dst.markCloseSent()
		f.c.sawClose(f.from)
	}
	if stop != nil {
		stop()
		return false
	}
	return true
}

// undirect ends writing from pend: the output so far, pend up to off, is
// copied to out.
func (f *faultRelay) undirect(direct *bool, off int64) {
	if *direct {
		*direct = false
		f.out = append(f.out[:0], f.pend[:off-f.pendBase]...)
	}
}

// countMatched counts a delivered message against the reorder holds
// whose rule it matched, releasing those it completes.
func (f *faultRelay) countMatched(matched uint64) {
	if matched == 0 || len(f.held) == 0 {
		return
	}
	kept := f.held[:0]
	for _, h := range f.held {
		if matched&(1<<h.rule) != 0 {
			h.left--
		}
		if h.left <= 0 {
			f.out = append(f.out, h.b...)
			continue
		}
		kept = append(kept, h)
	}
	clear(f.held[len(kept):])
	f.held = kept
}

// appendFrame appends a single-frame text message of the proxy's own,
// masked towards the upstream.
func (f *faultRelay) appendFrame(dst, payload []byte) []byte {
	h := wsframe.Header{Fin: true, Opcode: wsframe.OpText, Masked: f.dst.mask}
	if h.Masked {
		rand.Read(h.MaskKey[:])
	}
	return wsframe.AppendFrame(dst, h, payload)
}

// flush writes the output built so far; it ends at a frame boundary.
func (f *faultRelay) flush() bool {
	if len(f.out) == 0 {
		return true
	}
	ok := f.write(f.out)
	f.out = f.out[:0]
	return ok
}

func (f *faultRelay) write(b []byte) bool {
	err := f.dst.write(b, !f.raw, f.watch)
	f.watchedBytes = 0
	if err == nil {
		return true
	}
	if errors.Is(err, errSourceEnded) {
		f.endedWhileBlocked()
	} else {
		f.writeFailed(err)
	}
	return false
}

// forceCause makes an injected fault the recorded end of the connection,
// even when a peer's close frame, not delivered, was already decoded.
func (c *conn) forceCause(code uint16, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.causeBy, c.causeCode, c.causeWhy = trace.Proxy, int(code), reason
}

// wait waits d, or until the connection is cut; it reports whether the
// connection is still up.
func (c *conn) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.cutCh:
		return false
	}
}

// declineCompression reports whether the client's offer of extensions
// must not reach the upstream: with permessage-deflate and context
// takeover, a receiver whose messages are dropped, added or reordered can
// no longer inflate what follows, so message-altering rules turn
// compression off for the connections they apply to.
func (p *Proxy) declineCompression(r *http.Request) bool {
	return p.opts.Faults != nil && p.opts.Faults.AltersMessages() && len(r.Header.Values("Sec-WebSocket-Extensions")) > 0
}

// declinedRecord says, as a fault record after the open record, that the
// offer of extensions was removed.
func (p *Proxy) declinedRecord(hs tap.Handshake) *trace.Record {
	var rules []string
	for _, r := range p.opts.Faults.Rules() {
		if r.Action.AltersMessages() {
			rules = append(rules, r.Text)
		}
	}
	return &trace.Record{Kind: trace.KindFault, T: hs.Start, Conn: hs.Conn, Rule: strings.Join(rules, "; "), Action: "decline-compression",
		Message: "the client's Sec-WebSocket-Extensions offer (" + strings.Join(hs.Request.Header.Values("Sec-WebSocket-Extensions"), ", ") +
			") was not passed upstream: message-altering fault rules are active, and permessage-deflate with context takeover cannot survive them"}
}
