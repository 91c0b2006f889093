package analysis

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryRule keeps the README's rule table in step with the
// rules: rule ids are part of the interface.
func TestREADMEListsEveryRule(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skip("no README")
	}
	for _, r := range Rules() {
		if !strings.Contains(string(data), "| `"+r.ID+"` |") {
			t.Errorf("README.md does not list rule %s", r.ID)
		}
	}
}
