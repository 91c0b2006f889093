package view

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// ReadResult is what reading a trace gave besides its records.
type ReadResult struct {
	// Warnings say where a cut trace ends; BadLines are the lines that
	// were not records (skipped).
	Warnings []string
	BadLines []string
}

// ErrStop, returned by a Read callback, ends reading without an error.
var ErrStop = errors.New("stop reading")

// Read calls fn with every record of the trace at path (the header
// included), in order. Bad lines are skipped and listed; an error from fn
// other than ErrStop ends reading and is returned.
func Read(path string, fn func(*trace.Record) error) (ReadResult, error) {
	var res ReadResult
	rd, err := recorder.Open(path)
	if err != nil {
		return res, err
	}
	defer rd.Close()
	if h := rd.Header(); h != nil {
		if err := fn(&trace.Record{Kind: trace.KindHeader, T: h.Created, Header: h, Line: 1}); err != nil {
			return res, stopped(err)
		}
	}
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var le *recorder.LineError
		if errors.As(err, &le) {
			res.BadLines = append(res.BadLines, le.Error())
			continue
		}
		if err != nil {
			return res, err
		}
		if err := fn(r); err != nil {
			res.Warnings = warnings(rd)
			return res, stopped(err)
		}
	}
	res.Warnings = warnings(rd)
	return res, nil
}

func stopped(err error) error {
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

func warnings(rd *recorder.Reader) []string {
	var out []string
	for _, w := range rd.Warnings() {
		out = append(out, w.String())
	}
	return out
}

// SplitLine splits "TRACE:LINE" into the trace and the line; an argument
// without a line (or naming an existing file as a whole) gives line 0.
func SplitLine(arg string) (string, int64, error) {
	i := strings.LastIndexByte(arg, ':')
	if i < 0 {
		return arg, 0, nil
	}
	if _, err := os.Stat(arg); err == nil {
		return arg, 0, nil
	}
	n, err := strconv.ParseInt(arg[i+1:], 10, 64)
	if err != nil || n <= 0 {
		return "", 0, fmt.Errorf("%q: want TRACE or TRACE:LINE with LINE a positive number", arg)
	}
	return arg[:i], n, nil
}
