package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

// wsproxyBin is the wsproxy binary TestMain builds.
var wsproxyBin string

const sample = "../../traces/sim-turn-approval.jsonl.zst"

// wsp runs the built binary with args and the environment without
// $LETTA_API_KEY plus env, and returns its exit code and output.
func wsp(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(wsproxyBin, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "LETTA_API_KEY=") && !strings.HasPrefix(e, "NO_COLOR=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func TestCLIHelpAndVersion(t *testing.T) {
	for _, name := range []string{"proxy", "check", "replay", "show", "cat", "stats", "sim", "client", "demo"} {
		code, out, errs := wsp(t, nil, "help", name)
		if code != 0 || !strings.Contains(out, "usage: wsproxy") || !strings.Contains(out, "Flags:") || errs != "" {
			t.Errorf("help %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, code, out, errs)
		}
		code, out2, _ := wsp(t, nil, name, "-h")
		if code != 0 || out2 != out {
			t.Errorf("%s -h: exit %d, differs from help %s:\n%s", name, code, name, out2)
		}
	}
	if code, _, errs := wsp(t, nil, "help", "nope"); code != 2 || !strings.Contains(errs, `unknown command "nope"`) {
		t.Errorf("help nope: exit %d %s", code, errs)
	}
	if code, _, errs := wsp(t, nil, "nope"); code != 2 || !strings.Contains(errs, `unknown command "nope"`) {
		t.Errorf("nope: exit %d %s", code, errs)
	}
	for _, args := range [][]string{{"version"}, {"-version"}} {
		code, out, _ := wsp(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "wsproxy "+version+"\n") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: exit %d: %s", args, code, out)
		}
	}
	// The checker's flags are one set: check, the live proxy, stats, grep.
	for _, name := range []string{"check", "proxy", "stats", "grep"} {
		_, out, _ := wsp(t, nil, "help", name)
		for _, fl := range []string{"ack-timeout", "response-timeout", "sync-timeout", "heartbeat", "heartbeat-slack",
			"pong-timeout", "reorder-events", "reorder-window", "disable"} {
			if !strings.Contains(out, "  -"+fl+" ") {
				t.Errorf("help %s lacks checker flag -%s", name, fl)
			}
		}
	}
	code, out, _ := wsp(t, nil, "help")
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("help does not list %s", c.name)
		}
	}
	if code != 0 || !strings.Contains(out, "0 ok, 1 findings") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

// TestCLIUsageErrors: every command exits 2 on a bad flag, with the error
// and a hint naming the command.
func TestCLIUsageErrors(t *testing.T) {
	for _, name := range []string{"check", "replay", "show", "cat", "stats", "sim", "client", "demo"} {
		code, out, errs := wsp(t, nil, name, "-bogus")
		if code != 2 || out != "" || !strings.Contains(errs, "flag provided but not defined: -bogus") ||
			!strings.Contains(errs, "run 'wsproxy "+name+" -h' for help") {
			t.Errorf("%s -bogus: exit %d\nstdout %q\nstderr %q", name, code, out, errs)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "run 'wsproxy -h' for help"},
		{[]string{"check", sample, "-format", "yaml"}, `invalid value "yaml" for flag -format: want text, json or junit`},
		{[]string{"check", sample, "-disable", "no-such-rule"}, `unknown rule "no-such-rule"`},
		{[]string{"check"}, "no TRACE_OR_DIR given"},
		{[]string{"cat", sample, "-format", "csv"}, "want text or jsonl"},
		{[]string{"sim", "-read-limit", "lots"}, `"lots" is not a size`},
		{[]string{"sim", "-q", "-v"}, "-q and -v exclude each other"},
		{[]string{"client", "127.0.0.1:8766"}, "missing scheme: use http://127.0.0.1:8766 or ws://127.0.0.1:8766"},
		{[]string{"client", "ftp://127.0.0.1:8766"}, `scheme "ftp": want http, ws, https or wss`},
		{[]string{"-upstream", "127.0.0.1:8766"}, "missing scheme: use ws://127.0.0.1:8766 or wss://127.0.0.1:8766"},
		{[]string{"-upstream", "ws://127.0.0.1:8766/v1/environments"}, `the path "/v1/environments" would be ignored`},
		{[]string{"-max-frame", "big"}, `"big" is not a size`},
		{[]string{"replay", "-drive", "127.0.0.1:1", sample}, "missing scheme"},
		{[]string{"show", sample + ":0"}, "LINE a positive number"},
	} {
		code, _, errs := wsp(t, nil, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errs, c.want)
		}
		if stutters(errs) {
			t.Errorf("%v: stutter in %q", c.args, errs)
		}
	}
}

// TestCLIFlagsAfterArguments: flags may follow the arguments.
func TestCLIFlagsAfterArguments(t *testing.T) {
	code, out, errs := wsp(t, nil, "check", "../../traces/", "-format", "json")
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("check traces/ -format json: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = wsp(t, nil, "cat", sample, "-conn", "c2", "-format", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Conn string }
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Conn != "c2" {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	// wsproxy replay is the replay command, flags after arguments too.
	code, out, errs = wsp(t, nil, "replay", sample, "-list")
	if code != 0 || !strings.Contains(out, "conn-sim-1/agent-remote-1/default") || !strings.Contains(out, "c1(control) c2(stream)") {
		t.Errorf("replay TRACE -list: exit %d\n%s\n%s", code, out, errs)
	}
	// "--" ends the flags.
	if code, _, errs := wsp(t, nil, "cat", "--", "-format"); code != 2 || !strings.Contains(errs, "open -format: no such file") {
		t.Errorf("cat -- -format: exit %d %s", code, errs)
	}
}

// TestCLIOutRules: -out names a file or a directory; nothing is created
// when startup fails.
func TestCLIOutRules(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("x"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	for _, c := range []struct {
		out  []string
		want string
	}{
		{[]string{"-out", notes}, "a file that is not a trace"},
		{[]string{"-out", filepath.Join(dir, "x.jsonl.gz")}, "gzip (.jsonl.gz) is read, not written"},
		{[]string{"-out", filepath.Join(dir, "a", "b", "run.jsonl.zst")}, "does not exist (add -mkdir to create it)"},
		{[]string{"-out", filepath.Join(dir, "a", "b")}, "does not exist (add -mkdir to create it)"},
		// A port in use: the flags are fine, but nothing may be created.
		{[]string{"-out", filepath.Join(dir, "new", "run.jsonl.zst"), "-mkdir", "-listen", busy}, "address already in use"},
		{[]string{"-out", filepath.Join(dir, "newdir"), "-listen", busy}, "address already in use"},
		{[]string{"-out", filepath.Join(dir, "run.jsonl.zst"), "-listen", busy}, "address already in use"},
	} {
		code, _, errs := wsp(t, nil, append([]string{"-upstream", "ws://127.0.0.1:1"}, c.out...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.out, code, errs, c.want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "notes.txt" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("failed startups created %v", names)
	}
}

func TestCLIShow(t *testing.T) {
	code, out, errs := wsp(t, nil, "show", sample+":5")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{sample + ":5  c1 sync", "client → server", "request_id sync-c7c1456e-1",
		"  {\n    \"type\": \"sync\",\n    \"request_id\": \"sync-c7c1456e-1\",", "139 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("show :5 lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colours when piped")
	}
	// The reply, with context on its connection.
	code, out, _ = wsp(t, nil, "show", sample+":11", "-context", "1", "-conn", "c1")
	if code != 0 || strings.Count(out, sample+":") != 3 || !strings.Contains(out, "▶ "+sample+":11  c1 sync_response") ||
		!strings.Contains(out, sample+":6  c1 ping") || !strings.Contains(out, sample+":12  c1 pong") {
		t.Errorf("show :11 -context 1 -conn c1: exit %d\n%s", code, out)
	}
	code, out, _ = wsp(t, nil, "show", sample+":5", "-color", "always")
	if code != 0 || !strings.Contains(out, "\x1b[34m\"type\"\x1b[0m") {
		t.Errorf("-color always: no coloured member names:\n%q", out)
	}
	if code, _, errs := wsp(t, nil, "show", sample+":9999"); code != 2 || !strings.Contains(errs, "no record at line 9999 (the trace has 172 lines)") {
		t.Errorf(":9999: exit %d %s", code, errs)
	}
	if code, _, errs := wsp(t, nil, "show", sample+":7", "-conn", "c1"); code != 2 || !strings.Contains(errs, "no record of c1 at line 7") {
		t.Errorf(":7 -conn c1: exit %d %s", code, errs)
	}
	if code, _, errs := wsp(t, nil, "show", "missing.jsonl.zst:3"); code != 2 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing: exit %d %s", code, errs)
	}
}

func TestCLICat(t *testing.T) {
	code, out, errs := wsp(t, nil, "cat", sample)
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 171 { // every record but the header
		t.Fatalf("%d lines", len(lines))
	}
	re := regexp.MustCompile(`^\s+5\s+0\.002235 c1\s+→ sync\s+req=sync-c7c1456e-1\s+139B  recover_approvals=true$`)
	if !re.MatchString(lines[3]) {
		t.Errorf("line 5: %q", lines[3])
	}
	if !regexp.MustCompile(`^\s+7 .* c2\s+← update_device_status\s+seq=1 ev=1\s+1412B  device_status=`).MatchString(lines[5]) {
		t.Errorf("line 7: %q", lines[5])
	}
	// Every sample reads, several at once are prefixed by their file.
	all, _ := filepath.Glob("../../traces/*.jsonl.zst")
	code, out, errs = wsp(t, nil, append([]string{"cat"}, all...)...)
	if code != 0 || errs != "" || !strings.Contains(out, "real-device-paired-local.jsonl.zst:") {
		t.Errorf("all samples: exit %d %s", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("not a trace\n"), 0o600)
	if code, _, errs := wsp(t, nil, "cat", bad); code != 2 || !strings.Contains(errs, "not a wsproxy trace") {
		t.Errorf("bad: exit %d %s", code, errs)
	}
}

func TestCLIStats(t *testing.T) {
	code, out, errs := wsp(t, nil, "stats", sample, "-format", "json")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var s struct {
		Records, Frames int64
		Types           []struct {
			Type, From   string
			Count, Bytes int64
		}
		Latency []struct {
			Command              string
			Answered, Unanswered int
			P50                  float64 `json:"p50_ms"`
			Max                  float64 `json:"max_ms"`
		}
		Findings map[string]int
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, ty := range s.Types {
		sum += ty.Count
	}
	if s.Records != 171 || s.Frames != 166 || sum != s.Frames {
		t.Errorf("records %d frames %d, types add up to %d", s.Records, s.Frames, sum)
	}
	found := false
	for _, l := range s.Latency {
		if l.Command == "input" {
			found = l.Answered == 5 && l.Unanswered == 0 && l.P50 > 0 && l.Max >= l.P50
		}
	}
	if !found {
		t.Errorf("input latency: %+v", s.Latency)
	}
	// Findings per rule: the faults trace has errors.
	code, out, _ = wsp(t, nil, "stats", "../../analysis/testdata/faults.jsonl")
	if code != 0 || !regexp.MustCompile(`findings \d+ errors`).MatchString(out) || !strings.Contains(out, "orphan-response") {
		t.Errorf("faults stats: exit %d\n%s", code, out)
	}
}

// TestCLITokenFromEnv: the client takes $LETTA_API_KEY when -token is not
// given; a refused token is a connection error (exit 2) on one line.
func TestCLITokenFromEnv(t *testing.T) {
	sim := exec.Command(wsproxyBin, "sim", "-listen", "127.0.0.1:0", "-token", "s3cret")
	stdout, _ := sim.StdoutPipe()
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Process.Kill()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatal("sim printed nothing")
	}
	m := regexp.MustCompile(`http://\S+`).FindString(sc.Text())
	go func() {
		for sc.Scan() {
		}
	}()
	code, out, errs := wsp(t, []string{"LETTA_API_KEY=s3cret"}, "client", m, "-q")
	if code != 0 || !strings.HasPrefix(out, "PASS") {
		t.Errorf("with $LETTA_API_KEY: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = wsp(t, []string{"LETTA_API_KEY=wrong"}, "client", m)
	if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "401") {
		t.Errorf("wrong token: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	code, _, _ = wsp(t, []string{"LETTA_API_KEY=wrong"}, "client", "-token", "s3cret", "-q", m)
	if code != 0 {
		t.Errorf("-token over $LETTA_API_KEY: exit %d", code)
	}
	sim.Process.Signal(syscall.SIGINT)
	if err := sim.Wait(); err != nil {
		t.Errorf("sim after SIGINT: %v", err)
	}
}

// stutters reports a message that names the same thing twice in a row,
// such as "wsproxy client: client: …".
func stutters(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		parts := strings.Split(line, ": ")
		for i := 1; i < len(parts); i++ {
			prev := parts[i-1][strings.LastIndexByte(parts[i-1], ' ')+1:]
			if prev != "" && prev == parts[i] {
				return true
			}
		}
	}
	return false
}

func TestStutters(t *testing.T) {
	for s, want := range map[string]bool{
		"wsproxy client: client: GET": true, "sim: sim: listen on x": true, "wsproxy: -out x: a file": false,
		"wsproxy check: unknown rule \"x\" in -disable (wsproxy check -rules lists them)": false,
	} {
		if stutters(s) != want {
			t.Errorf("stutters(%q) = %v", s, !want)
		}
	}
}

func TestCLIGrep(t *testing.T) {
	const files = "../../traces/sim-files-models.jsonl.zst"
	code, out, errs := wsp(t, nil, "grep", "type:read_file from:client", files)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || errs != "" || len(lines) == 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, l := range lines {
		if !regexp.MustCompile(`^\s+\d+\s+\d+\.\d{6} c\d+\s+→ read_file\s+req=`).MatchString(l) {
			t.Errorf("line %q", l)
		}
	}
	// Findings by rule, from the checker.
	code, out, _ = wsp(t, nil, "grep", "rule:orphan-response", "../../analysis/testdata/faults.jsonl")
	if code != 0 || !regexp.MustCompile(`^\s+12 .* ← read_file_response\s+req=rf-9`).MatchString(out) || strings.Count(out, "\n") != 1 {
		t.Errorf("rule:orphan-response: exit %d\n%s", code, out)
	}
	// A negated first term goes after -e.
	code, out, _ = wsp(t, nil, "grep", "-e", "-type:ack -type:ping -type:pong conn:c1", sample, "-format", "jsonl")
	if code != 0 || strings.Contains(out, `"type":"ack"`) || strings.Contains(out, `"conn":"c2"`) {
		t.Errorf("-e: exit %d", code)
	}
	if code, out, _ := wsp(t, nil, "grep", "type:no_such_type", sample); code != 1 || out != "" {
		t.Errorf("no match: exit %d %q", code, out)
	}
	if code, _, errs := wsp(t, nil, "grep", "typ:x", sample); code != 2 || !strings.Contains(errs, `term 1 "typ:x" at offset 0: unknown key "typ"`) {
		t.Errorf("bad filter: exit %d %s", code, errs)
	}
	// -o writes a trace that reads, with the kept connections' open and
	// close records, and checks like the original for what it kept.
	cut := filepath.Join(t.TempDir(), "cut.jsonl.zst")
	if code, out, errs := wsp(t, nil, "grep", "conn:c1 type:sync*", sample, "-o", cut); code != 0 || out != "" {
		t.Fatalf("-o: exit %d %s %s", code, out, errs)
	}
	code, out, _ = wsp(t, nil, "cat", cut)
	got := regexp.MustCompile(`c1\s+[·→←] (\w+)`).FindAllStringSubmatch(out, -1)
	var types []string
	for _, m := range got {
		types = append(types, m[1])
	}
	if code != 0 || strings.Join(types, " ") != "open sync sync_response close" {
		t.Errorf("excerpt: exit %d %v\n%s", code, types, out)
	}
	if st, err := os.Stat(cut); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("excerpt file: %v %v", st, err)
	}
	if code, _, errs := wsp(t, nil, "grep", "conn:c1", sample, "-o", filepath.Join(t.TempDir(), "cut.txt")); code != 2 || !strings.Contains(errs, "want a trace name") {
		t.Errorf("-o cut.txt: exit %d %s", code, errs)
	}
}

// TestCLIRedactPlantedSecret plants secrets everywhere a trace can hold
// them and checks that none survives in the output's bytes, that the
// output is a valid trace, and that it checks exactly as the input.
func TestCLIRedactPlantedSecret(t *testing.T) {
	const secret = "PLANTED-5ec2e7"
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl.zst")
	w, err := recorder.Create(in, recorder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	frame := func(ms int, from trace.Side, op trace.Op, p string) *trace.Record {
		return &trace.Record{Kind: trace.KindFrame, T: at(ms), Conn: "c1", From: from, Op: op, Payload: []byte(p), Size: len(p)}
	}
	recs := []*trace.Record{
		trace.NewHeader("wsproxy", "test", trace.SourceProxy, t0),
		{Kind: trace.KindHTTP, T: at(0), Conn: "h1", HTTP: &trace.HTTP{Method: "GET", URL: "/v1/environments?note=" + secret, Status: 200,
			RequestHeaders:  map[string][]string{"Authorization": {"Bearer " + secret}, "X-Note": {"x " + secret}},
			ResponseHeaders: map[string][]string{"Content-Type": {"application/json"}},
			ResponseBody:    &trace.Body{Data: []byte(`{"connections":[{"name":"/home/alice/` + secret + `"}]}`), Size: 50}}},
		{Kind: trace.KindOpen, T: at(1), Conn: "c1", Open: &trace.Open{
			URL:     "/v1/environments/conn-1/status/ws?agentId=a&conversationId=default&channel=control&token=" + secret,
			Headers: map[string][]string{"Cookie": {"s=" + secret}, "User-Agent": {"ua " + secret}}, Upstream: "ws://127.0.0.1:1", Client: "127.0.0.1:2"}},
		frame(2, trace.Client, trace.OpText, `{"type":"read_file","request_id":"rf-1","path":"/home/alice/`+secret+`.txt","runtime":{"agent_id":"a","conversation_id":"default"}}`),
		frame(3, trace.Server, trace.OpText, `{"type":"read_file_response","request_id":"rf-1","seq":1,"content":"line 1 `+secret+`\n","success":true}`),
		frame(4, trace.Client, trace.OpText, `{"type":"ack","seq":1}`),
		frame(5, trace.Server, trace.OpText, `{"type":"stream_delta","seq":2,"event_seq":1,"idempotency_key":"k1","delta":{"text":"PLANTED-\u00355ec2e7 in an escape","`+secret+`":1}}`),
		frame(6, trace.Client, trace.OpText, `{"type":"ack","seq":2}`),
		frame(7, trace.Client, trace.OpText, `not json `+secret),
		frame(8, trace.Server, trace.OpBinary, "\x00\x01"+secret),
		frame(9, trace.Client, trace.OpText, `{"type":"secret_apply","request_id":"sa-1","set":{"API":"`+secret+`"}}`),
		{Kind: trace.KindError, T: at(10), Conn: "c1", Message: "upstream said " + secret},
		{Kind: trace.KindClose, T: at(11), Conn: "c1", By: trace.Client, Code: 1000, Reason: "bye " + secret},
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.json")
	os.WriteFile(rules, []byte(`{"members":["content"],"patterns":["PLANTED-[0-9a-f]+","/home/[^/\"]+"]}`), 0o600)
	for _, out := range []string{filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "out.jsonl.zst")} {
		code, stdout, errs := wsp(t, nil, "redact", "-rules", rules, in, "-o", out)
		if code != 0 || !strings.Contains(stdout, "10 of 12 records changed") {
			t.Fatalf("redact: exit %d\n%s\n%s", code, stdout, errs)
		}
		raw, _ := os.ReadFile(out)
		if strings.HasSuffix(out, ".zst") {
			dec, _ := zstd.NewReader(nil)
			if raw, err = dec.DecodeAll(raw, nil); err != nil {
				t.Fatal(err)
			}
			dec.Close()
		}
		for _, bad := range []string{secret, "5ec2e7", "alice", base64.StdEncoding.EncodeToString([]byte(secret))[:12]} {
			if bytes.Contains(raw, []byte(bad)) {
				t.Errorf("%s: %q survived:\n%s", out, bad, raw)
			}
		}
		// Every payload, decoded, is clean too, and ids are untouched.
		rd, err := recorder.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			r, err := rd.Next()
			if err != nil {
				break
			}
			n++
			if bytes.Contains(r.Payload, []byte("5ec2e7")) {
				t.Errorf("payload at line %d: %q", r.Line, r.Payload)
			}
		}
		rd.Close()
		if n != 12 || rd.Header().Secrets != "redacted" {
			t.Errorf("%d records, header %+v", n, rd.Header())
		}
		_, a, _ := wsp(t, nil, "check", in, "-format", "json")
		_, b, _ := wsp(t, nil, "check", out, "-format", "json")
		if a == "" || findingsOf(t, a) != findingsOf(t, b) {
			t.Errorf("checks differ:\n%s\n%s", a, b)
		}
	}
	if code, _, errs := wsp(t, nil, "redact", in, "-o", in); code != 2 || !strings.Contains(errs, "is the input") {
		t.Errorf("-o IN: exit %d %s", code, errs)
	}
	os.WriteFile(rules, []byte(`{"members":["request_id"]}`), 0o600)
	if code, _, errs := wsp(t, nil, "redact", "-rules", rules, in, "-o", filepath.Join(dir, "x.jsonl")); code != 2 || !strings.Contains(errs, `member "request_id" carries a message's identity`) {
		t.Errorf("protected rule: exit %d %s", code, errs)
	}
	os.WriteFile(rules, []byte(`{"patterns":["(unclosed"]}`), 0o600)
	if code, _, errs := wsp(t, nil, "redact", "-rules", rules, in, "-o", filepath.Join(dir, "x.jsonl")); code != 2 || !strings.Contains(errs, "rules.json: pattern \"(unclosed\"") {
		t.Errorf("bad pattern: exit %d %s", code, errs)
	}
	os.WriteFile(rules, []byte(`{"members":["a"],}`), 0o600)
	if code, _, errs := wsp(t, nil, "redact", "-rules", rules, in, "-o", filepath.Join(dir, "x.jsonl")); code != 2 || !strings.Contains(errs, "byte offset") {
		t.Errorf("bad JSON: exit %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.jsonl")); err == nil {
		t.Error("a failed redact created its output")
	}
}

// findingsOf returns the findings of check -format json without file
// names, one per line, the planted secret in messages (which quote
// payloads and errors) replaced as redact replaces it.
func findingsOf(t *testing.T, js string) string {
	t.Helper()
	var doc struct {
		Findings []struct {
			Rule, Message, Conn string
			Line                int64
		}
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range doc.Findings {
		msg := regexp.MustCompile(`PLANTED-[0-9a-f]+`).ReplaceAllString(f.Message, "[REDACTED]")
		if f.Rule == "binary-frame" {
			// The checker quotes the stored payload's length, not the
			// size received (r.Size): see the report to the lead.
			msg = regexp.MustCompile(`\(\d+ bytes\)`).ReplaceAllString(msg, "(N bytes)")
		}
		fmt.Fprintf(&b, "%d %s %s %s\n", f.Line, f.Conn, f.Rule, msg)
	}
	return b.String()
}

// TestCLIHARRoundTrip: export a sample to HAR, import it back, and the
// imported trace has the same data frames and checks clean; the Chrome
// format fixture imports with its token redacted.
func TestCLIHARRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h := filepath.Join(dir, "s.har")
	if code, out, errs := wsp(t, nil, "export", "-format", "har", sample, "-o", h); code != 0 || out != "" {
		t.Fatalf("export: exit %d %s %s", code, out, errs)
	}
	var doc struct {
		Log struct {
			Version string
			Entries []struct {
				ResourceType string `json:"_resourceType"`
				Messages     []struct {
					Type   string
					Time   float64
					Opcode int
				} `json:"_webSocketMessages"`
			}
		}
	}
	b, _ := os.ReadFile(h)
	if err := json.Unmarshal(b, &doc); err != nil || doc.Log.Version != "1.2" || len(doc.Log.Entries) != 3 {
		t.Fatalf("HAR: %v %+v", err, doc.Log.Version)
	}
	msgs := 0
	for _, e := range doc.Log.Entries {
		for _, m := range e.Messages {
			msgs++
			if (m.Type != "send" && m.Type != "receive") || m.Opcode != 1 || m.Time < 1.7e9 {
				t.Fatalf("message %+v", m)
			}
		}
	}
	code, out, errs := wsp(t, nil, "import-har", h, "-out", dir)
	if code != 0 || !strings.Contains(out, "s.jsonl.zst") {
		t.Fatalf("import-har: exit %d %s %s", code, out, errs)
	}
	back := filepath.Join(dir, "s.jsonl.zst")
	_, orig, _ := wsp(t, nil, "grep", "kind:frame -op:close", sample, "-format", "jsonl")
	_, got, _ := wsp(t, nil, "grep", "kind:frame", back, "-format", "jsonl")
	if n := strings.Count(got, "\n"); n != msgs || n != strings.Count(orig, "\n") {
		t.Errorf("frames: %d imported, %d in the HAR, %d in the trace", n, msgs, strings.Count(orig, "\n"))
	}
	if code, out, _ := wsp(t, nil, "check", back); code != 0 || !strings.Contains(out, "0 error(s)") {
		t.Errorf("imported trace: exit %d\n%s", code, out)
	}
	// The Chrome-format fixture: its token never reaches the trace.
	fx := filepath.Join(dir, "chrome.jsonl")
	if code, _, errs := wsp(t, nil, "import-har", "../../har/testdata/chrome-format.har", "-out", fx); code != 0 {
		t.Fatalf("fixture: exit %d %s", code, errs)
	}
	raw, _ := os.ReadFile(fx)
	if bytes.Contains(raw, []byte("sk-chrome-fixture-token")) || !bytes.Contains(raw, []byte(`"source":"import"`)) {
		t.Errorf("fixture trace:\n%s", raw)
	}
	if code, out, _ := wsp(t, nil, "cat", fx); code != 0 || strings.Count(out, " c1 ") != 10 {
		t.Errorf("fixture cat: exit %d\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.har")
	os.WriteFile(bad, []byte(`{"log": {"entries": [}`), 0o600)
	if code, _, errs := wsp(t, nil, "import-har", bad, "-out", dir); code != 2 || !strings.Contains(errs, "bad.har: not a HAR file: byte offset 22") {
		t.Errorf("bad HAR: exit %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.jsonl.zst")); err == nil {
		t.Error("a bad HAR left a trace behind")
	}
	if code, _, errs := wsp(t, nil, "export", sample, "-format", "csv", "-o", h); code != 2 || !strings.Contains(errs, "want har") {
		t.Errorf("export -format csv: exit %d %s", code, errs)
	}
}

// startProcess runs the built binary until the test ends and returns the
// first stdout line matching re (its first group), reading the rest in
// the background.
func startProcess(t *testing.T, re string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(wsproxyBin, args...)
	stdout, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	rx := regexp.MustCompile(re)
	for sc.Scan() {
		if m := rx.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, m[1]
		}
	}
	t.Fatalf("%v: no line matching %s; stderr:\n%s", args, re, errb.String())
	return nil, ""
}

// TestCLITLSEndToEnd: the proxy serves wss:// with a self-signed
// certificate written to a file, the reference client trusts it with -ca
// (or -insecure), and without either it fails once, saying what to do.
func TestCLITLSEndToEnd(t *testing.T) {
	dir := t.TempDir()
	_, simURL := startProcess(t, `^simulated environment\s+(http://\S+)`, "sim", "-listen", "127.0.0.1:0", "-token", "tok")
	cert := filepath.Join(dir, "cert.pem")
	upstream := strings.Replace(simURL, "http://", "ws://", 1)
	_, addr := startProcess(t, `listening on wss://(\S+)`, "-listen", "127.0.0.1:0", "-upstream", upstream,
		"-tls-self-signed", "-tls-cert-out", cert, "-out", filepath.Join(dir, "run.jsonl.zst"), "-q")
	pem, err := os.ReadFile(cert)
	if err != nil || !bytes.HasPrefix(pem, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Fatalf("certificate file: %v %q", err, pem)
	}
	code, out, errs := wsp(t, []string{"LETTA_API_KEY=tok"}, "client", "-q", "-ca", cert, "https://"+addr)
	if code != 0 || !strings.HasPrefix(out, "PASS") {
		t.Errorf("-ca: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = wsp(t, []string{"LETTA_API_KEY=tok"}, "client", "-q", "-insecure", "wss://"+addr)
	if code != 0 || !strings.HasPrefix(out, "PASS") {
		t.Errorf("-insecure: exit %d\n%s", code, out)
	}
	code, out, errs = wsp(t, []string{"LETTA_API_KEY=tok"}, "client", "https://"+addr)
	if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "certificate") || !strings.Contains(errs, "-ca FILE") {
		t.Errorf("untrusted: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	if code, _, errs := wsp(t, nil, "client", "-ca", filepath.Join(dir, "run.jsonl.zst"), "https://"+addr); code != 2 || !strings.Contains(errs, "-ca") {
		t.Errorf("-ca of a missing/non-PEM file: exit %d %s", code, errs)
	}
}

// TestCLIPortInUse: every server exits 2 on a port in use, saying so once.
func TestCLIPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	for _, args := range [][]string{
		{"sim", "-listen", busy},
		{"replay", "-listen", busy, sample},
		{"-listen", busy, "-upstream", "ws://127.0.0.1:1", "-out", filepath.Join(t.TempDir(), "x.jsonl")},
	} {
		code, _, errs := wsp(t, nil, args...)
		if code != 2 || strings.Count(errs, "address already in use") != 1 || strings.Count(errs, "listen") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestImportIfHAR: content detection for wsproxy import (see the report
// to the lead: the capture import calls it first).
func TestImportIfHAR(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	handled, err := importIfHAR("../../har/testdata/chrome-format.har", dir, false, &out, false)
	if !handled || err != nil || !strings.Contains(out.String(), "chrome-format.jsonl.zst: 11 records") {
		t.Fatalf("HAR: %v %v %q", handled, err, out.String())
	}
	for _, notHAR := range []string{sample, "../../analysis/testdata/faults.jsonl", filepath.Join(dir, "missing.pcap")} {
		if handled, err := importIfHAR(notHAR, dir, false, &out, true); handled || err != nil {
			t.Errorf("%s: handled %v, %v", notHAR, handled, err)
		}
	}
}
