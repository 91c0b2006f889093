package analysis

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// SortedFindings returns the report's findings ordered by file (in input
// order), line, rule and message.
func (r *Report) SortedFindings() []Finding {
	order := map[string]int{}
	for i, f := range r.Files {
		if _, ok := order[f.Name]; !ok {
			order[f.Name] = i
		}
	}
	out := append([]Finding(nil), r.Findings...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if oa, ob := order[a.File], order[b.File]; oa != ob {
			return oa < ob
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
	return out
}

// WriteText writes the report like a compiler: one
// "file:line: severity: rule: message" line per finding, grouped per
// connection under a line naming the connection and its session, then a
// table of counts per rule and severity.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	type group struct {
		file, conn string
		list       []Finding
	}
	var groups []*group
	byKey := map[[2]string]*group{}
	for _, f := range r.SortedFindings() {
		k := [2]string{f.File, f.Conn}
		g := byKey[k]
		if g == nil {
			g = &group{file: f.File, conn: f.Conn}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.list = append(g.list, f)
	}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		fmt.Fprintf(bw, "== %s: connection %s%s\n", g.file, orNone(g.conn), describeSocket(g.list[0]))
		for _, f := range g.list {
			fmt.Fprintln(bw, f.String())
			if f.RelatedLine != 0 {
				fmt.Fprintf(bw, "%s:%d: note: related record\n", orFile(f.RelatedFile, f.File), f.RelatedLine)
			}
		}
	}
	if len(groups) > 0 {
		fmt.Fprintln(bw)
	}
	writeSummary(bw, r)
	return bw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func orFile(related, file string) string {
	if related == "" {
		return file
	}
	return related
}

// describeSocket says which session and channel a finding's socket
// belongs to.
func describeSocket(f Finding) string {
	var parts []string
	if f.Session.ConnectionID != "" || f.Session.AgentID != "" || f.Session.ConversationID != "" {
		parts = append(parts, "session "+f.Session.String())
	} else {
		parts = append(parts, "no session info")
	}
	if f.Channel != "" {
		ch := "channel " + f.Channel
		if f.Socket > 0 {
			ch += fmt.Sprintf(" #%d", f.Socket)
		}
		parts = append(parts, ch)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// summaryRows returns (rule, severity, count) for every rule and severity
// with findings, in rule table order.
func summaryRows(r *Report) [][3]string {
	per := map[[2]string]int{}
	for _, f := range r.Findings {
		per[[2]string{f.Rule, f.Severity.String()}]++
	}
	var rows [][3]string
	for _, rule := range rules {
		n := r.Counts[rule.ID]
		if n == 0 {
			continue
		}
		listed := 0
		for _, sev := range []string{"error", "warning", "expected", "note"} {
			if c := per[[2]string{rule.ID, sev}]; c > 0 {
				rows = append(rows, [3]string{rule.ID, sev, fmt.Sprint(c)})
				listed += c
			}
		}
		if listed < n { // findings beyond MaxCollected
			rows = append(rows, [3]string{rule.ID, rule.SeverityName(), fmt.Sprint(n - listed)})
		}
	}
	return rows
}

func writeSummary(w io.Writer, r *Report) {
	rows := summaryRows(r)
	if len(rows) > 0 {
		fmt.Fprintf(w, "%-26s %-13s %7s\n", "RULE", "SEVERITY", "COUNT")
		for _, row := range rows {
			fmt.Fprintf(w, "%-26s %-13s %7s\n", row[0], row[1], row[2])
		}
	}
	files := 0
	for _, f := range r.Files {
		if f.Err == nil {
			files++
		}
	}
	notes := ""
	if r.Notes > 0 {
		notes = fmt.Sprintf(", %d note(s) (undetermined, not judged)", r.Notes)
	}
	errs := r.ReadErrors()
	if files > 0 || len(errs) == 0 {
		fmt.Fprintf(w, "%d error(s), %d warning(s)%s in %d file(s), %d frames\n", r.Errors, r.Warnings, notes, files, r.Frames)
	}
	if cut := r.Cut(); len(cut) == 1 {
		fmt.Fprintf(w, "1 file cut at byte %d (%s): checked up to the cut\n", cut[0].CutAt, cut[0].Name)
	} else if len(cut) > 1 {
		fmt.Fprintf(w, "%d files cut (checked up to the cut):", len(cut))
		for _, f := range cut {
			fmt.Fprintf(w, " %s at byte %d;", f.Name, f.CutAt)
		}
		fmt.Fprintln(w)
	}
	if len(errs) > 0 {
		if files == 0 {
			fmt.Fprintf(w, "nothing checked: ")
		}
		fmt.Fprintf(w, "%d of %d file(s) could not be read, so not checked:\n", len(errs), len(r.Files))
		for _, err := range errs {
			fmt.Fprintf(w, "  %v\n", err)
		}
	}
	if r.Dropped > 0 {
		fmt.Fprintf(w, "(%d findings not listed: over the collection bound)\n", r.Dropped)
	}
	writeFaultReports(w, r)
}
