package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TraceSuffixes are the names -out treats as a file rather than a
// directory.
var traceSuffixes = []string{".jsonl", ".jsonl.zst", ".jsonl.gz"}

// IsTraceFileName reports a name ending in .jsonl, .jsonl.zst or .jsonl.gz.
func IsTraceFileName(name string) bool {
	for _, s := range traceSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// OutPlan is where a recording will go, decided before anything is
// created: Prepare creates the directories just before the trace, Undo
// removes them again when startup fails after all.
type OutPlan struct {
	// Path is the trace file.
	Path string
	// Dirs are the directories Prepare creates, outermost first.
	Dirs []string
}

// PlanOut applies the -out rules: a name ending in .jsonl or .jsonl.zst
// is a file (.jsonl.gz is refused: gzip is only read); an existing directory, or any other name, is a
// directory that gets a new file named by now (UTC); an existing file
// without such a name is refused. A missing directory is created only if
// its parent exists, or with mkdir (-mkdir) all the way. Nothing is
// created here.
func PlanOut(out string, mkdir bool, now time.Time) (OutPlan, error) {
	if out == "" {
		return OutPlan{}, errors.New("-out: empty name")
	}
	if strings.HasSuffix(out, ".gz") {
		return OutPlan{}, fmt.Errorf("-out %s: traces are written as .jsonl.zst or .jsonl; gzip (.jsonl.gz) is read, not written", out)
	}
	var dir, file string
	st, err := os.Stat(out)
	switch {
	case err == nil && st.IsDir():
		dir = out
	case err == nil && !IsTraceFileName(out):
		return OutPlan{}, fmt.Errorf("-out %s: a file that is not a trace (.jsonl or .jsonl.zst); give a directory or a trace name", out)
	case err == nil && !st.Mode().IsRegular():
		return OutPlan{}, fmt.Errorf("-out %s: not a regular file", out)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return OutPlan{}, fmt.Errorf("-out: %w", err)
	case IsTraceFileName(out):
		dir, file = filepath.Dir(out), out
	default:
		dir = out
	}
	if file == "" {
		file = freeName(dir, "wsproxy-"+now.UTC().Format("20060102T150405Z"), ".jsonl.zst")
	}
	plan := OutPlan{Path: file}
	// Walk up to the first directory that exists.
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return OutPlan{}, fmt.Errorf("-out %s: %s is not a directory", out, d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return OutPlan{}, fmt.Errorf("-out: %w", err)
		}
		missing = append([]string{d}, missing...)
		if filepath.Dir(d) == d {
			break
		}
	}
	allowed := 0
	if !IsTraceFileName(out) {
		allowed = 1 // the trace directory itself may be created
	}
	if len(missing) > allowed && !mkdir {
		return OutPlan{}, fmt.Errorf("-out %s: directory %s does not exist (add -mkdir to create it)", out, missing[0])
	}
	plan.Dirs = missing
	return plan, nil
}

// Prepare creates the plan's directories (mode 0700).
func (p OutPlan) Prepare() error {
	for _, d := range p.Dirs {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("-out: %w", err)
		}
	}
	return nil
}

// Undo removes the directories Prepare created, innermost first, if they
// are still empty: after a failed start, nothing is left behind.
func (p OutPlan) Undo() {
	for i := len(p.Dirs) - 1; i >= 0; i-- {
		os.Remove(p.Dirs[i]) // fails, as it should, on a directory that is not empty
	}
}

// freeName returns dir/base+ext, or dir/base-2+ext, -3, … when a trace of
// that name is there already (two runs in the same second): a new run
// never overwrites an earlier one's trace.
func freeName(dir, base, ext string) string {
	name := filepath.Join(dir, base+ext)
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = filepath.Join(dir, fmt.Sprintf("%s-%d%s", base, i, ext))
	}
}
