package analysis

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"regexp"
	"strings"
	"testing"
)

const faultsTrace = "testdata/faults.jsonl"

// faultsReport checks testdata/faults.jsonl: a gap (2-3), an unanswered
// read_file, an orphan reply that is also never acked, an unknown type.
func faultsReport(t *testing.T) *Report {
	t.Helper()
	rep := CheckFiles([]string{faultsTrace}, Config{})
	if errs := rep.ReadErrors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return rep
}

func TestFaultsTrace(t *testing.T) {
	rep := faultsReport(t)
	fs := rep.SortedFindings()
	check(t, want(t, fs, RuleEventSeqGap, 1)[0], Error, 7, 5, "2-3")
	check(t, want(t, fs, RuleUnmatchedRequest, 1)[0], Error, 11, 14, "rf-1")
	check(t, want(t, fs, RuleOrphanResponse, 1)[0], Error, 12, 0, "rf-9")
	check(t, want(t, fs, RuleUnackedSeq, 1)[0], Error, 12, 14, "2")
	check(t, want(t, fs, RuleUnknownType, 1)[0], Warning, 13, 0, "brand_new_command")
	if len(fs) != 5 || rep.Errors != 4 || rep.Warnings != 1 {
		t.Fatalf("findings:%s", dump(fs))
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, faultsReport(t)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	diag := regexp.MustCompile(`(?m)^testdata/faults\.jsonl:(\d+): (error|warning|note): ([a-z-]+)`)
	if n := len(diag.FindAllString(out, -1)); n != 5+3 { // 5 findings, 3 related notes
		t.Fatalf("%d diagnostic lines in:\n%s", n, out)
	}
	for _, want := range []string{
		"== testdata/faults.jsonl: connection c1 (session conn-1/agent-1/default, channel control #1)",
		"== testdata/faults.jsonl: connection c2 (session conn-1/agent-1/default, channel stream #1)",
		"testdata/faults.jsonl:12: error: orphan-response: read_file_response rf-9:",
		"testdata/faults.jsonl:7: error: event-seq-gap: event_seq 2-3 missing",
		"4 error(s), 1 warning(s) in 1 file(s), 10 frames",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	table := regexp.MustCompile(`(?m)^(unacked-seq|event-seq-gap|unmatched-request|orphan-response) +error +1$`)
	if n := len(table.FindAllString(out, -1)); n != 4 {
		t.Errorf("summary table rows: %d in:\n%s", n, out)
	}
	if !regexp.MustCompile(`(?m)^unknown-type +warning +1$`).MatchString(out) {
		t.Errorf("no unknown-type row in:\n%s", out)
	}
	// Each connection's findings come together, under its header.
	c1 := strings.Index(out, "connection c1")
	if c1 < 0 || strings.Contains(out[c1:], "connection c2") {
		t.Errorf("groups out of order:\n%s", out)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, faultsReport(t)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary  map[string]int   `json:"summary"`
		Findings []map[string]any `json:"findings"`
		Errors   int              `json:"errors"`
		Files    []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v in:\n%s", err, b.String())
	}
	if len(doc.Summary) != len(Rules()) || doc.Summary[RuleOrphanResponse] != 1 || doc.Summary[RuleUnknownType] != 1 ||
		doc.Summary[RuleMissingHeartbeat] != 0 || doc.Errors != 4 {
		t.Fatalf("summary: %v", doc.Summary)
	}
	if len(doc.Findings) != 5 || len(doc.Files) != 1 {
		t.Fatalf("findings: %v", doc.Findings)
	}
	for _, f := range doc.Findings {
		for _, k := range []string{"rule", "severity", "file", "line", "conn", "t", "message", "related_line"} {
			if _, ok := f[k]; !ok {
				t.Fatalf("finding without %q: %v", k, f)
			}
		}
	}
	f := doc.Findings[0] // sorted by line: the gap at line 7
	if f["rule"] != RuleEventSeqGap || f["severity"] != "error" || f["line"] != 7.0 || f["related_line"] != 5.0 ||
		f["conn"] != "c2" || f["subject"] != "2-3" || f["channel"] != "stream" || f["t"] != "2026-11-28T17:00:00.3Z" {
		t.Fatalf("first finding: %v", f)
	}
	// Findings round-trip into the Go type.
	var typed JSONReport
	if err := json.Unmarshal(b.Bytes(), &typed); err != nil || typed.Findings[0].Severity != Error {
		t.Fatalf("typed: %v %+v", err, typed.Findings)
	}
}

func TestWriteJUnit(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, faultsReport(t)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Type string `xml:"type,attr"`
					Text string `xml:",chardata"`
				} `xml:"failure"`
				Out string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v in:\n%s", err, b.String())
	}
	if len(doc.Suites) != 1 || doc.Suites[0].Name != faultsTrace {
		t.Fatalf("suites: %+v", doc.Suites)
	}
	s := doc.Suites[0]
	if s.Tests != len(Rules()) || len(s.Cases) != len(Rules()) || s.Failures != 4 || doc.Failures != 4 || doc.Tests != len(Rules()) {
		t.Fatalf("suite: tests %d cases %d failures %d", s.Tests, len(s.Cases), s.Failures)
	}
	for _, c := range s.Cases {
		switch c.Name {
		case RuleOrphanResponse:
			if c.Failure == nil || c.Failure.Type != "error" || !strings.Contains(c.Failure.Text, "faults.jsonl:12: error: orphan-response") {
				t.Fatalf("orphan case: %+v", c)
			}
		case RuleUnknownType:
			if c.Failure != nil || !strings.Contains(c.Out, "unknown-type") {
				t.Fatalf("warning case: %+v", c)
			}
		case RuleMissingHeartbeat:
			if c.Failure != nil || c.Out != "" {
				t.Fatalf("passing case: %+v", c)
			}
		}
	}
}

func TestWriteRules(t *testing.T) {
	var b bytes.Buffer
	WriteRules(&b)
	for _, r := range Rules() {
		if !strings.Contains(b.String(), r.ID+" ") {
			t.Errorf("rule %s not listed", r.ID)
		}
		if _, ok := LookupRule(r.ID); !ok {
			t.Errorf("LookupRule(%s)", r.ID)
		}
	}
	if !strings.Contains(b.String(), "warning/error") {
		t.Error("mixed severity not shown")
	}
}

func TestRuleExamples(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		prefix := regexp.MustCompile(`^t\.jsonl:\d+: (error|warning|note): ` + regexp.QuoteMeta(r.ID) + `: `)
		if !prefix.MatchString(r.Example) {
			t.Errorf("%s: example %q", r.ID, r.Example)
		}
		if !strings.Contains(string(doc), "//	"+r.ID+" ") {
			t.Errorf("%s: not in the doc.go table", r.ID)
		}
		if !strings.Contains(string(doc), "//	    "+r.Example) {
			t.Errorf("%s: doc.go example differs from Rule.Example %q", r.ID, r.Example)
		}
	}
}

// The summary table gives each finding its own severity: findings an
// injected fault explains are "expected", not the rule's "error".
func TestSummaryRowsBySeverity(t *testing.T) {
	r := &Report{Counts: map[string]int{RuleEventSeqGap: 3}, Findings: []Finding{
		{Rule: RuleEventSeqGap, Severity: Expected}, {Rule: RuleEventSeqGap, Severity: Expected}, {Rule: RuleEventSeqGap, Severity: Error},
	}}
	rows := summaryRows(r)
	want := [][3]string{{RuleEventSeqGap, "error", "1"}, {RuleEventSeqGap, "expected", "2"}}
	if len(rows) != 2 || rows[0] != want[0] || rows[1] != want[1] {
		t.Fatalf("rows %v, want %v", rows, want)
	}
}
