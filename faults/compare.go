package faults

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lettadev/wsproxy/analysis"
)

// sessionRules are checked per session (all sockets of a connection id):
// their faults and findings are compared without a socket.
var sessionRules = map[string]bool{
	RuleEventSeqGap:             true,
	RuleGapWithoutSync:          true,
	RuleDuplicateIdempotencyKey: true,
}

// Comparison is the ground truth of injected faults set against a
// checker's findings, per rule.
type Comparison struct {
	// Rules has one row per rule with a fault or a finding, sorted by rule.
	Rules []RuleComparison
}

// RuleComparison is one rule's row: how many injected faults the checker
// found (Matched), which it did not (Missed), and which findings match no
// injected fault (Unexpected), each as "subject conn socket" keys.
type RuleComparison struct {
	Rule       string
	Matched    int
	Missed     []string
	Unexpected []string
}

// OK reports a checker that found exactly the injected faults.
func (c *Comparison) OK() bool {
	for _, r := range c.Rules {
		if len(r.Missed) > 0 || len(r.Unexpected) > 0 {
			return false
		}
	}
	return true
}

// Compare sets the faults that must be reported (Rule != "") against the
// findings, as a multiset per rule of (subject, connection id, and for
// per-socket rules whose faults name a socket, the socket). Notes
// (analysis.Note: what the checker could not judge) are not findings of a
// fault and are left out.
func Compare(expected []Fault, findings []analysis.Finding) *Comparison {
	socketLevel := map[string]bool{} // rule -> its faults name a socket
	want := map[string]map[string]int{}
	add := func(m map[string]map[string]int, rule, key string) {
		if m[rule] == nil {
			m[rule] = map[string]int{}
		}
		m[rule][key]++
	}
	for _, f := range expected {
		if f.Rule == "" {
			continue
		}
		if f.Channel != "" && !sessionRules[f.Rule] {
			socketLevel[f.Rule] = true
		}
	}
	for _, f := range expected {
		if f.Rule == "" {
			continue
		}
		add(want, f.Rule, key(f.Subject, f.ConnectionID, f.Channel, f.Socket, socketLevel[f.Rule]))
	}
	got := map[string]map[string]int{}
	for _, f := range findings {
		if f.Severity == analysis.Note {
			continue
		}
		add(got, f.Rule, key(f.Subject, f.Session.ConnectionID, f.Channel, f.Socket, socketLevel[f.Rule]))
	}
	rules := map[string]bool{}
	for r := range want {
		rules[r] = true
	}
	for r := range got {
		rules[r] = true
	}
	c := &Comparison{}
	for r := range rules {
		row := RuleComparison{Rule: r}
		for k, n := range want[r] {
			m := min(n, got[r][k])
			row.Matched += m
			for i := m; i < n; i++ {
				row.Missed = append(row.Missed, k)
			}
		}
		for k, n := range got[r] {
			for i := want[r][k]; i < n; i++ {
				row.Unexpected = append(row.Unexpected, k)
			}
		}
		sort.Strings(row.Missed)
		sort.Strings(row.Unexpected)
		c.Rules = append(c.Rules, row)
	}
	sort.Slice(c.Rules, func(i, j int) bool { return c.Rules[i].Rule < c.Rules[j].Rule })
	return c
}

func key(subject, connID, channel string, socket int, withSocket bool) string {
	k := fmt.Sprintf("%q conn=%s", subject, connID)
	if withSocket {
		k += fmt.Sprintf(" socket=%s#%d", channel, socket)
	}
	return k
}

// Write prints the comparison: a table of matched, missed and unexpected
// per rule, then each missed fault and unexpected finding.
func (c *Comparison) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %7s %7s %10s\n", "RULE", "MATCHED", "MISSED", "UNEXPECTED")
	for _, r := range c.Rules {
		fmt.Fprintf(&b, "%-26s %7d %7d %10d\n", r.Rule, r.Matched, len(r.Missed), len(r.Unexpected))
	}
	for _, r := range c.Rules {
		for _, k := range r.Missed {
			fmt.Fprintf(&b, "missed: %s %s (injected, not found)\n", r.Rule, k)
		}
		for _, k := range r.Unexpected {
			fmt.Fprintf(&b, "unexpected: %s %s (found, not injected)\n", r.Rule, k)
		}
	}
	if c.OK() {
		b.WriteString("the checker found exactly the injected faults\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
