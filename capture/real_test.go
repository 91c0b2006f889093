package capture

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lettadev/wsproxy/capture/pcapgen"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/trace"
)

func importFixture(t *testing.T, name string) ([]*trace.Record, *Summary) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "traces", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	recs, sum, err := readAll(t, name, data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return recs, sum
}

// Captures of third-party peers (python3-websockets, npm ws; tcpdump -i
// lo and -i any) import to exactly the frames the peers say they sent,
// with permessage-deflate and context takeover negotiated.
func TestRealPeers(t *testing.T) {
	for _, c := range []struct{ name, expected, secret string }{
		{"real-python.pcap", "real-python.expected.jsonl", "py-secret"},
		{"real-python-any.pcap", "real-python.expected.jsonl", "py-secret"},
		{"real-node.pcap", "real-node.expected.jsonl", "js-secret"},
	} {
		t.Run(c.name, func(t *testing.T) { checkRealPeers(t, c.name, c.expected, c.secret) })
	}
}

func checkRealPeers(t *testing.T, name, expected, secret string) {
	pr, err := OpenFile(filepath.Join("..", "traces", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := pr.Next(&p); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	wantLink := "Ethernet"
	if strings.HasSuffix(name, "-any.pcap") {
		wantLink = "Linux SLL2"
	}
	if p.LinkType.String() != wantLink {
		t.Errorf("%s: link type %v, want %s", name, p.LinkType, wantLink)
	}
	recs, sum := importFixture(t, name)
	f, err := os.Open(filepath.Join("..", "traces", "captures", expected))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []pcapgen.Want
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ From, Op, Text, Data string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		p := e.Text
		if e.Data != "" {
			b, err := base64.StdEncoding.DecodeString(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			p = string(b)
		}
		want = append(want, pcapgen.Want{Conn: "c1", From: e.From, Op: e.Op, Payload: p})
	}
	// The peers logged in their own order; compare each direction's
	// sequence, which is what the wire fixes.
	got := framesOf(recs)
	for _, side := range []string{"client", "server"} {
		var g, w []pcapgen.Want
		for _, x := range got {
			if x.From == side {
				g = append(g, x)
			}
		}
		for _, x := range want {
			if x.From == side {
				w = append(w, x)
			}
		}
		if len(g) != len(w) {
			t.Fatalf("%s: %d frames imported, the peer sent %d", side, len(g), len(w))
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s frame %d: imported %.80q, sent %.80q", side, i, g[i], w[i])
			}
		}
	}
	var open *trace.Open
	compressed := 0
	for _, r := range recs {
		switch {
		case r.Kind == trace.KindOpen:
			open = r.Open
		case r.Kind == trace.KindFrame && r.Compressed:
			compressed++
		case r.Kind == trace.KindError:
			t.Errorf("error record: %s", r.Message)
		}
	}
	if open == nil || !strings.HasPrefix(open.Extensions, "permessage-deflate") || strings.Contains(open.Extensions, "no_context_takeover") {
		t.Fatalf("open %+v: want permessage-deflate with context takeover", open)
	}
	if strings.Contains(open.URL, secret) || !strings.Contains(open.URL, "token=%5BREDACTED%5D") {
		t.Errorf("url %s", open.URL)
	}
	if compressed < 20 || len(sum.Connections) != 1 {
		t.Errorf("%d compressed frames, %d connections", compressed, len(sum.Connections))
	}
}

// A session recorded by the proxy and captured by tcpdump at the same
// time (client-proxy leg) imports to the proxy's own frames: payload,
// direction, opcode and order, per connection and direction (the order
// between a connection's two directions is the proxy's two relay
// goroutines' and is not on the wire).
func TestProxySessionCapture(t *testing.T) {
	recs, _ := importFixture(t, "proxy-session.pcap")
	r, err := recorder.Open(filepath.Join("..", "traces", "captures", "proxy-session.jsonl.zst"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var proxied []*trace.Record
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		proxied = append(proxied, rec)
	}
	urls := func(rs []*trace.Record) map[string]string {
		m := map[string]string{}
		for _, x := range rs {
			if x.Kind == trace.KindOpen {
				m[x.Conn] = x.Open.URL + " " + x.Open.Extensions
			}
		}
		return m
	}
	// The plain HTTP request beside the sockets is the same http record.
	https := func(rs []*trace.Record) []string {
		var out []string
		for _, x := range rs {
			if x.Kind == trace.KindHTTP {
				body := ""
				if x.HTTP.ResponseBody != nil {
					body = string(x.HTTP.ResponseBody.Data)
				}
				out = append(out, fmt.Sprintf("%s %s %s %d %s", x.Conn, x.HTTP.Method, x.HTTP.URL, x.HTTP.Status, body))
			}
		}
		return out
	}
	if g, w := https(recs), https(proxied); len(w) != 1 || fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("http records: imported %q, proxy %q", g, w)
	}
	gu, wu := urls(recs), urls(proxied)
	if len(wu) < 4 || len(gu) != len(wu) {
		t.Fatalf("%d connections imported, the proxy recorded %d", len(gu), len(wu))
	}
	for id, u := range wu {
		if gu[id] != u {
			t.Errorf("%s: imported %q, proxy %q", id, gu[id], u)
		}
	}
	byDir := func(ws []pcapgen.Want) map[string][]pcapgen.Want {
		for i := range ws {
			ws[i].Conn += " " + ws[i].From
		}
		return perConn(ws)
	}
	got, want := byDir(framesOf(recs)), byDir(framesOf(proxied))
	if len(want) != 2*len(wu) {
		t.Errorf("proxy frames in %d directions, want %d", len(want), 2*len(wu))
	}
	total := 0
	for id, w := range want {
		g := got[id]
		if len(g) != len(w) {
			t.Errorf("%s: %d frames imported, proxy recorded %d", id, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s frame %d: imported %.80q, proxy %.80q", id, i, g[i], w[i])
			}
		}
		total += len(w)
	}
	if total < 100 {
		t.Errorf("only %d frames compared", total)
	}
}
