package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process the bench started: a server, a relay or the proxy.
type child struct {
	name string
	cmd  *exec.Cmd
	addr string // the address it printed
	done chan struct{}
	err  error // Wait's result, once done
	mu   sync.Mutex
	out  bytes.Buffer // the last of its output, for error messages
}

// startChild starts path with args and waits (up to timeout) for a line
// of its standard output that matches listening, whose first group is
// the address it listens on. Its output is drained for as long as it
// runs. The process is killed if this process dies (Pdeathsig).
func startChild(name, path string, args, env []string, listening *regexp.Regexp, timeout time.Duration) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = (*childLog)(c)
	addr := make(chan string, 1)
	started := make(chan error, 1)
	go func() { // starts the child, drains its stdout, waits for it
		// Pdeathsig fires when the thread that started the child exits:
		// this goroutine keeps its thread until the child is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start %s (%s): %w", name, path, err)
			return
		}
		started <- nil
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			(*childLog)(c).Write([]byte(line + "\n"))
			if !found {
				if m := listening.FindStringSubmatch(line); m != nil {
					found = true
					addr <- m[1]
				}
			}
		}
		io.Copy(io.Discard, stdout)
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case a := <-addr:
		c.addr = a
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s exited before listening (%v): %s", name, c.err, c.output())
	case <-timer.C:
		c.kill()
		return nil, fmt.Errorf("%s printed no address matching %q within %v: %s", name, listening, timeout, c.output())
	}
}

// childLog keeps the last 8 KiB of a child's output.
type childLog child

func (l *childLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out.Write(p)
	if l.out.Len() > 16<<10 {
		b := l.out.Bytes()
		keep := append([]byte(nil), b[len(b)-8<<10:]...)
		l.out.Reset()
		l.out.Write(keep)
	}
	return len(p), nil
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(c.out.String())
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop asks the child to end with sig and waits up to grace, then kills
// it. It returns an error if the child had to be killed or failed.
func (c *child) stop(sig os.Signal, grace time.Duration) error {
	c.cmd.Process.Signal(sig)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		c.kill()
		return fmt.Errorf("%s did not exit within %v of %v: killed", c.name, grace, sig)
	}
	var ee *exec.ExitError
	if c.err != nil && !(errors.As(c.err, &ee) && !ee.Exited()) {
		return fmt.Errorf("%s: %v: %s", c.name, c.err, c.output())
	}
	return nil
}

// exited describes the child if it has already ended, "" if it runs.
func (c *child) exited() string {
	select {
	case <-c.done:
		return fmt.Sprintf("%s had exited (%v): %s", c.name, c.err, c.output())
	default:
		return ""
	}
}

func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

// rss is a process's memory as /proc/PID/status says.
type rss struct {
	RSS, HWM int64 // VmRSS and VmHWM, bytes
}

// readRSS reads VmRSS and VmHWM of pid.
func readRSS(pid int) (rss, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}, err
	}
	var r rss
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return r, fmt.Errorf("/proc/%d/status: %s: unexpected %q", pid, name, val)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return r, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			r.RSS = n << 10
		} else {
			r.HWM = n << 10
		}
	}
	return r, nil
}

// sampler samples a process's RSS every interval on its own goroutine
// until stopped.
type sampler struct {
	pid     int
	mu      sync.Mutex
	samples []rssSample
	cancel  context.CancelFunc
	done    chan struct{}
}

type rssSample struct {
	At  time.Duration `json:"at"`
	RSS int64         `json:"rss"`
}

func sampleRSS(pid int, every time.Duration) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sampler{pid: pid, cancel: cancel, done: make(chan struct{})}
	start := time.Now()
	go func() { // stopped by s.stop
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if r, err := readRSS(pid); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, rssSample{time.Since(start), r.RSS})
				s.mu.Unlock()
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the samples.
func (s *sampler) stop() []rssSample {
	s.cancel()
	<-s.done
	return s.snapshot()
}

func (s *sampler) snapshot() []rssSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rssSample(nil), s.samples...)
}

func maxRSS(ss []rssSample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.RSS)
	}
	return m
}
