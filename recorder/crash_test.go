package recorder

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// TestMain lets the test binary act as the writing process of
// TestKill9KeepsFlushedRecords.
func TestMain(m *testing.M) {
	if path := os.Getenv("RECORDER_CRASH_WRITER"); path != "" {
		crashWriter(path)
		return
	}
	os.Exit(m.Run())
}

// crashWriter writes records until killed, printing the index of each
// record once Write has returned.
func crashWriter(path string) {
	w, err := Create(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	w.Write(trace.NewHeader("test", "0", trace.SourceProxy, time.Now()))
	out := bufio.NewWriter(os.Stdout)
	for i := 1; ; i++ {
		if err := w.Write(frameRecord(i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Fprintln(out, i)
		out.Flush()
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // a steady trickle, like live traffic
		}
	}
}

// TestKill9KeepsFlushedRecords kills a writing process with SIGKILL and
// checks that every record handed to the writer more than one second
// before the kill can be read back.
func TestKill9KeepsFlushedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process for ~2.5 s")
	}
	path := filepath.Join(t.TempDir(), "crash.jsonl.zst")
	mustHave := killWriter(t, path)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d records: %v", n, err)
		}
		n++
		if rec.Line != int64(n+1) {
			t.Fatalf("record %d on line %d", n, rec.Line)
		}
	}
	t.Logf("%d read back; warnings %v", n, r.Warnings())
	if n < mustHave {
		t.Fatalf("read back %d records, want at least %d", n, mustHave)
	}
	if !r.Truncated() {
		t.Error("a killed writer's trace should be reported as cut")
	}
}

// killWriter runs crashWriter on path in a child process for 2.5 s, kills
// it with SIGKILL and returns the index of the last record whose Write
// had returned more than one second before the kill.
func killWriter(t *testing.T, path string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RECORDER_CRASH_WRITER="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		i  int
		at time.Time
	}
	acks := make(chan ack, 1<<16)
	go func() {
		defer close(acks)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			i, _ := strconv.Atoi(sc.Text())
			acks <- ack{i, time.Now()}
		}
	}()
	var seen []ack
	deadline := time.After(2500 * time.Millisecond)
collect:
	for {
		select {
		case a, ok := <-acks:
			if !ok {
				t.Fatal("writer exited early")
			}
			seen = append(seen, a)
		case <-deadline:
			break collect
		}
	}
	killedAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for range acks {
	}
	mustHave := 0
	for _, a := range seen {
		if killedAt.Sub(a.at) > time.Second {
			mustHave = a.i
		}
	}
	if mustHave == 0 {
		t.Fatal("the writer wrote nothing in its first 1.5 s")
	}
	t.Logf("handed %d records, %d older than 1 s at the kill", len(seen), mustHave)
	return mustHave
}
