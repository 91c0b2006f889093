package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lettadev/wsproxy/protocol"
)

// DriveOptions configure Drive. Exactly one mode runs: streaming (Events
// > 0), round trips (RTT > 0) or idle (Idle).
type DriveOptions struct {
	// URL is the server's (or proxy's) base URL, ws://host:port, loopback.
	URL string
	// Conns is the number of connections (default 1).
	Conns int
	// Events asks each connection for this many stream_delta events, each
	// acked, and waits until all have arrived.
	Events int64
	// RTT sends this many requests per connection, one at a time, and
	// times each until its reply arrives.
	RTT int
	// Idle keeps the connections open for For, each sending a ping every
	// Ping (default 1s) and waiting for its pong.
	Idle bool
	Ping time.Duration
	For  time.Duration
	// Connected, if set, is called once every connection is open (idle
	// mode: before the pinging starts).
	Connected func()
	// Timeout bounds the whole drive (default 5 minutes); IOTimeout bounds
	// any one wait for the peer (default 30s).
	Timeout   time.Duration
	IOTimeout time.Duration
}

// DriveResult is what a drive measured.
type DriveResult struct {
	Conns   int           `json:"conns"`
	Events  int64         `json:"events"`  // events received (and acked)
	Acks    int64         `json:"acks"`    // acks sent (every sequenced frame)
	Elapsed time.Duration `json:"elapsed"` // from all connected to the last event
	// EventsPerSec is Events / Elapsed.
	EventsPerSec float64 `json:"events_per_sec"`
	// RTTs are the round trips measured (RTT mode), sorted.
	RTTs []time.Duration `json:"-"`
	P50  time.Duration   `json:"rtt_p50,omitempty"`
	P99  time.Duration   `json:"rtt_p99,omitempty"`
	// Pings and Pongs count the idle mode's heartbeats.
	Pings int64 `json:"pings,omitempty"`
	Pongs int64 `json:"pongs,omitempty"`
}

// Drive runs the client side of a load run and returns what it measured.
func Drive(ctx context.Context, o DriveOptions) (DriveResult, error) {
	if _, err := loopbackURL(o.URL); err != nil {
		return DriveResult{}, err
	}
	modes := 0
	for _, on := range []bool{o.Events > 0, o.RTT > 0, o.Idle} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return DriveResult{}, errors.New("drive: choose one of events, round trips or idle")
	}
	if o.Conns <= 0 {
		o.Conns = 1
	}
	if o.Conns > 5000 {
		return DriveResult{}, fmt.Errorf("drive: %d connections is over the bound of 5000", o.Conns)
	}
	if o.Ping <= 0 {
		o.Ping = time.Second
	}
	if o.Idle && (o.For <= 0 || o.For > time.Hour) {
		return DriveResult{}, fmt.Errorf("drive: idle needs -for between 0 and 1h, not %v", o.For)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Idle && o.Timeout < o.For+time.Minute {
		o.Timeout = o.For + time.Minute
	}
	if o.IOTimeout <= 0 {
		o.IOTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	base := strings.TrimSuffix(strings.Replace(o.URL, "http://", "ws://", 1), "/")
	conns := make([]*websocket.Conn, 0, o.Conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Closing every connection when ctx ends unblocks their goroutines.
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	defer stop()
	d := websocket.Dialer{HandshakeTimeout: o.IOTimeout, ReadBufferSize: 16 << 10, WriteBufferSize: 4 << 10}
	for i := range o.Conns {
		q := "agentId=" + agentID + "&conversationId=default&channel=stream"
		if o.Events > 0 {
			q += "&events=" + strconv.FormatInt(o.Events, 10)
		}
		u := base + statusPath(fmt.Sprintf("load-%d", i+1)) + "?" + q
		c, resp, err := d.DialContext(ctx, u, http.Header{})
		if err != nil {
			if resp != nil {
				err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
			}
			return DriveResult{}, fmt.Errorf("drive: connection %d of %d: %w", i+1, o.Conns, err)
		}
		conns = append(conns, c)
	}
	if o.Connected != nil {
		o.Connected()
	}

	var (
		res    = DriveResult{Conns: o.Conns}
		mu     sync.Mutex
		wg     sync.WaitGroup
		errs   = make([]error, len(conns))
		events atomic.Int64
		acks   atomic.Int64
		pings  atomic.Int64
		pongs  atomic.Int64
	)
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() { // one per connection, all joined below
			defer wg.Done()
			k := &driven{c: c, o: &o, events: &events, acks: &acks}
			var err error
			switch {
			case o.Events > 0:
				err = k.stream()
			case o.RTT > 0:
				var rtts []time.Duration
				rtts, err = k.roundTrips(i)
				mu.Lock()
				res.RTTs = append(res.RTTs, rtts...)
				mu.Unlock()
			default:
				err = k.idle(ctx, i, &pings, &pongs)
			}
			if err == nil {
				err = k.close()
			}
			if err != nil && ctx.Err() != nil {
				err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Events, res.Acks = events.Load(), acks.Load()
	res.Pings, res.Pongs = pings.Load(), pongs.Load()
	if res.Elapsed > 0 {
		res.EventsPerSec = float64(res.Events) / res.Elapsed.Seconds()
	}
	slices.Sort(res.RTTs)
	res.P50, res.P99 = percentile(res.RTTs, 50), percentile(res.RTTs, 99)
	for i, err := range errs {
		if err != nil {
			return res, fmt.Errorf("drive: connection %d of %d: %w", i+1, o.Conns, err)
		}
	}
	return res, nil
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// driven is one connection of a drive, run by one goroutine (the only
// reader and the only writer of c).
type driven struct {
	c      *websocket.Conn
	o      *DriveOptions
	events *atomic.Int64
	acks   *atomic.Int64
	buf    []byte
	n      int
	// idleReader, after idle, delivers the idle reader goroutine's final
	// read error.
	idleReader chan error
}

// read returns the next message and its envelope, and acks it if it is
// sequenced.
func (k *driven) read() (protocol.Envelope, error) {
	if k.n%256 == 0 {
		k.c.SetReadDeadline(time.Now().Add(k.o.IOTimeout))
	}
	k.n++
	_, p, err := k.c.ReadMessage()
	if err != nil {
		return protocol.Envelope{}, err
	}
	env, err := protocol.Parse(p)
	if err != nil {
		return env, fmt.Errorf("server sent a message that is not protocol JSON: %w", err)
	}
	if env.HasSeq {
		k.buf = appendAck(k.buf[:0], env.Seq)
		if err := k.write(k.buf); err != nil {
			return env, err
		}
		k.acks.Add(1)
	}
	return env, nil
}

func (k *driven) write(b []byte) error {
	k.c.SetWriteDeadline(time.Now().Add(k.o.IOTimeout))
	return k.c.WriteMessage(websocket.TextMessage, b)
}

func (k *driven) stream() error {
	var got int64
	for got < k.o.Events {
		env, err := k.read()
		if err != nil {
			return fmt.Errorf("after %d of %d events: %w", got, k.o.Events, err)
		}
		if string(env.Type) == EventType {
			got++
			k.events.Add(1)
			if env.EventSeq != got {
				return fmt.Errorf("event %d has event_seq %d", got, env.EventSeq)
			}
		}
	}
	return nil
}

// roundTrips syncs, as a client does on attaching (not timed), then times
// o.RTT requests one at a time.
func (k *driven) roundTrips(conn int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, k.o.RTT)
	req := appendSync(nil, fmt.Sprintf("rtt-%d-sync", conn+1))
	if _, err := k.ask(req, fmt.Sprintf("rtt-%d-sync", conn+1)); err != nil {
		return out, err
	}
	for i := range k.o.RTT {
		id := fmt.Sprintf("rtt-%d-%d", conn+1, i+1)
		req = appendRequest(req[:0], id)
		d, err := k.ask(req, id)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ask sends req and waits for the reply carrying request_id id.
func (k *driven) ask(req []byte, id string) (time.Duration, error) {
	t0 := time.Now()
	if err := k.write(req); err != nil {
		return 0, err
	}
	for {
		env, err := k.read()
		if err != nil {
			return 0, fmt.Errorf("waiting for the reply to %s: %w", id, err)
		}
		if string(env.RequestID) == id {
			return time.Since(t0), nil
		}
	}
}

// idle pings every o.Ping until o.For has passed, and reads pongs on a
// second goroutine; it waits for the last pong before returning.
func (k *driven) idle(ctx context.Context, conn int, pings, pongs *atomic.Int64) error {
	// Spread the connections' pings over the interval.
	phase := time.Duration(conn) * k.o.Ping / time.Duration(k.o.Conns)
	var got atomic.Int64
	readErr := make(chan error, 1)
	pong := make(chan struct{}, 1)
	go func() { // the reader, ended by the connection's close below
		for {
			k.c.SetReadDeadline(time.Now().Add(k.o.IOTimeout + k.o.Ping))
			_, p, err := k.c.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			if env, err := protocol.Parse(p); err == nil && string(env.Type) == "pong" {
				got.Add(1)
				pongs.Add(1)
				select {
				case pong <- struct{}{}:
				default:
				}
			}
		}
	}()
	end := time.Now().Add(k.o.For)
	timer := time.NewTimer(phase)
	defer timer.Stop()
	var sent int64
	for {
		select {
		case <-timer.C:
		case err := <-readErr:
			return fmt.Errorf("after %d pings: %w", sent, err)
		case <-ctx.Done():
			return ctx.Err()
		}
		if !time.Now().Before(end) {
			break
		}
		if err := k.write(pingMsg); err != nil {
			return err
		}
		sent++
		pings.Add(1)
		timer.Reset(k.o.Ping)
	}
	for got.Load() < sent {
		select {
		case <-pong:
		case err := <-readErr:
			return fmt.Errorf("%d pings, %d pongs: %w", sent, got.Load(), err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Hand the connection back to close(): stop the reader by closing.
	k.idleReader = readErr
	return nil
}

// close ends the connection with a normal close and waits for the
// server's close frame.
func (k *driven) close() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done")
	if err := k.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(k.o.IOTimeout)); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if k.idleReader != nil {
		// The idle reader is still reading: its read ends with the close.
		err := <-k.idleReader
		k.c.Close()
		if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			return nil
		}
		return fmt.Errorf("close: %w", err)
	}
	k.c.SetReadDeadline(time.Now().Add(k.o.IOTimeout))
	for {
		_, _, err := k.c.ReadMessage()
		if err != nil {
			k.c.Close()
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return nil
			}
			return fmt.Errorf("close: %w", err)
		}
	}
}
