package recorder

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/trace"
)

// FuzzReader feeds the reader arbitrary files (zstd frames, marks, cut
// and damaged ones, plain and gzip): it must return records or errors,
// never panic, and end.
func FuzzReader(f *testing.F) {
	for _, opts := range []Options{{}, {Compression: Plain}} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, "seed", opts)
		if err != nil {
			f.Fatal(err)
		}
		w.Write(trace.NewHeader("fuzz", "0", trace.SourceProxy, time.Unix(0, 0)))
		for i := 1; i <= 5; i++ {
			w.Write(frameRecord(i))
			w.Flush()
		}
		w.Close()
		data := buf.Bytes()
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(data[:len(data)-len(endMark)])
	}
	f.Add(append(appendLiteralFrame(nil, []byte("{\"kind\":\"header\"}\n")), startMark...))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 10000; i++ {
			_, err := r.Next()
			var le *LineError
			if err == io.EOF || (err != nil && !errors.As(err, &le)) {
				return
			}
		}
	})
}
