package faults

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/protocol"
)

func finding(rule, subject, conn, channel string, socket int, sev analysis.Severity) analysis.Finding {
	return analysis.Finding{Rule: rule, Severity: sev, Subject: subject, Channel: channel, Socket: socket,
		Session: protocol.Session{ConnectionID: conn}}
}

func TestCompare(t *testing.T) {
	expected := []Fault{
		{Knob: "gap", Rule: RuleEventSeqGap, Subject: "5-7", ConnectionID: "c1", Channel: "stream", Socket: 1},
		{Knob: "skip-ack", Rule: RuleUnackedSeq, Subject: "4", ConnectionID: "c1", Channel: "control", Socket: 1},
		{Knob: "skip-ack", Rule: RuleUnackedSeq, Subject: "9", ConnectionID: "c1", Channel: "control", Socket: 1},
		{Knob: "delay"}, // expects no finding
	}
	findings := []analysis.Finding{
		// a session rule: matched whatever socket it was seen on
		finding(RuleEventSeqGap, "5-7", "c1", "control", 1, analysis.Error),
		finding(RuleUnackedSeq, "4", "c1", "control", 1, analysis.Error),
		// right seq, wrong socket: missed and unexpected
		finding(RuleUnackedSeq, "9", "c1", "control", 2, analysis.Error),
		finding(RuleOrphanResponse, "x", "c1", "control", 1, analysis.Error),
		// notes are never findings of a fault
		finding(analysis.RuleUndetermined, "", "c1", "control", 1, analysis.Note),
	}
	c := Compare(expected, findings)
	if c.OK() {
		t.Fatal("differences not seen")
	}
	rows := map[string]RuleComparison{}
	for _, r := range c.Rules {
		rows[r.Rule] = r
	}
	if r := rows[RuleEventSeqGap]; r.Matched != 1 || len(r.Missed)+len(r.Unexpected) != 0 {
		t.Errorf("gap row %+v", r)
	}
	if r := rows[RuleUnackedSeq]; r.Matched != 1 || len(r.Missed) != 1 || len(r.Unexpected) != 1 ||
		!strings.Contains(r.Missed[0], `"9" conn=c1 socket=control#1`) || !strings.Contains(r.Unexpected[0], "socket=control#2") {
		t.Errorf("unacked row %+v", r)
	}
	if r := rows[RuleOrphanResponse]; r.Matched != 0 || len(r.Unexpected) != 1 {
		t.Errorf("orphan row %+v", r)
	}
	if _, ok := rows[analysis.RuleUndetermined]; ok || len(c.Rules) != 3 {
		t.Errorf("rows %+v", c.Rules)
	}
	var b bytes.Buffer
	c.Write(&b)
	for _, w := range []string{"unacked-seq                      1       1          1", `missed: unacked-seq "9" conn=c1 socket=control#1`,
		"unexpected: orphan-response"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, b.String())
		}
	}
	if c := Compare(expected[:1], findings[:1]); !c.OK() {
		t.Errorf("exact match not OK: %+v", c)
	}
}
