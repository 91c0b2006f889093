package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/capture/pcapgen"
	"github.com/lettadev/wsproxy/trace"
)

// readAll imports a capture held in memory.
func readAll(t testing.TB, name string, data []byte, o Options) ([]*trace.Record, *Summary, error) {
	t.Helper()
	pr, err := NewPacketReader(bytes.NewReader(data), name)
	if err != nil {
		return nil, nil, err
	}
	src := NewSource(pr, o)
	var recs []*trace.Record
	for {
		r, err := src.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return recs, src.Summary(), err
		}
		recs = append(recs, r)
	}
}

func framesOf(recs []*trace.Record) []pcapgen.Want {
	var out []pcapgen.Want
	for _, r := range recs {
		if r.Kind == trace.KindFrame {
			out = append(out, pcapgen.Want{Conn: r.Conn, From: string(r.From), Op: string(r.Op), Payload: string(r.Payload)})
		}
	}
	return out
}

// perConn groups frames by connection, keeping their order.
func perConn(ws []pcapgen.Want) map[string][]pcapgen.Want {
	m := map[string][]pcapgen.Want{}
	for _, w := range ws {
		m[w.Conn] = append(m[w.Conn], w)
	}
	return m
}

func checkScenario(t *testing.T, s pcapgen.Scenario, data []byte) {
	t.Helper()
	recs, sum, err := readAll(t, s.File, data, Options{})
	if err != nil {
		t.Fatalf("%s: %v", s.File, err)
	}
	got, want := perConn(framesOf(recs)), perConn(s.Frames)
	if len(got) != len(want) {
		t.Errorf("%s: frames on %d connections, want %d", s.File, len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if len(g) != len(w) {
			t.Errorf("%s %s: %d frames, want %d:\n got %q\nwant %q", s.File, id, len(g), len(w), g, w)
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s %s frame %d:\n got %+v\nwant %+v", s.File, id, i, g[i], w[i])
			}
		}
	}
	var errs []string
	for _, r := range recs {
		if r.Kind == trace.KindError {
			errs = append(errs, r.Message)
		}
	}
	for _, e := range s.Errors {
		found := false
		for _, m := range errs {
			if strings.Contains(m, e) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no error record containing %q; errors: %q", s.File, e, errs)
		}
	}
	for _, k := range s.Skipped {
		found := false
		for _, sk := range sum.Skipped {
			if strings.Contains(sk.Reason, k) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: nothing skipped for %q; skipped: %+v", s.File, k, sum.Skipped)
		}
	}
	var https []string
	for _, r := range recs {
		if r.Kind == trace.KindHTTP {
			body := ""
			if r.HTTP.ResponseBody != nil {
				body = string(r.HTTP.ResponseBody.Data)
			}
			https = append(https, fmt.Sprintf("%s %s %s %d %s", r.Conn, r.HTTP.Method, r.HTTP.URL, r.HTTP.Status, body))
		}
	}
	if fmt.Sprint(https) != fmt.Sprint(s.HTTP) {
		t.Errorf("%s: http records\n got %q\nwant %q", s.File, https, s.HTTP)
	}
	// Records are numbered from 1 in order, and stamped with packet times
	// that never go before the capture's start.
	for i, r := range recs {
		if r.N != int64(i+1) {
			t.Fatalf("%s: record %d numbered %d", s.File, i, r.N)
		}
		if r.T.Year() != 2026 {
			t.Fatalf("%s: record %d has time %v, not a packet time", s.File, i, r.T)
		}
	}
}

func TestScenarios(t *testing.T) {
	for _, s := range pcapgen.Scenarios() {
		t.Run(s.File, func(t *testing.T) {
			var b bytes.Buffer
			if err := s.Write(&b); err != nil {
				t.Fatal(err)
			}
			checkScenario(t, s, b.Bytes())
		})
	}
}

// TestCommittedFixtures checks that traces/captures holds exactly what
// the scenarios generate, and imports each file as it is committed.
func TestCommittedFixtures(t *testing.T) {
	for _, s := range pcapgen.Scenarios() {
		path := filepath.Join("..", "traces", "captures", s.File)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate: go run traces/captures/generate.go traces/captures)", err)
		}
		var b bytes.Buffer
		if err := s.Write(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), data) {
			t.Errorf("%s differs from what its scenario generates (regenerate: go run traces/captures/generate.go traces/captures)", path)
		}
		checkScenario(t, s, data)
	}
}

func TestNotACapture(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"empty.pcap", "", "not a packet capture: the file is empty"},
		{"trace.jsonl", `{"kind":"header"}` + "\n", `not a packet capture: it starts with 7b 22 6b 69 6e 64 22 3a`},
		{"short", "\xd4\xc3", "not a packet capture"},
	} {
		_, err := NewPacketReader(strings.NewReader(c.data), c.name)
		var nc *NotCaptureError
		if !errors.As(err, &nc) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), c.name+": ") {
			t.Errorf("%s: err %v, want a NotCaptureError containing %q", c.name, err, c.want)
		}
	}
}
