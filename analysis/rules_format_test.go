package analysis

import (
	"testing"

	"github.com/lettadev/wsproxy/trace"
)

func TestFormatRules(t *testing.T) {
	cfg := only(RuleInvalidJSON, RuleUnknownType, RuleMissingField, RuleBinaryFrame, RuleFrameError)
	t.Run("clean", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		s.client("c", `{"type":"listener_ready","connection_attempt":1}`)
		s.client("c", `{"type":"sync",`+rt+`}`)
		s.client("c", `{"type":"read_file","request_id":"rf-1"}`)
		s.client("c", `{"type":"list_in_directory","path":"/"}`)
		s.client("c", `{"type":"ack","seq":3}`)
		s.server("c", ev("update_loop_status", 1, `"loop_status":{"status":"WAITING_ON_INPUT"}`))
		s.server("c", `{"type":"file_changed","path":"/a"}`)
		s.op("c", trace.Client, trace.OpClose, "")
		none(t, s.run(cfg))
	})
	t.Run("findings", func(t *testing.T) {
		s := newScript()
		s.open("c", "conn-1", "control")
		bad := s.client("c", `{"type":"sync",`)
		text := s.client("c", `hello`)
		unk := s.client("c", `{"type":"totally_unknown_command","request_id":"u-1"}`)
		notype := s.server("c", `{"request_id":"x"}`)
		nort := s.client("c", `{"type":"sync"}`)
		norid := s.client("c", `{"type":"read_file","path":"/a"}`)
		noseq := s.server("c", `{"type":"update_loop_status",`+rt+`,"loop_status":{}}`)
		noack := s.client("c", `{"type":"ack"}`)
		bin := s.op("c", trace.Server, trace.OpBinary, "\x00\x01")
		fe := s.errorRec("c", "invalid UTF-8 in a text frame")
		fs := s.run(cfg)
		inv := want(t, fs, RuleInvalidJSON, 2)
		check(t, inv[0], Warning, bad, 0, "")
		check(t, inv[1], Warning, text, 0, "")
		check(t, want(t, fs, RuleUnknownType, 1)[0], Warning, unk, 0, "totally_unknown_command")
		mf := want(t, fs, RuleMissingField, 5)
		for i, w := range []struct {
			line    int64
			subject string
		}{{notype, "type"}, {nort, "runtime"}, {norid, "request_id"}, {noseq, "event_seq"}, {noack, "seq"}} {
			check(t, mf[i], Warning, w.line, 0, w.subject)
		}
		check(t, want(t, fs, RuleBinaryFrame, 1)[0], Warning, bin, 0, "")
		f := want(t, fs, RuleFrameError, 1)
		check(t, f[0], Warning, fe, 0, "")
		if f[0].Message != "invalid UTF-8 in a text frame" {
			t.Fatal(f[0].Message)
		}
	})
}
