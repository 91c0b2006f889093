package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
)

func TestParseFlagsAnywhere(t *testing.T) {
	for _, c := range []struct {
		args []string
		pos  []string
		q    bool
		n    int64
	}{
		{[]string{"a", "-q", "b"}, []string{"a", "b"}, true, 0},
		{[]string{"-size", "2KiB", "a"}, []string{"a"}, false, 2048},
		{[]string{"a", "b", "-size", "1MB"}, []string{"a", "b"}, false, 1000000},
		{[]string{"a", "--", "-q", "-size"}, []string{"a", "-q", "-size"}, false, 0},
		{[]string{"-", "-q"}, []string{"-"}, true, 0},
	} {
		var out, errb bytes.Buffer
		f := NewFlags("t", "usage: t", &out, &errb)
		q := f.Bool("q", false, "")
		var n int64
		f.Size(&n, "size", 0, "")
		pos, code, ok := f.Parse(c.args)
		if !ok || code != 0 || !reflect.DeepEqual(pos, c.pos) || *q != c.q || n != c.n {
			t.Errorf("%v: pos %v q %v n %d ok %v code %d (%s)", c.args, pos, *q, n, ok, code, errb.String())
		}
	}
}

func TestParseHelpAndErrors(t *testing.T) {
	var out, errb bytes.Buffer
	f := NewFlags("wsproxy t", "usage: wsproxy t FILE", &out, &errb)
	f.String("x", "d", "the x")
	if _, code, ok := f.Parse([]string{"a", "-h"}); ok || code != 0 {
		t.Fatalf("-h: ok %v code %d", ok, code)
	}
	if !strings.HasPrefix(out.String(), "usage: wsproxy t FILE\n\nFlags:\n") || !strings.Contains(out.String(), "the x") || errb.Len() != 0 {
		t.Errorf("help: %q / %q", out.String(), errb.String())
	}
	out.Reset()
	if _, code, ok := f.Parse([]string{"-y"}); ok || code != 2 || !strings.Contains(errb.String(), "run 'wsproxy t -h' for help") {
		t.Errorf("bad flag: code %d %q", code, errb.String())
	}
}

func TestTokenFromEnv(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{{nil, "k", "k"}, {[]string{"-token", "f"}, "k", "f"}, {[]string{"-token", ""}, "k", ""}, {nil, "", ""}} {
		f := NewFlags("t", "", &bytes.Buffer{}, &bytes.Buffer{})
		f.Getenv = func(k string) string {
			if k == TokenEnv {
				return c.env
			}
			return ""
		}
		var tok string
		f.Token(&tok, "token")
		if _, _, ok := f.Parse(c.args); !ok || tok != c.want {
			t.Errorf("%v with %q: token %q, want %q", c.args, c.env, tok, c.want)
		}
	}
}

func TestSizes(t *testing.T) {
	for s, want := range map[string]int64{"16MiB": 16 << 20, "100MB": 100e6, "4096": 4096, "1.5KiB": 1536, "2k": 2048, "7B": 7} {
		if n, err := ParseSize(s); err != nil || n != want {
			t.Errorf("%q: %d %v, want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "MiB", "-1KiB", "ten", "1e30GiB", "NaN"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
	if FormatSize(16<<20) != "16MiB" || FormatSize(1000) != "1000" {
		t.Error(FormatSize(16<<20), FormatSize(1000))
	}
}

func TestParseURL(t *testing.T) {
	if _, err := ParseURL("-upstream", "127.0.0.1:8766", "ws", "wss"); err == nil ||
		err.Error() != `-upstream "127.0.0.1:8766": missing scheme: use ws://127.0.0.1:8766 or wss://127.0.0.1:8766` {
		t.Errorf("missing scheme: %v", err)
	}
	if _, err := ParseURL("URL", "ws://", "ws"); err == nil || !strings.Contains(err.Error(), "no host") {
		t.Errorf("no host: %v", err)
	}
	u, err := ParseURL("-upstream", "wss://api.letta.com/", "ws", "wss")
	if err != nil || NoPath("-upstream", u) != nil {
		t.Errorf("plain: %v", err)
	}
	u, _ = ParseURL("-upstream", "ws://h:1/v1?token=x", "ws")
	if err := NoPath("-upstream", u); err == nil || !strings.Contains(err.Error(), `the path "/v1?…" would be ignored`) || strings.Contains(err.Error(), "token=x") {
		t.Errorf("path: %v", err)
	}
}

func TestPlanOut(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p, err := PlanOut(dir, false, now)
	if err != nil || p.Path != filepath.Join(dir, "wsproxy-20261201T100000Z.jsonl.zst") || len(p.Dirs) != 0 {
		t.Errorf("existing dir: %+v %v", p, err)
	}
	p, err = PlanOut(filepath.Join(dir, "new"), false, now)
	if err != nil || len(p.Dirs) != 1 {
		t.Errorf("new dir: %+v %v", p, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Error("planning created the directory")
	}
	if err := p.Prepare(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "new")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("prepared: %v %v", st, err)
	}
	p, err = PlanOut(filepath.Join(dir, "a", "b", "t.jsonl"), true, now)
	if err != nil || p.Path != filepath.Join(dir, "a", "b", "t.jsonl") || len(p.Dirs) != 2 {
		t.Errorf("-mkdir: %+v %v", p, err)
	}
	if _, err := PlanOut("", false, now); err == nil {
		t.Error("empty -out accepted")
	}
}

func TestCheckerFlags(t *testing.T) {
	f := NewFlags("t", "", &bytes.Buffer{}, &bytes.Buffer{})
	cfg := analysis.DefaultConfig()
	f.CheckerFlags(&cfg)
	if _, _, ok := f.Parse([]string{"-ack-timeout", "3s", "-disable", "missing-heartbeat, no-sync-on-attach", "-heartbeat-slack", "0"}); !ok {
		t.Fatal("parse")
	}
	if cfg.AckTimeout != 3*time.Second || !reflect.DeepEqual(cfg.Disable, []string{"missing-heartbeat", "no-sync-on-attach"}) || cfg.HeartbeatSlack != -1 {
		t.Errorf("%+v", cfg)
	}
	var errb bytes.Buffer
	f = NewFlags("t", "", &bytes.Buffer{}, &errb)
	cfg = analysis.DefaultConfig()
	f.CheckerFlags(&cfg)
	if _, code, ok := f.Parse([]string{"-disable", "nope"}); ok || code != 2 || !strings.Contains(errb.String(), `unknown rule "nope"`) {
		t.Errorf("bad rule: %d %s", code, errb.String())
	}
}

// Two runs in the same second into one directory get two traces: the
// second never overwrites the first.
func TestPlanOutNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var got []string
	for i := 0; i < 3; i++ {
		p, err := PlanOut(dir, false, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p.Path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(p.Path))
	}
	want := []string{"wsproxy-20261201T100000Z.jsonl.zst", "wsproxy-20261201T100000Z-2.jsonl.zst", "wsproxy-20261201T100000Z-3.jsonl.zst"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
}
