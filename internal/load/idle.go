package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// IdleOptions configure BenchIdle.
type IdleOptions struct {
	// Proxy, ProxyArgs, Self and SelfEnv are as in BenchOptions.
	Proxy     string
	ProxyArgs []string
	Self      string
	SelfEnv   []string
	// Conns connections (default 1,000) each ping every Ping (default 1s)
	// for For (default 60s); RSS is then sampled for After more (default
	// 60s) once they have all closed. Every is the sampling interval
	// (default 1s).
	Conns int
	Ping  time.Duration
	For   time.Duration
	After time.Duration
	Every time.Duration
	// Dir holds the proxy's trace (default: a temporary directory).
	Dir string
	// Log, if set, gets a line per sample.
	Log io.Writer
}

// IdleResult is what BenchIdle measured of the proxy's memory.
type IdleResult struct {
	Conns    int   `json:"conns"`
	Pings    int64 `json:"pings"`
	Pongs    int64 `json:"pongs"`
	Baseline int64 `json:"baseline_rss"` // before any connection
	// Samples are the proxy's RSS from the first connection on; Connected
	// and Closed are when all were open and when all had closed.
	Samples   []rssSample   `json:"samples"`
	Connected time.Duration `json:"connected_at"`
	Closed    time.Duration `json:"closed_at"`
	// PerConn is (RSS - Baseline) / Conns at the start, middle and end of
	// the pinging, in bytes.
	PerConn [3]int64 `json:"per_conn_rss"`
	// AfterClose is the RSS at the end of the After period, and its ratio
	// to Baseline.
	AfterClose int64   `json:"after_close_rss"`
	AfterRatio float64 `json:"after_close_to_baseline"`
	Records    int64   `json:"records"`
}

// BenchIdle starts the server and the proxy, opens o.Conns idle
// connections through the proxy that each ping every o.Ping for o.For,
// closes them, and follows the proxy's RSS throughout and for o.After
// afterwards.
func BenchIdle(ctx context.Context, o IdleOptions) (*IdleResult, error) {
	if o.Proxy == "" {
		return nil, errors.New("bench -idle: -proxy: the wsproxy binary to measure is required")
	}
	if o.Self == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Self = self
	}
	if o.Conns <= 0 {
		o.Conns = 1000
	}
	if o.Ping <= 0 {
		o.Ping = time.Second
	}
	if o.For <= 0 {
		o.For = 60 * time.Second
	}
	if o.After < 0 || o.After > time.Hour || o.For > time.Hour || o.Conns > 5000 {
		return nil, errors.New("bench -idle: over the bounds (conns 5000, for and after 1h)")
	}
	if o.After == 0 {
		o.After = 60 * time.Second
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "wsload-idle-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	up, err := startUpstreams(o.Self, o.SelfEnv, 200, false)
	if err != nil {
		return nil, err
	}
	defer up.stop()
	bo := BenchOptions{Proxy: o.Proxy, ProxyArgs: o.ProxyArgs}
	p, err := startProxy(&bo, up.server.addr, filepath.Join(o.Dir, "proxy-idle.jsonl.zst"))
	if err != nil {
		return nil, err
	}
	res := &IdleResult{Conns: o.Conns}
	base, err := readRSS(p.c.pid())
	if err != nil {
		p.c.kill()
		return nil, err
	}
	res.Baseline = base.RSS
	start := time.Now()
	s := sampleRSS(p.c.pid(), o.Every)
	var connected atomic.Int64
	logDone := make(chan struct{})
	logCtx, stopLog := context.WithCancel(ctx)
	go func() { // progress lines; stopped by stopLog
		defer close(logDone)
		if o.Log == nil {
			return
		}
		t := time.NewTicker(10 * o.Every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				ss := s.snapshot()
				if len(ss) > 0 {
					last := ss[len(ss)-1]
					fmt.Fprintf(o.Log, "%6.0fs  proxy RSS %s\n", last.At.Seconds(), mib(last.RSS))
				}
			case <-logCtx.Done():
				return
			}
		}
	}()
	d, derr := Drive(ctx, DriveOptions{
		URL: "ws://" + p.c.addr, Conns: o.Conns, Idle: true, Ping: o.Ping, For: o.For,
		Connected: func() { connected.Store(int64(time.Since(start))) },
	})
	res.Closed = time.Since(start)
	res.Connected = time.Duration(connected.Load())
	res.Pings, res.Pongs = d.Pings, d.Pongs
	if derr == nil {
		// Follow the memory after the close; this is the measurement, not
		// a synchronisation.
		select {
		case <-time.After(o.After):
		case <-ctx.Done():
			derr = ctx.Err()
		}
	}
	stopLog()
	<-logDone
	res.Samples = s.stop()
	var r Run
	if err := p.finish(&r); derr == nil {
		derr = err
	}
	res.Records = r.Records
	if derr != nil {
		return res, derr
	}
	res.summarize()
	return res, up.stop()
}

func (res *IdleResult) summarize() {
	at := func(t time.Duration) int64 {
		var v int64
		for _, s := range res.Samples {
			if s.At <= t {
				v = s.RSS
			}
		}
		return v
	}
	// The first sample once all were open (samples come every Every: the
	// last one before may predate the connections).
	after := func(t time.Duration) int64 {
		for _, s := range res.Samples {
			if s.At >= t {
				return s.RSS
			}
		}
		return at(t)
	}
	per := func(rss int64) int64 { return (rss - res.Baseline) / int64(res.Conns) }
	mid := res.Connected + (res.Closed-res.Connected)/2
	res.PerConn = [3]int64{per(after(res.Connected)), per(at(mid)), per(at(res.Closed))}
	if n := len(res.Samples); n > 0 {
		res.AfterClose = res.Samples[n-1].RSS
		if res.Baseline > 0 {
			res.AfterRatio = float64(res.AfterClose) / float64(res.Baseline)
		}
	}
}

// WriteText writes the idle bench's figures.
func (res *IdleResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "wsload bench -idle: %d connections through the proxy, each pinging; %d pings, %d pongs\n", res.Conns, res.Pings, res.Pongs)
	fmt.Fprintf(w, "proxy RSS before any connection: %s\n", mib(res.Baseline))
	fmt.Fprintf(w, "RSS per connection (RSS - baseline) / conns: %.1f KiB once all were open (%.1fs), %.1f KiB midway, %.1f KiB at the end (%.1fs)\n",
		float64(res.PerConn[0])/1024, res.Connected.Seconds(), float64(res.PerConn[1])/1024, float64(res.PerConn[2])/1024, res.Closed.Seconds())
	if n := len(res.Samples); n > 0 {
		last := res.Samples[n-1]
		fmt.Fprintf(w, "after all closed: %s at %.1fs (%.1fs after the close), %.2fx the baseline\n",
			mib(res.AfterClose), last.At.Seconds(), (last.At - res.Closed).Seconds(), res.AfterRatio)
	}
	fmt.Fprintf(w, "trace: %d records\n", res.Records)
}
