package analysis

import (
	"errors"
	"fmt"
	"io"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// TraceSuffixes are the file name endings a directory argument is
// searched for (recorder.TraceSuffixes).
var TraceSuffixes = recorder.TraceSuffixes

// IsTraceName reports whether name ends with one of TraceSuffixes.
func IsTraceName(name string) bool { return recorder.IsTraceName(name) }

// Report is the result of checking trace files.
type Report struct {
	// Files lists every input file in order, with what reading it gave.
	Files []FileReport
	// Findings are the collected findings, in the order they were found.
	Findings []Finding
	// Counts is the number of findings per rule; Errors and Warnings per
	// severity. Dropped counts findings beyond Config.MaxCollected.
	Counts                  map[string]int
	Errors, Warnings, Notes int
	Dropped                 int
	Records, Frames         int64
	// Expected counts findings explained by injected faults; FaultReports
	// are those faults with the client's reactions (see injected.go).
	Expected     int
	FaultReports []FaultReport
}

// Cut returns the files that were cut (checked up to the cut).
func (r *Report) Cut() []FileReport {
	var out []FileReport
	for _, f := range r.Files {
		if f.Truncated {
			out = append(out, f)
		}
	}
	return out
}

// FileReport is what reading one file gave.
type FileReport struct {
	Name string
	// Part is the header's part number (0 when unnumbered); Stream
	// numbers the streams the files form (rotated parts of one run share
	// one).
	Part, Stream int
	Records      int64
	// Truncated is set when the file was cut (checked up to the cut);
	// CutAt is the byte of the decompressed stream where the cut record
	// starts, and Warnings says more.
	Truncated bool
	CutAt     int64
	Warnings  []string
	// BadLines are skipped lines, as "file line N: error".
	BadLines []string
	// Err is a read error: the file could not be opened, is not a trace,
	// or could not be read to its end.
	Err error
}

// ReadErrors returns the files' read errors.
func (r *Report) ReadErrors() []error {
	var out []error
	for _, f := range r.Files {
		if f.Err != nil {
			out = append(out, f.Err)
		}
	}
	return out
}

// ExpandPaths replaces each directory of paths by its trace files, sorted
// by name (recorder.ExpandPaths).
func ExpandPaths(paths []string) ([]string, []error) { return recorder.ExpandPaths(paths) }

// batchSize is the number of records the reading goroutine hands over at
// once.
const batchSize = 512

// batch is a piece of one file handed from the reader to the checker.
type batch struct {
	file   int
	start  bool          // first batch of the file
	header *trace.Header // set with start when the file opened
	recs   []*trace.Record
	bad    []string
	end    bool // last batch of the file
	warns  []recorder.Warning
	err    error
}

// CheckFiles checks trace files in order, each with a fresh stream except
// that consecutive rotated parts (header part = previous part + 1) form
// one stream. Files are read on a second goroutine, in batches, while the
// engine checks. cfg.Collect is forced on.
func CheckFiles(paths []string, cfg Config) *Report {
	cfg.Collect = true
	e := New(cfg)
	rep := &Report{Files: make([]FileReport, len(paths))}
	for i, p := range paths {
		rep.Files[i].Name = p
	}
	ch := make(chan *batch, 8)
	free := make(chan []*trace.Record, 16)
	go readFiles(paths, ch, free)

	stream, prevPart, open := -1, -1, false
	cut := "" // the stream's last file was cut there
	finish := func() {
		if cut != "" {
			e.Cut(cut)
		}
		e.Finish(timeZero)
		cut = ""
	}
	for b := range ch {
		fr := &rep.Files[b.file]
		if b.start {
			if b.header == nil {
				fr.Err = b.err
				prevPart = -1
				continue
			}
			part := b.header.Part
			fr.Part = part
			if !(open && prevPart >= 1 && part == prevPart+1) {
				if open {
					finish()
				}
				stream++
				open = true
			}
			fr.Stream = stream
			prevPart = part
			cut = ""
			e.SetFile(fr.Name)
		}
		for _, r := range b.recs {
			e.Write(r)
		}
		fr.Records += int64(len(b.recs))
		if b.recs != nil {
			clear(b.recs)
			select {
			case free <- b.recs[:0]:
			default:
			}
		}
		fr.BadLines = append(fr.BadLines, b.bad...)
		if b.end {
			for _, w := range b.warns {
				fr.Warnings = append(fr.Warnings, w.String())
			}
			fr.Truncated = len(b.warns) > 0
			if fr.Truncated {
				fr.CutAt = b.warns[0].Offset
				cut = fmt.Sprintf("%s is cut at byte %d", fr.Name, fr.CutAt)
			}
			if b.err != nil {
				fr.Err = b.err
				prevPart = -1
			} else if fr.Records == 0 && len(fr.BadLines) > 0 {
				fr.Err = fmt.Errorf("%s: no valid record after the header: all %d line(s) were skipped (first: %s)",
					fr.Name, len(fr.BadLines), fr.BadLines[0])
				prevPart = -1
			}
		}
	}
	if open {
		finish()
	}
	rep.Findings = e.Findings()
	rep.Counts = e.Counts()
	rep.Errors, rep.Warnings, rep.Notes = e.Errors(), e.Warnings(), e.Notes()
	rep.Expected, rep.FaultReports = e.Expected(), e.FaultReports()
	st := e.Stats()
	rep.Dropped, rep.Records, rep.Frames = st.Dropped, st.Records, st.Frames
	return rep
}

// readFiles reads every file in turn and sends its records in batches.
func readFiles(paths []string, ch chan<- *batch, free chan []*trace.Record) {
	defer close(ch)
	for i, p := range paths {
		r, err := recorder.Open(p)
		if err != nil {
			ch <- &batch{file: i, start: true, err: err}
			continue
		}
		b := &batch{file: i, start: true, header: r.Header()}
		get := func() []*trace.Record {
			select {
			case s := <-free:
				return s
			default:
				return make([]*trace.Record, 0, batchSize)
			}
		}
		b.recs = get()
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				var le *recorder.LineError
				if errors.As(err, &le) {
					b.bad = append(b.bad, le.Error())
					continue
				}
				b.err = err
				break
			}
			b.recs = append(b.recs, rec)
			if len(b.recs) == batchSize {
				ch <- b
				b = &batch{file: i, recs: get()}
			}
		}
		b.end, b.warns = true, r.Warnings()
		r.Close()
		ch <- b
	}
}
