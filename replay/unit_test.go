package replay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

func TestRewriteStrings(t *testing.T) {
	m := map[string]string{"perm-1": "perm-live", "agent-old": "agent-new"}
	in := `{"type":"input","runtime":{"agent_id":"agent-old"},"payload":{"kind":"approval_response","request_id":"perm-1","list":["perm-1",{"k":"agent-old"}, 3, null]},"perm-1":true}`
	want := `{"type":"input","runtime":{"agent_id":"agent-new"},"payload":{"kind":"approval_response","request_id":"perm-live","list":["perm-live",{"k":"agent-new"}, 3, null]},"perm-1":true}`
	if got := string(rewriteStrings([]byte(in), m)); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	for _, bad := range []string{`{"a":["perm-1"`, `not json`, ``} {
		if got := string(rewriteStrings([]byte(bad), m)); got != bad {
			t.Errorf("%q rewritten to %q", bad, got)
		}
	}
}

func TestCompare(t *testing.T) {
	c := newComparer([]string{"pid"})
	for _, x := range []struct{ rec, live, want string }{
		{`{"type":"a","seq":1,"event_seq":2,"emitted_at":"x","request_id":"r1","idempotency_key":"a:2:u"}`,
			`{"type":"a","seq":9,"event_seq":7,"emitted_at":"y","request_id":"r2","idempotency_key":"a:7:v"}`, ""},
		{`{"turn_id":"turn-c72e4478-0c64-4050-9c8c-4d38fce07d87","date":"2026-01-01T00:00:00Z","t":"at 2026-11-28T19:06:50.244Z"}`,
			`{"turn_id":"turn-8a8a0b68-d83f-46e0-a8ae-e6048ce2a163","t":"at 2027-01-01T00:00:00.1+02:00"}`, ""},
		{`{"secrets":[{"value":"[REDACTED]"}],"secret":"[REDACTED]"}`, `{"secrets":[{"value":"ghp_x"}],"secret":true}`, ""},
		{`{"entries":[]}`, `{"entries":[{"h":1}]}`, "entries has 1 elements, recorded 0"},
		{`{"a":{"b":1}}`, `{"a":{"b":2}}`, "a.b is 2, recorded 1"},
		{`{"a":1}`, `{"b":1}`, "a missing"},
		{`{"a":1}`, `{"a":1,"b":1}`, "b not in the recording"},
		{`not json`, `not json`, ""},
		{`not json`, `{}`, "payload"},
	} {
		got := c.compare([]byte(x.rec), []byte(x.live), nil)
		if (x.want == "") != (got == "") || !strings.Contains(got, x.want) {
			t.Errorf("compare(%s, %s) = %q, want %q", x.rec, x.live, got, x.want)
		}
	}
	learned := map[string]string{}
	c.compare([]byte(`{"request_id":"perm-1","agent":{"id":"agent-a"},"runtime":{"agent_id":"agent-a"},"x":"same"}`),
		[]byte(`{"request_id":"perm-9","agent":{"id":"agent-b"},"runtime":{"agent_id":"agent-b"},"x":"other"}`), learned)
	if learned["perm-1"] != "perm-9" || learned["agent-a"] != "agent-b" || len(learned) != 2 {
		t.Errorf("learned %v", learned)
	}
}

func TestBuildItem(t *testing.T) {
	f := func(from trace.Side, op trace.Op, p string) *trace.Record {
		return &trace.Record{Kind: trace.KindFrame, From: from, Op: op, Payload: []byte(p), Line: 7}
	}
	// Transport noise is neither sent nor expected, except the server's
	// pings, which a Server replays.
	for _, c := range []struct {
		r    *trace.Record
		ours trace.Side
		keep bool
	}{
		{f(trace.Client, trace.OpText, `{"type":"ack","seq":1}`), trace.Server, false},
		{f(trace.Client, trace.OpText, `{"type":"pong"}`), trace.Server, false},
		{f(trace.Client, trace.OpText, `{"type":"ping"}`), trace.Server, false},
		{f(trace.Server, trace.OpText, `{"type":"pong","timestamp":1}`), trace.Server, false},
		{f(trace.Server, trace.OpText, `{"type":"ping"}`), trace.Server, true},
		{f(trace.Server, trace.OpText, `{"type":"ping"}`), trace.Client, false},
		{f(trace.Client, trace.OpText, `{"type":"ack","seq":1}`), trace.Client, false},
		{f(trace.Server, trace.OpPing, `x`), trace.Server, false},
		{f(trace.Client, trace.OpBinary, "\x00\x01"), trace.Server, true},
		{f(trace.Client, trace.OpText, `{"type":"listener_ready"}`), trace.Server, false},
	} {
		it := buildItem(protocol.DefaultModel, c.r, 0, c.ours, false)
		if (it != nil) != c.keep {
			t.Errorf("%s %s %q (ours %s): kept %v, want %v", c.r.From, c.r.Op, c.r.Payload, c.ours, it != nil, c.keep)
		}
	}
	it := buildItem(protocol.DefaultModel, f(trace.Client, trace.OpText, `{"type":"read_file","request_id":"r\"1"}`), 1, trace.Server, false)
	if it.ours || it.payload != nil || string(it.reqID) != `r"1` || it.typ != "read_file" || it.line != 7 {
		t.Errorf("client item %+v", it)
	}
	it = buildItem(protocol.DefaultModel, &trace.Record{Kind: trace.KindClose, By: trace.Proxy, Code: 1011}, 0, trace.Server, false)
	if it.kind != itemClose || !it.ours || it.code != 1011 {
		t.Errorf("proxy close %+v", it)
	}
}

func TestReorder(t *testing.T) {
	t0 := time.Now()
	var r reorder
	for i, d := range []int{5, 1, 3, 3, 0, 9, 2} {
		r.push(&item{t: t0.Add(time.Duration(d)), line: int64(i)})
	}
	var got []int64
	for r.len() > 0 {
		got = append(got, r.pop().line)
	}
	if want := []int64{4, 1, 6, 2, 3, 0, 5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestSlotFor(t *testing.T) {
	two := &SessionInfo{Conns: []ConnInfo{{Channel: "control"}, {Channel: "stream"}}}
	one := &SessionInfo{Conns: []ConnInfo{{Channel: "single"}}}
	free := func(int) bool { return false }
	for _, c := range []struct {
		info *SessionInfo
		ch   string
		want int
	}{
		{two, "control", 0}, {two, "stream", 1}, {two, "single", -1}, {one, "control", 0}, {one, "single", 0},
	} {
		if got := slotFor(c.info, c.ch, free); got != c.want {
			t.Errorf("slotFor(%d sockets, %s) = %d, want %d", len(c.info.Conns), c.ch, got, c.want)
		}
	}
	if got := slotFor(two, "control", func(i int) bool { return i == 0 }); got != -1 {
		t.Errorf("a taken control socket was handed out again: %d", got)
	}
}

func TestIndexGroupsSessions(t *testing.T) {
	x, err := ReadIndex("../traces/real-device-paired-reconnect.jsonl.zst")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range x.Sessions {
		var conns []string
		for _, c := range s.Conns {
			conns = append(conns, c.Conn+"/"+c.Channel)
		}
		got = append(got, s.Key.ConnectionID+":"+strings.Join(conns, ","))
	}
	want := "conn-stub-1:s1/control,s2/stream conn-stub-1:s3/control,s4/stream conn-stub-2:s5/control,s6/stream conn-stub-2:s7/control,s8/stream"
	if strings.Join(got, " ") != want {
		t.Errorf("sessions %v, want %s", got, want)
	}
	if ids := x.ConnIDs(); len(ids) != 2 {
		t.Errorf("conn ids %v", ids)
	}
	sel, err := x.Select("conn-stub-2", "")
	if err != nil || len(sel) != 2 || sel[0].Number != 3 {
		t.Errorf("select by connection id: %v %v", sel, err)
	}
	sel, err = x.Select("", "s4")
	if err != nil || len(sel) != 1 || sel[0].Number != 2 {
		t.Errorf("select by conn: %v %v", sel, err)
	}
	if _, err := x.Select("", "s99"); err == nil || !strings.Contains(err.Error(), "s1(control)") {
		t.Errorf("a failed selection should list the sessions: %v", err)
	}
}

// Options.Volatile (the CLI's -ignore) takes member names, ignored at any
// depth, and JSON paths from the top.
func TestCompareIgnore(t *testing.T) {
	rec := `{"type":"s","device_status":{"uptime":1,"git":{"branch":"main"}},"list":[{"n":1,"k":"a"},{"n":2,"k":"b"}],"uptime":5}`
	live := `{"type":"s","device_status":{"uptime":9,"git":{"branch":"dev"}},"list":[{"n":7,"k":"a"},{"n":8,"k":"b"}],"uptime":5}`
	for _, x := range []struct {
		ignore []string
		want   string
	}{
		{nil, "device_status.git.branch is"},
		{[]string{"device_status.git.branch"}, "device_status.uptime is"},
		{[]string{"$.device_status.git.branch", "uptime"}, "list[0].n is"},
		{[]string{"device_status.git", "device_status.uptime", "list[*].n"}, ""},
		{[]string{"device_status.git", "device_status.uptime", "list[].n"}, ""},
		{[]string{"device_status.git", "device_status.uptime", "list[0].n"}, "list[1].n is"},
		{[]string{"branch", "uptime", "n"}, ""},
	} {
		got := newComparer(x.ignore).compare([]byte(rec), []byte(live), nil)
		if (x.want == "") != (got == "") || !strings.Contains(got, x.want) {
			t.Errorf("ignore %v: %q, want %q", x.ignore, got, x.want)
		}
	}
	if l, err := ParseIgnore(" a.b , c,,list[*].n"); err != nil || len(l) != 3 {
		t.Errorf("ParseIgnore: %v %v", l, err)
	}
	for _, bad := range []string{"a..b", "a.", "a[0.b", "$"} {
		if _, err := ParseIgnore(bad); err == nil {
			t.Errorf("ParseIgnore(%q): no error", bad)
		}
	}
}
