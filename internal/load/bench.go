package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// The three paths a bench compares.
const (
	PathDirect = "direct" // client → server
	PathRelay  = "relay"  // client → plain TCP relay → server
	PathProxy  = "proxy"  // client → recording proxy → server
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// Proxy is the wsproxy binary; ProxyArgs are added to its flags
	// (-listen, -upstream and -out are set by the bench).
	Proxy     string
	ProxyArgs []string
	// Self is the wsload binary that runs the server and the relay
	// (default: this executable), with SelfEnv added to its environment.
	Self    string
	SelfEnv []string
	// Events per connection (default 60,000), of EventSize bytes (200).
	Events    int64
	EventSize int
	// Conns lists the connection counts to run (default 1 and 8).
	Conns []int
	// Rounds repeats everything; figures are medians (default 3).
	Rounds int
	// RTT is the number of request → reply round trips per path and round
	// on one connection (default 2,000; 0 after defaults means none).
	RTT int
	// Dir holds the proxy's traces (default: a temporary directory,
	// removed at the end).
	Dir string
	// Log, if set, gets a line per run as it finishes.
	Log io.Writer
}

// Run is one drive of one path.
type Run struct {
	Round int         `json:"round"`
	Path  string      `json:"path"`
	Mode  string      `json:"mode"` // "stream" or "rtt"
	Drive DriveResult `json:"drive"`
	// For the proxy: its memory (VmHWM at the end, the highest VmRSS
	// sampled every 50 ms), the stream_delta records and all records in
	// its trace, and what its summary said.
	PeakRSS      int64       `json:"proxy_vmhwm,omitempty"`
	MaxRSS       int64       `json:"proxy_max_rss,omitempty"`
	RSS          []rssSample `json:"proxy_rss,omitempty"` // VmRSS every 50 ms
	EventRecords int64       `json:"event_records,omitempty"`
	Records      int64       `json:"records,omitempty"`
	Trace        string      `json:"trace,omitempty"`
	Checker      string      `json:"checker,omitempty"`
	Dropped      string      `json:"dropped,omitempty"`
}

// BenchResult is a bench's runs and their medians.
type BenchResult struct {
	Events    int64  `json:"events_per_conn"`
	EventSize int    `json:"event_size"`
	Rounds    int    `json:"rounds"`
	Runs      []Run  `json:"runs"`
	Rows      []Row  `json:"throughput"`
	RTT       []Row  `json:"rtt,omitempty"`
	CountsOK  bool   `json:"counts_ok"`
	Counts    string `json:"counts"`
}

// Row is the median of one path at one connection count.
type Row struct {
	Path         string  `json:"path"`
	Conns        int     `json:"conns"`
	EventsPerSec float64 `json:"events_per_sec,omitempty"`
	// ToRelay is this path's figure over the relay's (throughput; RTT p50).
	ToRelay float64       `json:"to_relay,omitempty"`
	P50     time.Duration `json:"rtt_p50,omitempty"`
	P99     time.Duration `json:"rtt_p99,omitempty"`
	PeakRSS int64         `json:"proxy_peak_rss,omitempty"` // highest VmHWM over the rounds
}

var (
	loadListening  = regexp.MustCompile(`listening on ws://(\S+)`)
	proxyListening = regexp.MustCompile(`listening on wss?://(\S+)`)
	checkerLine    = regexp.MustCompile(`checker: (no findings|\d+ errors, \d+ warnings)`)
	droppedLine    = regexp.MustCompile(`(\d+) records were dropped`)
)

func (o *BenchOptions) defaults() error {
	if o.Proxy == "" {
		return errors.New("bench: -proxy: the wsproxy binary to measure is required")
	}
	if o.Self == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: this executable: %w", err)
		}
		o.Self = self
	}
	if o.Events <= 0 {
		o.Events = 60000
	}
	if o.EventSize <= 0 {
		o.EventSize = 200
	}
	if len(o.Conns) == 0 {
		o.Conns = []int{1, 8}
	}
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Rounds > 50 || o.Events > 10_000_000 || slices.Max(o.Conns) > 1000 || o.RTT > 1_000_000 {
		return errors.New("bench: over the bounds (rounds 50, events 10M, conns 1000, rtt 1M)")
	}
	return nil
}

// upstreams are the server and relay processes of a bench.
type upstreams struct {
	server, relay *child
}

func startUpstreams(self string, env []string, eventSize int, withRelay bool) (*upstreams, error) {
	srv, err := startChild("wsload server", self, []string{"server", "-listen", "127.0.0.1:0", "-size", strconv.Itoa(eventSize)}, env, loadListening, 20*time.Second)
	if err != nil {
		return nil, err
	}
	u := &upstreams{server: srv}
	if withRelay {
		rel, err := startChild("wsload relay", self, []string{"relay", "-listen", "127.0.0.1:0", "-to", srv.addr}, env, loadListening, 20*time.Second)
		if err != nil {
			u.stop()
			return nil, err
		}
		u.relay = rel
	}
	return u, nil
}

func (u *upstreams) stop() error {
	var errs []error
	if u.relay != nil {
		errs = append(errs, u.relay.stop(syscall.SIGTERM, 10*time.Second))
	}
	errs = append(errs, u.server.stop(syscall.SIGTERM, 10*time.Second))
	return errors.Join(errs...)
}

// proxyRun is one proxy process and its trace.
type proxyRun struct {
	c     *child
	trace string
}

func startProxy(o *BenchOptions, upstream, trace string) (*proxyRun, error) {
	args := append([]string{"-listen", "127.0.0.1:0", "-upstream", "ws://" + upstream, "-out", trace}, o.ProxyArgs...)
	c, err := startChild("wsproxy", o.Proxy, args, nil, proxyListening, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return &proxyRun{c: c, trace: trace}, nil
}

// finish stops the proxy with SIGINT (it closes its connections and
// flushes its trace) and fills in r from its memory, output and trace.
func (p *proxyRun) finish(r *Run) error {
	if m, err := readRSS(p.c.pid()); err == nil {
		r.PeakRSS = m.HWM
	}
	if err := p.c.stop(syscall.SIGINT, 60*time.Second); err != nil {
		return err
	}
	out := p.c.output()
	if m := checkerLine.FindStringSubmatch(out); m != nil {
		r.Checker = m[1]
	}
	if m := droppedLine.FindStringSubmatch(out); m != nil {
		r.Dropped = m[1]
	}
	r.Trace = p.trace
	ev, all, err := countRecords(p.trace)
	r.EventRecords, r.Records = ev, all
	return err
}

// countRecords counts the stream_delta frames from the server in a trace
// (all its parts) and all its records.
func countRecords(path string) (events, all int64, err error) {
	for part := 1; ; part++ {
		p := recorder.PartPath(path, part)
		if part > 1 {
			if _, err := os.Stat(p); err != nil {
				return events, all, nil
			}
		}
		r, err := recorder.Open(p)
		if err != nil {
			return events, all, err
		}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				return events, all, err
			}
			all++
			if rec.Kind == trace.KindFrame && rec.From == trace.Server && rec.Op == trace.OpText {
				if env, err := protocol.Parse(rec.Payload); err == nil && string(env.Type) == EventType {
					events++
				}
			}
		}
		for _, w := range r.Warnings() {
			err = fmt.Errorf("trace %s: %s", p, w)
		}
		r.Close()
		if err != nil {
			return events, all, err
		}
	}
}

// Bench runs direct, relay and proxy side by side: for each round and
// connection count the three paths stream o.Events events per connection
// in turn, then each path times o.RTT round trips; a fresh proxy process
// serves each proxied run, its RSS sampled and its trace counted.
func Bench(ctx context.Context, o BenchOptions) (*BenchResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "wsload-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	up, err := startUpstreams(o.Self, o.SelfEnv, o.EventSize, true)
	if err != nil {
		return nil, err
	}
	defer up.stop()
	res := &BenchResult{Events: o.Events, EventSize: o.EventSize, Rounds: o.Rounds}
	addrs := map[string]string{PathDirect: up.server.addr, PathRelay: up.relay.addr}
	run := func(round int, path, mode string, d DriveOptions) error {
		r := Run{Round: round, Path: path, Mode: mode}
		var p *proxyRun
		var s *sampler
		addr := addrs[path]
		if path == PathProxy {
			var err error
			name := fmt.Sprintf("proxy-r%d-%s-c%d.jsonl.zst", round, mode, d.Conns)
			if p, err = startProxy(&o, up.server.addr, filepath.Join(o.Dir, name)); err != nil {
				return err
			}
			addr = p.c.addr
			s = sampleRSS(p.c.pid(), 50*time.Millisecond)
		}
		d.URL = "ws://" + addr
		var err error
		r.Drive, err = Drive(ctx, d)
		if p != nil {
			r.RSS = s.stop()
			r.MaxRSS = maxRSS(r.RSS)
			if ferr := p.finish(&r); err == nil {
				err = ferr
			}
		}
		if err != nil {
			for _, c := range []*child{up.server, up.relay} {
				if e := c.exited(); e != "" {
					err = fmt.Errorf("%w; %s", err, e)
				}
			}
			return fmt.Errorf("round %d, %s, %d conns (%s): %w", round, path, d.Conns, mode, err)
		}
		res.Runs = append(res.Runs, r)
		if o.Log != nil {
			fmt.Fprintln(o.Log, r.line())
		}
		return nil
	}
	for round := 1; round <= o.Rounds; round++ {
		for _, n := range o.Conns {
			for _, path := range []string{PathDirect, PathRelay, PathProxy} {
				if err := run(round, path, "stream", DriveOptions{Conns: n, Events: o.Events}); err != nil {
					return res, err
				}
			}
		}
		if o.RTT > 0 {
			for _, path := range []string{PathDirect, PathRelay, PathProxy} {
				if err := run(round, path, "rtt", DriveOptions{Conns: 1, RTT: o.RTT}); err != nil {
					return res, err
				}
			}
		}
	}
	res.summarize(o.Conns)
	return res, up.stop()
}

func (r *Run) line() string {
	s := fmt.Sprintf("round %d  %-6s %-6s conns %-3d", r.Round, r.Path, r.Mode, r.Drive.Conns)
	if r.Mode == "rtt" {
		s += fmt.Sprintf("  p50 %v  p99 %v", r.Drive.P50, r.Drive.P99)
	} else {
		s += fmt.Sprintf("  %9.0f events/s  %d events", r.Drive.EventsPerSec, r.Drive.Events)
	}
	if r.Path == PathProxy {
		s += fmt.Sprintf("  peak RSS %s  trace: %d events of %d records", mib(r.PeakRSS), r.EventRecords, r.Records)
	}
	return s
}

func (res *BenchResult) summarize(conns []int) {
	res.CountsOK = true
	var received, recorded int64
	for _, r := range res.Runs {
		if r.Path == PathProxy && r.Mode == "stream" {
			received += r.Drive.Events
			recorded += r.EventRecords
			if r.Drive.Events != r.EventRecords || r.Dropped != "" {
				res.CountsOK = false
			}
		}
		if r.Mode == "stream" && r.Drive.Events != int64(r.Drive.Conns)*res.Events {
			res.CountsOK = false
		}
	}
	res.Counts = fmt.Sprintf("proxied runs: %d events received by the clients, %d stream_delta records in the traces", received, recorded)
	for _, n := range conns {
		var relay float64
		for _, path := range []string{PathDirect, PathRelay, PathProxy} {
			var rates []float64
			var peak int64
			for _, r := range res.Runs {
				if r.Mode == "stream" && r.Path == path && r.Drive.Conns == n {
					rates = append(rates, r.Drive.EventsPerSec)
					peak = max(peak, r.PeakRSS)
				}
			}
			row := Row{Path: path, Conns: n, EventsPerSec: medianF(rates), PeakRSS: peak}
			if path == PathRelay {
				relay = row.EventsPerSec
			}
			if relay > 0 && path != PathDirect {
				row.ToRelay = row.EventsPerSec / relay
			}
			res.Rows = append(res.Rows, row)
		}
	}
	var relayP50 time.Duration
	for _, path := range []string{PathDirect, PathRelay, PathProxy} {
		var p50, p99 []float64
		for _, r := range res.Runs {
			if r.Mode == "rtt" && r.Path == path {
				p50 = append(p50, float64(r.Drive.P50))
				p99 = append(p99, float64(r.Drive.P99))
			}
		}
		if len(p50) == 0 {
			continue
		}
		row := Row{Path: path, Conns: 1, P50: time.Duration(medianF(p50)), P99: time.Duration(medianF(p99))}
		if path == PathRelay {
			relayP50 = row.P50
		}
		if relayP50 > 0 && path != PathDirect {
			row.ToRelay = float64(row.P50) / float64(relayP50)
		}
		res.RTT = append(res.RTT, row)
	}
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteText writes the bench's table.
func (res *BenchResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "wsload bench: %d-byte events, %d per connection, every one acked; medians of %d rounds\n\n", res.EventSize, res.Events, res.Rounds)
	fmt.Fprintf(w, "%-7s %5s %14s %9s %14s\n", "path", "conns", "acked events/s", "/relay", "proxy peak RSS")
	for _, r := range res.Rows {
		ratio, peak := "", ""
		if r.ToRelay > 0 {
			ratio = fmt.Sprintf("%.2f", r.ToRelay)
		}
		if r.Path == PathProxy {
			peak = mib(r.PeakRSS)
		}
		fmt.Fprintf(w, "%-7s %5d %14.0f %9s %14s\n", r.Path, r.Conns, r.EventsPerSec, ratio, peak)
	}
	if len(res.RTT) > 0 {
		fmt.Fprintf(w, "\nrequest → reply round trips, 1 connection:\n")
		fmt.Fprintf(w, "%-7s %10s %10s %9s\n", "path", "p50", "p99", "p50/relay")
		for _, r := range res.RTT {
			ratio := ""
			if r.ToRelay > 0 {
				ratio = fmt.Sprintf("%.2f", r.ToRelay)
			}
			fmt.Fprintf(w, "%-7s %10v %10v %9s\n", r.Path, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), ratio)
		}
	}
	verdict := "every event received is a record in the trace"
	if !res.CountsOK {
		verdict = "MISMATCH: events and records differ (or records were dropped)"
	}
	fmt.Fprintf(w, "\nrecords: %s: %s\n", res.Counts, verdict)
	for _, r := range res.Runs {
		if r.Path == PathProxy && r.Checker != "" && r.Checker != "no findings" {
			fmt.Fprintf(w, "checker (round %d, %s, %d conns): %s\n", r.Round, r.Mode, r.Drive.Conns, r.Checker)
		}
	}
}
