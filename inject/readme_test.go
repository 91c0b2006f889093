package inject

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeRulesParse: every rule the README's fault injection section
// shows is a valid rule.
func TestReadmeRulesParse(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "## Fault injection")
	if start < 0 {
		t.Fatal("README has no Fault injection section")
	}
	end := strings.Index(s[start+1:], "\n## ")
	sec := s[start : start+1+end]
	var rules []string
	for _, m := range regexp.MustCompile(`-fault '([^']+)'`).FindAllStringSubmatch(sec, -1) {
		rules = append(rules, m[1])
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)`").FindAllStringSubmatch(sec, -1) {
		rules = append(rules, m[1])
	}
	if len(rules) < 6 {
		t.Fatalf("found only %d rules in the README: %q", len(rules), rules)
	}
	for _, r := range rules {
		if _, err := Parse(r); err != nil {
			t.Errorf("README rule %q: %v", r, err)
		}
	}
}
