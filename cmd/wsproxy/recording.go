package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// recording is the trace file (or files) of a run and the sinks fed
// beside it.
type recording struct {
	rot *recorder.Rotator
}

// newRecording creates the trace file path (planned by cli.PlanOut).
func newRecording(path string, rotate int64, keepSecrets bool, source string, stderr io.Writer) (*recording, error) {
	hdr := trace.NewHeader("wsproxy", version, source, time.Now()).Header
	if keepSecrets {
		hdr.Secrets = "kept"
	}
	wopts := recorder.Options{OnError: func(err error) {
		fmt.Fprintf(stderr, "wsproxy: RECORDING FAILED, relaying goes on without it: %v\n", err)
	}}
	if strings.HasSuffix(path, ".jsonl") {
		wopts.Compression = recorder.Plain
	}
	rot, err := recorder.NewRotator(recorder.RotatorOptions{Path: path, MaxSize: rotate, Header: *hdr, Writer: wopts})
	if err != nil {
		return nil, err
	}
	return &recording{rot: rot}, nil
}

// sink writes each record to the trace first (which numbers its line),
// then to the checker and the console.
func (r *recording) sink(checker *analysis.Engine, console trace.Sink) trace.Sink {
	file := ""
	return trace.SinkFunc(func(rec *trace.Record) error {
		err := r.rot.Write(rec)
		if checker != nil {
			if cur := r.rot.Current(); cur != file {
				file = cur
				checker.SetFile(file)
			}
			checker.Write(rec)
		}
		if console != nil {
			console.Write(rec)
		}
		return err
	})
}

func (r *recording) current() string { return r.rot.Current() }

func (r *recording) close() error { return r.rot.Close() }

// summary prints where the trace is, what the checker found, and what to
// do next.
func (r *recording) summary(w io.Writer, checker *analysis.Engine, dropped int64) {
	files := r.rot.Files()
	fmt.Fprintf(w, "\ntrace: %s\n", strings.Join(files, ", "))
	if dropped > 0 {
		fmt.Fprintf(w, "  WARNING: %d records were dropped because recording fell behind\n", dropped)
	}
	if checker != nil {
		counts := checker.Counts()
		if len(counts) == 0 {
			fmt.Fprintln(w, "checker: no findings")
		} else {
			rules := make([]string, 0, len(counts))
			for k := range counts {
				rules = append(rules, k)
			}
			sort.Strings(rules)
			fmt.Fprintf(w, "checker: %d errors, %d warnings\n", checker.Errors(), checker.Warnings())
			for _, k := range rules {
				fmt.Fprintf(w, "  %-28s %d\n", k, counts[k])
			}
		}
	}
	f := files[0]
	self := commandName()
	fmt.Fprintf(w, "\nnext:\n")
	fmt.Fprintf(w, "  %s check %s    (check it again, offline)\n", self, f)
	fmt.Fprintf(w, "  %s stats %s    (counts, latencies, findings)\n", self, f)
	fmt.Fprintf(w, "  %s cat %s    (every record, one line each; show %s:LINE for one in full)\n", self, f, f)
	fmt.Fprintf(w, "  %s replay %s    (serve it back to a client)\n", self, f)
}

// commandName returns how the user can run this program: the installed
// name, or the "go run" form when running under go run.
func commandName() string {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./cmd/wsproxy"
	}
	return "wsproxy"
}
