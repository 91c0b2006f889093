package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lettadev/wsproxy/inject"
)

// faultFlags are the proxy's fault injection flags: -fault RULE (repeated),
// -faults FILE and -fault-seed N.
type faultFlags struct {
	rules []string
	file  string
	seed  uint64
}

type ruleList struct{ f *faultFlags }

func (l ruleList) String() string {
	if l.f == nil {
		return ""
	}
	return strings.Join(l.f.rules, "; ")
}

func (l ruleList) Set(s string) error {
	if _, err := inject.Parse(s); err != nil {
		return err
	}
	l.f.rules = append(l.f.rules, s)
	return nil
}

func (f *faultFlags) register(fs *flag.FlagSet) {
	fs.Var(ruleList{f}, "fault", "inject a fault into whole messages, e.g. -fault 'drop from=server has=event_seq nth=50' (repeatable; see README: Fault injection)")
	fs.StringVar(&f.file, "faults", "", "read fault rules from FILE, one a line, # comments")
	fs.Uint64Var(&f.seed, "fault-seed", 1, "seed of the faults' random choices (p=): the same seed, the same faults")
}

// engine returns the fault engine of the flags, nil without rules.
func (f *faultFlags) engine() (*inject.Engine, error) {
	var rules []*inject.Rule
	for _, s := range f.rules {
		r, err := inject.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("-fault: %w", err)
		}
		rules = append(rules, r)
	}
	dir := ""
	if f.file != "" {
		b, err := os.ReadFile(f.file)
		if err != nil {
			return nil, fmt.Errorf("-faults: %w", err)
		}
		fr, err := inject.ParseFile(f.file, b)
		if err != nil {
			return nil, fmt.Errorf("-faults: %w", err)
		}
		rules = append(rules, fr...)
		dir = filepath.Dir(f.file)
	}
	if len(rules) == 0 {
		return nil, nil
	}
	return inject.New(rules, inject.Options{Seed: f.seed, Dir: dir})
}
