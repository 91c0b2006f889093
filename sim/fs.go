package sim

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// memFS is the device's small in-memory file tree.
type memFS struct {
	root  string
	files map[string]*memFile
	dirs  map[string]bool
}

type memFile struct {
	data []byte
	mod  time.Time
}

func cleanPath(p string) string { return path.Clean("/" + p) }

func newMemFS(root string) *memFS {
	fs := &memFS{root: cleanPath(root), files: map[string]*memFile{}, dirs: map[string]bool{"/": true}}
	fs.mkdirAll(fs.root)
	seed := map[string]string{
		"README.md":            "# project\n\nA small project on a simulated device.\nhello world\n",
		"hello.txt":            "hello world\nsecond line\n",
		"src/main.go":          "package main\n\nfunc main() {\n\tprintln(\"hello from main\")\n}\n",
		"src/util.go":          "package main\n\n// helper returns a greeting.\nfunc helper() string { return \"hello\" }\n",
		"docs/notes.md":        "notes: the relay adds seq; the device adds event_seq.\n",
		"docs/sub/nested.md":   "nested file: world\n",
		".letta/settings.json": "{}\n",
	}
	for p, c := range seed {
		fs.write(path.Join(fs.root, p), []byte(c))
	}
	return fs
}

func (fs *memFS) mkdirAll(p string) {
	p = cleanPath(p)
	for p != "/" {
		fs.dirs[p] = true
		p = path.Dir(p)
	}
}

func (fs *memFS) isDir(p string) bool { return fs.dirs[cleanPath(p)] }

func errNotExist(op, p string) error {
	return fmt.Errorf("ENOENT: no such file or directory, %s '%s'", op, p)
}

func (fs *memFS) write(p string, data []byte) {
	p = cleanPath(p)
	fs.mkdirAll(path.Dir(p))
	fs.files[p] = &memFile{data: append([]byte(nil), data...), mod: time.Now()}
}

func (fs *memFS) read(p string) ([]byte, error) {
	f := fs.files[cleanPath(p)]
	if f == nil {
		return nil, errNotExist("open", p)
	}
	return f.data, nil
}

// list returns the direct sub-directories and files of dir, sorted.
func (fs *memFS) list(dir string) (folders, files []string, err error) {
	dir = cleanPath(dir)
	if !fs.dirs[dir] {
		return nil, nil, errNotExist("scandir", dir)
	}
	for d := range fs.dirs {
		if d != dir && path.Dir(d) == dir {
			folders = append(folders, path.Base(d))
		}
	}
	for f := range fs.files {
		if path.Dir(f) == dir {
			files = append(files, path.Base(f))
		}
	}
	sort.Strings(folders)
	sort.Strings(files)
	return folders, files, nil
}

type treeEntry struct{ path, typ string }

// tree lists entries under dir to depth levels (breadth first), relative
// to dir, and whether deeper entries exist.
func (fs *memFS) tree(dir string, depth int) ([]treeEntry, bool, error) {
	dir = cleanPath(dir)
	if !fs.dirs[dir] {
		return nil, false, errNotExist("scandir", dir)
	}
	if depth <= 0 {
		depth = 1
	}
	var out []treeEntry
	more := false
	level := []string{dir}
	for d := 1; len(level) > 0; d++ {
		var next []string
		for _, p := range level {
			folders, files, _ := fs.list(p)
			if d > depth {
				if len(folders)+len(files) > 0 {
					more = true
				}
				continue
			}
			for _, f := range folders {
				full := path.Join(p, f)
				out = append(out, treeEntry{rel(dir, full), "dir"})
				next = append(next, full)
			}
			for _, f := range files {
				out = append(out, treeEntry{rel(dir, path.Join(p, f)), "file"})
			}
		}
		if d > depth {
			break
		}
		level = next
	}
	return out, more, nil
}

func rel(base, p string) string {
	r := strings.TrimPrefix(p, base)
	return strings.TrimPrefix(r, "/")
}

// edit replaces old with new in a file.
func (fs *memFS) edit(p, old, repl string, all bool, expected int) (n, startLine int, err error) {
	data, err := fs.read(p)
	if err != nil {
		return 0, 0, err
	}
	s := string(data)
	if old == "" {
		return 0, 0, errors.New("old_string is empty")
	}
	n = strings.Count(s, old)
	if n == 0 {
		return 0, 0, fmt.Errorf("old_string not found in %s", p)
	}
	if n > 1 && !all && expected == 0 {
		return 0, 0, fmt.Errorf("old_string found %d times in %s; set replace_all", n, p)
	}
	if expected > 0 && n != expected {
		return 0, 0, fmt.Errorf("expected %d replacements, found %d", expected, n)
	}
	startLine = strings.Count(s[:strings.Index(s, old)], "\n") + 1
	if all || expected > 1 {
		s = strings.ReplaceAll(s, old, repl)
	} else {
		s = strings.Replace(s, old, repl, 1)
		n = 1
	}
	fs.write(p, []byte(s))
	return n, startLine, nil
}

// under lists the files below dir, sorted.
func (fs *memFS) under(dir string) []string {
	dir = cleanPath(dir)
	var out []string
	for f := range fs.files {
		if strings.HasPrefix(f, dir+"/") || dir == "/" {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// search matches query against file paths relative to dir.
func (fs *memFS) search(dir, query string, max int) []string {
	if max <= 0 {
		max = 5
	}
	var out []string
	q := strings.ToLower(query)
	for _, f := range fs.under(dir) {
		r := rel(cleanPath(dir), f)
		if strings.Contains(strings.ToLower(r), q) {
			out = append(out, r)
			if len(out) == max {
				break
			}
		}
	}
	return out
}

type grepMatch struct {
	path              string
	line, col, colEnd int
	text              string
	before, after     []string
}

type grepOpts struct {
	regex, caseSensitive, wholeWord bool
	glob                            string
	max, context                    int
}

// grep finds lines matching query in files below dir.
func (fs *memFS) grep(dir, query string, opt grepOpts) (matches []grepMatch, files int, truncated bool, err error) {
	pat := query
	if !opt.regex {
		pat = regexp.QuoteMeta(query)
	}
	if opt.wholeWord {
		pat = `\b` + pat + `\b`
	}
	if !opt.caseSensitive {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, 0, false, fmt.Errorf("invalid pattern: %w", err)
	}
	if opt.max <= 0 {
		opt.max = 500
	}
	if opt.context < 0 {
		opt.context = 0
	}
	base := cleanPath(dir)
	for _, f := range fs.under(base) {
		r := rel(base, f)
		if opt.glob != "" {
			if ok, _ := path.Match(opt.glob, path.Base(r)); !ok {
				continue
			}
		}
		lines := strings.Split(strings.TrimSuffix(string(fs.files[f].data), "\n"), "\n")
		hit := false
		for i, l := range lines {
			loc := re.FindStringIndex(l)
			if loc == nil {
				continue
			}
			if len(matches) == opt.max {
				return matches, files, true, nil
			}
			hit = true
			lo, hi := max(0, i-opt.context), min(len(lines), i+1+opt.context)
			matches = append(matches, grepMatch{path: r, line: i + 1, col: loc[0] + 1, colEnd: loc[1] + 1, text: l,
				before: append([]string{}, lines[lo:i]...), after: append([]string{}, lines[i+1:hi]...)})
		}
		if hit {
			files++
		}
	}
	return matches, files, false, nil
}
