package analysis

import (
	"strings"
	"testing"
	"time"
)

func TestUnmatchedRequest(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
		s.after(time.Second).server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
		s.client("c", `{"type":"abort_message",`+rt+`,"request_id":"ab-1"}`)
		s.server("c", `{"type":"cancel_ack","request_id":"ab-1"}`) // the legacy variant
		s.client("c", `{"type":"abort_message",`+rt+`,"request_id":"ab-2"}`)
		s.server("c", `{"type":"abort_message_response","request_id":"ab-2"}`)
		s.close("c")
		none(t, s.run(quiet()))
	})
	t.Run("never answered", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
		cl := s.after(time.Second).close("c")
		f := want(t, s.run(quiet()), RuleUnmatchedRequest, 1)
		check(t, f[0], Error, l, cl, "rf-1")
	})
	t.Run("answered late", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
		r := s.after(31*time.Second).server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
		fs := s.run(quiet())
		check(t, want(t, fs, RuleUnmatchedRequest, 1)[0], Error, l, r, "rf-1")
		if len(fs) != 1 {
			t.Fatalf("findings:%s", dump(fs))
		}
	})
	t.Run("timeout, then a late reply", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
		s.after(31*time.Second).client("c", `{"type":"ping"}`)
		s.after(time.Second).server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
		fs := s.run(quiet())
		check(t, want(t, fs, RuleUnmatchedRequest, 1)[0], Error, l, 0, "rf-1")
		want(t, fs, RuleOrphanResponse, 0)
	})
	t.Run("optional replies", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.client("c", `{"type":"sync",`+rt+`,"request_id":"sync-1"}`)
		s.client("c", `{"type":"input",`+rt+`,"request_id":"in-1","payload":{"kind":"create_message"}}`)
		s.client("c", `{"type":"sync",`+rt+`,"request_id":"sync-2"}`)
		s.server("c", `{"type":"sync_response","request_id":"sync-2",`+rt+`,"success":true}`)
		s.client("c", `{"type":"terminal_kill","terminal_id":"t-9"}`)
		s.after(40 * time.Second).close("c")
		none(t, s.run(quiet()))
	})
	t.Run("terminal_spawn by terminal_id", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.client("c", `{"type":"terminal_spawn","terminal_id":"term-1","cols":80,"rows":24}`)
		s.server("c", `{"type":"terminal_spawned","terminal_id":"term-1"}`)
		s.server("c", `{"type":"terminal_output","terminal_id":"term-1","data":"$ "}`)
		s.server("c", `{"type":"terminal_exited","terminal_id":"term-1","exit_code":0}`)
		l := s.client("c", `{"type":"terminal_spawn","terminal_id":"term-2"}`)
		s.close("c")
		fs := s.run(quiet())
		check(t, want(t, fs, RuleUnmatchedRequest, 1)[0], Error, l, l+1, "term-2")
		if len(fs) != 1 {
			t.Fatalf("findings:%s", dump(fs))
		}
	})
	t.Run("settled by an error event", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.client("c", `{"type":"update_model",`+rt+`,"request_id":"um-1","payload":{}}`)
		s.server("c", `{"type":"error","request_id":"um-1","message":"no such model"}`)
		s.close("c")
		none(t, s.run(quiet()))
	})
	t.Run("commands without request_id match replies without one", func(t *testing.T) {
		s := newScript()
		s.open("c", "", "")
		s.client("c", `{"type":"list_in_directory","path":"/"}`)
		s.server("c", `{"type":"list_in_directory_response","path":"/","entries":[]}`)
		s.close("c")
		none(t, s.run(quiet()))
	})
}

func TestOrphanResponse(t *testing.T) {
	s := newScript()
	s.open("c", "conn-1", "control")
	s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
	s.server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
	s.server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`) // repeated: not orphan
	l := s.server("c", `{"type":"read_file_response","request_id":"orphan-1","success":true}`)
	lt := s.server("c", `{"type":"terminal_spawned","terminal_id":"term-x"}`)
	ln := s.server("c", `{"type":"get_tree_response","success":true}`)
	s.client("c", `{"type":"change_device_state",`+rt+`,"payload":{"cwd":"/w"}}`)
	s.server("c", `{"type":"cwd_changed","cwd":"/w"}`) // set off by change_device_state
	fs := s.run(quiet())
	f := want(t, fs, RuleOrphanResponse, 3)
	check(t, f[0], Error, l, 0, "orphan-1")
	check(t, f[1], Error, lt, 0, "term-x")
	check(t, f[2], Error, ln, 0, "")
	if len(fs) != 3 {
		t.Fatalf("findings:%s", dump(fs))
	}

	t.Run("replies are per socket", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.open("s", "conn-1", "stream")
		s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
		l := s.server("s", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
		s.close("c")
		s.close("s")
		fs := s.run(quiet())
		check(t, want(t, fs, RuleOrphanResponse, 1)[0], Error, l, 0, "rf-1")
		want(t, fs, RuleUnmatchedRequest, 1)
	})
}

func TestResponseTypeMismatch(t *testing.T) {
	s := newScript()
	s.open("c", "conn-1", "control")
	l := s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
	r := s.server("c", `{"type":"get_tree_response","request_id":"rf-1","success":true}`)
	s.server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
	s.close("c")
	fs := s.run(quiet())
	f := want(t, fs, RuleResponseMismatch, 1)
	check(t, f[0], Error, r, l, "rf-1")
	if !strings.Contains(f[0].Message, "accepted: read_file_response") {
		t.Fatal(f[0].Message)
	}
	if len(fs) != 1 {
		t.Fatalf("findings:%s", dump(fs))
	}
}

func TestUnansweredApproval(t *testing.T) {
	cr := func(n int64, id string) string {
		return ev("control_request", n, `"request_id":"`+id+`","request":{"subtype":"can_use_tool","tool_name":"Bash"}`)
	}
	answer := func(id string) string {
		return `{"type":"input",` + rt + `,"request_id":"in-` + id + `","payload":{"kind":"approval_response","request_id":"` + id + `","decision":{"behavior":"allow"}}}`
	}
	t.Run("answered on another socket of the session", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.open("s", "conn-1", "stream")
		s.server("c", cr(1, "perm-1"))
		s.close("c")
		s.open("c2", "conn-1", "control")
		s.client("c2", answer("perm-1"))
		s.client("c2", `{"type":"sync",`+rt+`,"recover_approvals":true}`)
		s.server("c2", cr(2, "perm-1")) // re-sent after the sync: the same request
		s.close("c2")
		s.close("s")
		none(t, s.run(quiet()))
	})
	t.Run("never answered", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		l := s.server("c", cr(1, "perm-1"))
		s.server("c", cr(2, "perm-2"))
		s.client("c", answer("perm-2"))
		s.server("c", cr(3, "perm-1")) // re-sent, still the same request
		s.close("c")
		fs := s.run(quiet())
		f := want(t, fs, RuleUnansweredApproval, 1)
		check(t, f[0], Error, l, 0, "perm-1")
		if f[0].Conn != "c" || len(fs) != 1 {
			t.Fatalf("findings:%s", dump(fs))
		}
	})
	t.Run("reported when the session is released", func(t *testing.T) {
		var got []Finding
		e := New(Config{Disable: quiet().Disable, OnFinding: func(f Finding) { got = append(got, f) }})
		s := newScript()
		s.open("c", "conn-1", "control")
		s.server("c", cr(1, "perm-1"))
		s.close("c")
		for _, r := range s.recs {
			e.Write(r)
		}
		e.Advance(t0.Add(time.Minute))
		if len(got) != 0 {
			t.Fatalf("while lingering: %s", dump(got))
		}
		e.Advance(t0.Add(3 * time.Minute))
		if len(of(got, RuleUnansweredApproval)) != 1 {
			t.Fatalf("after the linger: %s", dump(got))
		}
		if st := e.Stats(); st.Sessions != 0 || st.Sockets != 0 {
			t.Fatalf("state kept: %+v", st)
		}
	})
}

func TestDuplicateRequestID(t *testing.T) {
	s := newScript()
	s.open("c", "conn-1", "control")
	s.open("c2", "conn-1", "control")
	l := s.client("c", `{"type":"read_file","request_id":"rf-1","path":"/a"}`)
	s.server("c", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
	s.client("c2", `{"type":"read_file","request_id":"rf-1","path":"/a"}`) // another socket: fine
	s.server("c2", `{"type":"read_file_response","request_id":"rf-1","success":true}`)
	d := s.client("c", `{"type":"get_tree","request_id":"rf-1"}`)
	s.server("c", `{"type":"get_tree_response","request_id":"rf-1","success":true}`)
	fs := s.run(quiet())
	check(t, want(t, fs, RuleDuplicateRequestID, 1)[0], Warning, d, l, "rf-1")
	if len(fs) != 1 {
		t.Fatalf("findings:%s", dump(fs))
	}
}
