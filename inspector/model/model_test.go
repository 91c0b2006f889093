package model

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/analysis"
	"github.com/lettadev/wsproxy/filter"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/view"
)

func sample(t testing.TB, name string) *Model {
	t.Helper()
	m, err := LoadAll([]string{filepath.Join("..", "..", "traces", name)}, analysis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadSample(t *testing.T) {
	m := sample(t, "sim-turn-approval.jsonl.zst")
	if !m.Progress().Done || m.Len() == 0 {
		t.Fatalf("progress %+v, %d rows", m.Progress(), m.Len())
	}
	// Every row round-trips to its record's line and type.
	types := map[string]int{}
	for i := 0; i < m.Len(); i++ {
		r := m.Row(i)
		if r.Line != int64(i+2) {
			t.Fatalf("row %d has line %d, want %d", i, r.Line, i+2)
		}
		types[m.Type(&r)]++
	}
	if types["stream_delta"] == 0 || types["control_request"] == 0 || types["ack"] == 0 {
		t.Errorf("types %v", types)
	}
	rec := m.Record(3)
	if rec.Kind != trace.KindFrame || !strings.Contains(string(rec.Payload), `"type":"sync"`) {
		t.Errorf("record 3 = %+v %s", rec, rec.Payload)
	}
	conns := m.Conns()
	if len(conns) != 3 || conns[0].ID != "h1" || conns[1].ID != "c1" || conns[2].ID != "c2" || conns[1].Session.Channel != "control" {
		t.Errorf("conns %+v", conns)
	}
}

func TestMatch(t *testing.T) {
	m := sample(t, "sim-turn-approval.jsonl.zst")
	all := m.Match(Query{}, 0)
	if len(all) != m.Len() {
		t.Fatalf("empty query matched %d of %d", len(all), m.Len())
	}
	d := m.Match(Query{Filter: filter.MustParse("type:stream_delta")}, 0)
	for _, i := range d {
		r := m.Row(i)
		if m.Type(&r) != "stream_delta" {
			t.Fatalf("row %d is %s", i, m.Type(&r))
		}
	}
	txt := m.Match(Query{Filter: filter.MustParse(`"ls -la"`)}, 0)
	if len(txt) == 0 {
		t.Fatal("free text found nothing")
	}
	for _, i := range txt {
		if !strings.Contains(string(m.Payload(i)), "ls -la") {
			t.Fatalf("row %d does not contain the text: %s", i, m.Payload(i))
		}
	}
	c2 := m.Match(Query{Conn: "c2", Filter: filter.MustParse("from:client")}, 0)
	for _, i := range c2 {
		r := m.Row(i)
		if m.ConnID(&r) != "c2" || r.From() != trace.Client {
			t.Fatalf("row %d: %s %s", i, m.ConnID(&r), r.From())
		}
	}
	if len(c2) == 0 || len(d) == 0 {
		t.Fatal("nothing matched")
	}
}

func TestPartner(t *testing.T) {
	m := sample(t, "sim-turn-approval.jsonl.zst")
	req := m.Match(Query{Filter: filter.MustParse("type:sync")}, 0)[0]
	rep, what := m.Partner(req)
	r := m.Row(rep)
	if m.Type(&r) != "sync_response" || what != "reply" {
		t.Fatalf("partner of sync is %d %s (%s)", rep, m.Type(&r), what)
	}
	back, _ := m.Partner(rep)
	if back != req {
		t.Fatalf("partner of the reply is %d, want %d", back, req)
	}
	cr := m.Match(Query{Filter: filter.MustParse("type:control_request")}, 0)[0]
	ans, _ := m.Partner(cr)
	if _, ok := m.appr[ans]; !ok {
		t.Fatalf("partner of control_request is %d, not an approval", ans)
	}
	if b, _ := m.Partner(ans); b != cr {
		t.Fatalf("partner of the approval is %d, want %d", b, cr)
	}
	seq := m.Match(Query{Filter: filter.MustParse("conn:c2 from:server seq:5")}, 0)[0]
	ack, _ := m.Partner(seq)
	r = m.Row(ack)
	if m.Type(&r) != "ack" || r.Seq != 5 || m.ConnID(&r) != "c2" {
		t.Fatalf("ack of seq 5 is row %d %s %d", ack, m.Type(&r), r.Seq)
	}
}

func TestTurnAndStats(t *testing.T) {
	m := sample(t, "sim-turn-approval.jsonl.zst")
	cr := m.Match(Query{Filter: filter.MustParse("type:control_request")}, 0)[0]
	turn, ok := m.TurnAt(cr)
	if !ok {
		t.Fatal("no turn")
	}
	if turn.Prompt != "please run ls -la" || len(turn.Waits) != 1 || turn.Waits[0].Tool != "Bash" || turn.Waits[0].Answer < 0 ||
		!strings.Contains(turn.Text, "I need to run a command for that.\nThe command ran") || len(turn.Statuses) == 0 {
		t.Fatalf("turn %+v", turn)
	}
	st := m.Stats()
	if st.All.Frames == 0 || len(st.Latencies) == 0 || len(st.Types) == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// The inspector's statistics pane and wsproxy stats pair requests with
// replies by one definition (protocol.Pending): same commands, same
// counts, same latencies, on every committed trace.
func TestStatsAgreeWithWsproxyStats(t *testing.T) {
	files, _ := filepath.Glob("../../traces/*.jsonl.zst")
	if len(files) < 5 {
		t.Fatalf("traces: %v", files)
	}
	for _, f := range files {
		m, err := LoadAll([]string{f}, analysis.Config{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, l := range m.Stats().Latencies {
			got[l.Command] = fmt.Sprintf("n=%d p50=%.3f max=%.3f", l.N, float64(l.P50.Microseconds())/1000, float64(l.Max.Microseconds())/1000)
		}
		c := view.NewCollector(nil)
		rd, err := recorder.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			r, err := rd.Next()
			if err != nil {
				break
			}
			c.Write(r)
		}
		rd.Close()
		want := map[string]string{}
		for _, l := range c.Result().Latency {
			if l.Answered > 0 {
				want[l.Command] = fmt.Sprintf("n=%d p50=%.3f max=%.3f", l.Answered, l.P50, l.Max)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: inspector latencies\n  %v\nwsproxy stats\n  %v", filepath.Base(f), got, want)
		}
	}
}

func TestFindings(t *testing.T) {
	m, err := LoadAll([]string{"../../analysis/testdata/faults.jsonl"}, analysis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fs := m.Findings()
	if len(fs) == 0 {
		t.Fatal("no findings")
	}
	for _, f := range fs {
		if f.Row < 0 {
			continue
		}
		r := m.Row(f.Row)
		if r.Line != f.Line {
			t.Fatalf("finding %v on row %d with line %d", f, f.Row, r.Line)
		}
		found := false
		for _, id := range m.Rules(&r) {
			found = found || id == f.Rule
		}
		if !found {
			t.Fatalf("row %d does not carry rule %s", f.Row, f.Rule)
		}
	}
	k := m.NextFinding(nil, -1, false)
	if k < 0 || len(m.FindingsAt(k)) == 0 {
		t.Fatalf("NextFinding = %d", k)
	}
	got := m.Match(Query{Filter: filter.MustParse("rule:*")}, 0)
	if len(got) == 0 || got[0] != k {
		t.Fatalf("rule:* = %v, first finding row %d", got, k)
	}
}

// Connections of two traces (two runs) stay apart: the second trace's
// c1 is c1@2, with its own rows and findings; filters on conn: match both.
func TestSeveralTracesKeepConnectionsApart(t *testing.T) {
	m, err := LoadAll([]string{filepath.Join("..", "..", "traces", "sim-turn-approval.jsonl.zst"), "../../analysis/testdata/faults.jsonl"}, analysis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]Conn{}
	for _, c := range m.Conns() {
		keys[c.Key] = c
	}
	first, second := keys["c1"], keys["c1@2"]
	if first.ID != "c1" || second.ID != "c1" || first.Frames == 0 || second.Frames == 0 || second.End.Before(second.Start) {
		t.Fatalf("conns %+v", keys)
	}
	if second.Findings == 0 || first.Findings != 0 {
		t.Errorf("findings: first trace's c1 %d, second's %d", first.Findings, second.Findings)
	}
	only := m.Match(Query{Conn: "c1@2"}, 0)
	if len(only) != second.Frames+2 { // its open and close records too
		t.Errorf("c1@2 has %d rows, %d frames", len(only), second.Frames)
	}
	both := m.Match(Query{Filter: filter.MustParse("conn:c1")}, 0)
	if len(both) != len(only)+len(m.Match(Query{Conn: "c1"}, 0)) {
		t.Errorf("conn:c1 matched %d rows", len(both))
	}
}

// The rotated parts of one run are one stream: its connections continue
// across the parts (c1, not c1@2), and the checker sees one stream.
func TestRotatedPartsContinue(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	write := func(name string, part int, recs ...*trace.Record) string {
		path := filepath.Join(dir, name)
		w, err := recorder.Create(path, recorder.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h := trace.NewHeader("test", "0", trace.SourceProxy, t0)
		h.Header.Part = part
		w.Write(h)
		for _, r := range recs {
			w.Write(r)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	frame := func(n int64, from trace.Side, p string) *trace.Record {
		return &trace.Record{Kind: trace.KindFrame, T: t0.Add(time.Duration(n) * time.Millisecond), Conn: "c1", N: n, From: from,
			Op: trace.OpText, Payload: []byte(p), Form: trace.FormMsg, Size: len(p)}
	}
	open := &trace.Record{Kind: trace.KindOpen, T: t0, Conn: "c1", N: 1, Open: &trace.Open{URL: "/ws"}}
	p1 := write("run.part1.jsonl.zst", 1, open, frame(2, trace.Client, `{"type":"read_file","request_id":"r1","path":"/a"}`))
	p2 := write("run.part2.jsonl.zst", 2, frame(3, trace.Server, `{"type":"read_file_response","request_id":"r1","success":true}`))
	m, err := LoadAll([]string{p1, p2}, analysis.Config{})
	if err != nil {
		t.Fatal(err)
	}
	conns := m.Conns()
	if len(conns) != 1 || conns[0].Key != "c1" || conns[0].Frames != 2 {
		t.Fatalf("conns %+v", conns)
	}
	// The reply in part 2 answers the request in part 1: no orphan, no
	// unmatched request, and m pairs them across the files.
	for _, f := range m.Findings() {
		if f.Rule == "orphan-response" || f.Rule == "unmatched-request" {
			t.Errorf("finding across parts: %v", f)
		}
	}
	if j, what := m.Partner(1); j != 2 || what != "reply" {
		t.Errorf("partner of the request: %d %q", j, what)
	}
}
