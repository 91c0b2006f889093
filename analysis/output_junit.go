package analysis

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// WriteJUnit writes the report as JUnit XML for CI systems: one test suite
// per trace file and in it one test case per rule (every rule, passing
// ones too). A rule with error findings fails, its failure listing them;
// warnings are listed in the test case's system-out and do not fail it,
// matching the exit code. A file that could not be read is a suite with
// one erroring "read" test case; a file that was cut has a skipped
// "complete-trace" test case saying where.
func WriteJUnit(w io.Writer, r *Report) error {
	type failure struct {
		Type    string `xml:"type,attr"`
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Error     *failure `xml:"error,omitempty"`
		Skipped   *failure `xml:"skipped,omitempty"`
		SystemOut string   `xml:"system-out,omitempty"`
	}
	type suite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	type suites struct {
		XMLName  xml.Name `xml:"testsuites"`
		Name     string   `xml:"name,attr"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Suites   []suite  `xml:"testsuite"`
	}
	byFile := map[string][]Finding{}
	for _, f := range r.SortedFindings() {
		byFile[f.File] = append(byFile[f.File], f)
	}
	doc := suites{Name: "wsproxy check"}
	seen := map[string]bool{}
	for _, fr := range r.Files {
		if seen[fr.Name] {
			continue
		}
		seen[fr.Name] = true
		s := suite{Name: fr.Name}
		if fr.Err != nil {
			s.Cases = append(s.Cases, testcase{Name: "read", Classname: "wsproxy.check",
				Error: &failure{Type: "read-error", Message: fr.Err.Error(), Text: fr.Err.Error()}})
			s.Errors++
		} else {
			if fr.Truncated {
				msg := fmt.Sprintf("file cut at byte %d: checked up to the cut; what was pending there is undetermined", fr.CutAt)
				s.Cases = append(s.Cases, testcase{Name: "complete-trace", Classname: "wsproxy.check",
					Skipped: &failure{Type: "cut", Message: msg, Text: strings.Join(fr.Warnings, "\n")}})
				s.Skipped++
			}
			for _, rule := range rules {
				tc := testcase{Name: rule.ID, Classname: "wsproxy.check." + rule.ID}
				var errs, warns []string // notes go with warnings
				for _, f := range byFile[fr.Name] {
					if f.Rule != rule.ID {
						continue
					}
					if f.Severity == Error {
						errs = append(errs, f.String())
					} else {
						warns = append(warns, f.String())
					}
				}
				if len(errs) > 0 {
					tc.Failure = &failure{Type: "error", Message: fmt.Sprintf("%d error(s)", len(errs)),
						Text: strings.Join(errs, "\n")}
					s.Failures++
				}
				if len(warns) > 0 {
					what := "warning(s)"
					if rule.Severity == Note {
						what = "note(s)"
					}
					tc.SystemOut = fmt.Sprintf("%d %s\n%s", len(warns), what, strings.Join(warns, "\n"))
				}
				s.Cases = append(s.Cases, tc)
			}
		}
		s.Tests = len(s.Cases)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
