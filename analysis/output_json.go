package analysis

import (
	"encoding/json"
	"io"
)

// JSONReport is the document WriteJSON writes.
type JSONReport struct {
	// Summary counts findings per rule, every rule listed.
	Summary  map[string]int `json:"summary"`
	Errors   int            `json:"errors"`
	Warnings int            `json:"warnings"`
	// Notes counts undetermined notes: what the trace could not show.
	Notes  int   `json:"notes"`
	Frames int64 `json:"frames"`
	// CutFiles and ReadErrors count the files cut (checked up to the cut)
	// and the files that could not be read.
	CutFiles   int        `json:"cut_files"`
	ReadErrors int        `json:"read_errors"`
	Files      []JSONFile `json:"files"`
	Findings   []Finding  `json:"findings"`
}

// JSONFile is one input file in a JSONReport.
type JSONFile struct {
	Name      string `json:"name"`
	Records   int64  `json:"records"`
	Truncated bool   `json:"truncated,omitempty"`
	// CutAt is the decompressed byte offset of the cut (when truncated).
	CutAt    *int64   `json:"cut_at_byte,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	BadLines []string `json:"bad_lines,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// WriteJSON writes the report as one JSON document:
// {"summary": {rule: count}, "findings": [...], ...}.
func WriteJSON(w io.Writer, r *Report) error {
	doc := JSONReport{Summary: map[string]int{}, Errors: r.Errors, Warnings: r.Warnings, Notes: r.Notes, Frames: r.Frames,
		CutFiles: len(r.Cut()), ReadErrors: len(r.ReadErrors()), Files: []JSONFile{}, Findings: r.SortedFindings()}
	for _, rule := range rules {
		doc.Summary[rule.ID] = r.Counts[rule.ID]
	}
	for _, f := range r.Files {
		jf := JSONFile{Name: f.Name, Records: f.Records, Truncated: f.Truncated, Warnings: f.Warnings, BadLines: f.BadLines}
		if f.Truncated {
			at := f.CutAt
			jf.CutAt = &at
		}
		if f.Err != nil {
			jf.Error = f.Err.Error()
		}
		doc.Files = append(doc.Files, jf)
	}
	if doc.Findings == nil {
		doc.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
