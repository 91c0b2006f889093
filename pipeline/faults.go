package pipeline

import (
	"fmt"
	"io"

	"github.com/lettadev/wsproxy/analysis"
)

// FaultReports returns the live checker's report of every injected fault
// and the client's reaction (after Shutdown; nil without a checker).
func (p *Pipeline) FaultReports() []analysis.FaultReport {
	if p.checker == nil {
		return nil
	}
	return p.checker.FaultReports()
}

// faultSummary prints the faults injected per rule and the client's
// reactions, when fault rules are configured.
func (p *Pipeline) faultSummary(w io.Writer) {
	eng := p.cfg.Proxy.Faults
	if eng == nil {
		return
	}
	fmt.Fprintln(w, "faults injected:")
	for _, st := range eng.Stats() {
		fmt.Fprintf(w, "  %6d  %s\n", st.Faults, st.Rule.Text)
	}
	reps := p.FaultReports()
	if p.checker == nil || len(reps) == 0 {
		return
	}
	type key struct{ rule, outcome string }
	counts := map[key]int{}
	var order []key
	for _, r := range reps {
		k := key{r.Rule, r.Outcome}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	fmt.Fprintf(w, "client reactions (%d findings explained by the faults, reported as expected):\n", p.checker.Expected())
	for _, k := range order {
		fmt.Fprintf(w, "  %6d  %-12s %s\n", counts[k], k.outcome, k.rule)
	}
	for _, r := range reps {
		if r.Outcome == analysis.OutcomeFailed {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
}
