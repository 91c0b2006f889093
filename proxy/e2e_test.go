package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/recorder"
	"github.com/lettadev/wsproxy/sim"
	"github.com/lettadev/wsproxy/trace"
	"github.com/lettadev/wsproxy/wsframe"
)

// tap is a TCP pass-through that keeps every byte of every connection, in
// both directions, so a test can see exactly what each peer sent and got.
type wireTap struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []*tapConn
	wg     sync.WaitGroup
}

type tapConn struct {
	up, down bytes.Buffer // up: from the dialler, down: from the target
}

func newTap(t *testing.T, target string) *wireTap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &wireTap{ln: ln, target: target}
	tp.wg.Add(1)
	go tp.serve()
	t.Cleanup(func() { ln.Close(); tp.wg.Wait() })
	return tp
}

func (tp *wireTap) addr() string { return tp.ln.Addr().String() }

func (tp *wireTap) serve() {
	defer tp.wg.Done()
	for {
		c, err := tp.ln.Accept()
		if err != nil {
			return
		}
		t, err := net.Dial("tcp", tp.target)
		if err != nil {
			c.Close()
			continue
		}
		tc := &tapConn{}
		tp.mu.Lock()
		tp.conns = append(tp.conns, tc)
		tp.mu.Unlock()
		tp.wg.Add(2)
		copyHalf := func(dst, src net.Conn, keep *bytes.Buffer) {
			defer tp.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					tp.mu.Lock()
					keep.Write(buf[:n])
					tp.mu.Unlock()
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			if cw, ok := dst.(*net.TCPConn); ok {
				cw.CloseWrite()
			}
		}
		go copyHalf(t, c, &tc.up)
		go copyHalf(c, t, &tc.down)
	}
}

// afterHandshake returns the WebSocket stream after an HTTP head, and the
// head's first line.
func afterHandshake(b []byte) (string, []byte) {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return "", nil
	}
	line, _, _ := strings.Cut(string(b[:i]), "\r\n")
	return line, b[i+4:]
}

// decode returns the messages of one direction's stream as "op payload".
func decode(t *testing.T, stream []byte, sender wsframe.Side) []string {
	d := wsframe.NewDecoder(wsframe.Config{Sender: sender})
	d.Feed(stream)
	var out []string
	for d.Next() {
		ev := d.Event()
		switch ev.Kind {
		case wsframe.MessageEvent:
			out = append(out, fmt.Sprintf("%s %s", ev.Message.Opcode, ev.Message.Payload))
		case wsframe.ErrorEvent:
			t.Errorf("tap stream: %v", ev.Err)
		}
	}
	return out
}

// TestEndToEndAgainstSimulator runs the reference client's full default
// script through the proxy to the simulator, with taps on both sides, and
// checks that (1) each side received exactly the bytes the other sent, and
// (2) the trace holds every message both sides saw, in order, byte-exact.
func TestEndToEndAgainstSimulator(t *testing.T) {
	env := &sim.Server{Token: "tok", Seed: 3}
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	upTap := newTap(t, strings.TrimPrefix(simURL, "http://"))

	path := filepath.Join(t.TempDir(), "e2e.jsonl.zst")
	w, err := recorder.Create(path, recorder.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(trace.NewHeader("test", "0", trace.SourceProxy, time.Now()))
	p, px := startRecordingProxy(t, "http://"+upTap.addr(), w, Options{KeepSecrets: true})
	downTap := newTap(t, px)

	cl := &client.Client{URL: "http://" + downTap.addr(), Token: "tok", RequestTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := cl.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("client assertions failed:\n%s", rep)
	}
	ctxS, cancelS := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelS()
	p.Shutdown(ctxS)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Trace frames per connection, in order, as "op payload".
	rd, err := recorder.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	type dir struct{ client, server []string }
	byConn := map[string]*dir{}
	var order []string // conns in open order, with their request line
	reqLine := map[string]string{}
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch r.Kind {
		case trace.KindOpen:
			byConn[r.Conn] = &dir{}
			order = append(order, r.Conn)
			reqLine[r.Conn] = "GET " + r.Open.URL + " HTTP/1.1"
		case trace.KindFrame:
			m := fmt.Sprintf("%s %s", r.Op, r.Payload)
			if r.From == trace.Client {
				byConn[r.Conn].client = append(byConn[r.Conn].client, m)
			} else {
				byConn[r.Conn].server = append(byConn[r.Conn].server, m)
			}
		}
	}
	if len(order) < 4 {
		t.Fatalf("only %d WebSocket connections recorded (want control+stream and a reconnect)", len(order))
	}

	// Match tap connections (WebSocket ones) to trace connections by their
	// request line, in order.
	wsConns := func(tp *wireTap) map[string][]*tapConn {
		tp.mu.Lock()
		defer tp.mu.Unlock()
		out := map[string][]*tapConn{}
		for _, c := range tp.conns {
			line, _ := afterHandshake(c.up.Bytes())
			if strings.Contains(line, "/status/ws") {
				out[line] = append(out[line], c)
			}
		}
		return out
	}
	clientSide, serverSide := wsConns(downTap), wsConns(upTap)
	used := map[string]int{}
	frames := 0
	for _, conn := range order {
		line := reqLine[conn]
		k := used[line]
		used[line]++
		if k >= len(clientSide[line]) || k >= len(serverSide[line]) {
			t.Fatalf("%s: no tapped connection for %q", conn, line)
		}
		cs, ss := clientSide[line][k], serverSide[line][k]
		_, clientSent := afterHandshake(cs.up.Bytes())
		_, clientGot := afterHandshake(cs.down.Bytes())
		_, serverGot := afterHandshake(ss.up.Bytes())
		_, serverSent := afterHandshake(ss.down.Bytes())
		if !bytes.Equal(clientSent, serverGot) {
			t.Errorf("%s: the server got %d bytes, the client sent %d: not byte-exact", conn, len(serverGot), len(clientSent))
		}
		if !bytes.Equal(serverSent, clientGot) {
			t.Errorf("%s: the client got %d bytes, the server sent %d: not byte-exact", conn, len(clientGot), len(serverSent))
		}
		want := byConn[conn]
		if got := decode(t, clientSent, wsframe.Client); !equalStrings(got, want.client) {
			t.Errorf("%s: trace client frames differ from the wire (%d vs %d)", conn, len(want.client), len(got))
		}
		if got := decode(t, serverSent, wsframe.Server); !equalStrings(got, want.server) {
			t.Errorf("%s: trace server frames differ from the wire (%d vs %d)", conn, len(want.server), len(got))
		}
		frames += len(want.client) + len(want.server)
	}
	t.Logf("%d connections, %d frames checked byte-exact", len(order), frames)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// startRecordingProxy serves a proxy writing to w on a real listener and
// returns it with its address.
func startRecordingProxy(t *testing.T, upstream string, w trace.Sink, opts Options) (*Proxy, string) {
	opts.Upstream, opts.Sink = upstream, w
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(p)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); p.Close() })
	return p, ln.Addr().String()
}

// TestSecretsNeverReachTheTrace records a session whose handshake and
// payloads carry secrets and greps the trace file's bytes for them; with
// KeepSecrets the same session shows them, so the check can fail.
func TestSecretsNeverReachTheTrace(t *testing.T) {
	secrets := []string{"sk-let-me-in-42", "ghp_supersecret123", "sk-openai-topsecret"}
	data := secretSession(t, false)
	for _, secret := range secrets {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the trace contains %q", secret)
		}
	}
	if !bytes.Contains(data, []byte(`"redacted":true`)) || !bytes.Contains(data, []byte("[REDACTED]")) {
		t.Error("nothing marked as redacted")
	}
	kept := secretSession(t, true)
	for _, secret := range secrets {
		if !bytes.Contains(kept, []byte(secret)) {
			t.Errorf("with KeepSecrets the trace lacks %q: the session did not carry it", secret)
		}
	}
}

// secretSession runs a session carrying secrets (token in the header and
// in the query, secret values in payloads) and returns the trace's bytes.
func secretSession(t *testing.T, keep bool) []byte {
	env := &sim.Server{Token: "sk-let-me-in-42", Seed: 5}
	simURL, err := env.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	path := filepath.Join(t.TempDir(), "secrets.jsonl")
	w, err := recorder.Create(path, recorder.Options{Compression: recorder.Plain})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(trace.NewHeader("test", "0", trace.SourceProxy, time.Now()))
	p, px := startRecordingProxy(t, simURL, w, Options{KeepSecrets: keep})
	script := &client.Script{Name: "secrets", Steps: []client.Step{
		{Send: map[string]any{"type": "secret_apply", "agent_id": "${agent_id}", "set": map[string]any{"GITHUB_TOKEN": "ghp_supersecret123"}, "unset": []string{}}},
		{Send: map[string]any{"type": "secret_list", "agent_id": "${agent_id}"}},
		{Send: map[string]any{"type": "connect_provider", "provider": "openai", "api_key": "sk-openai-topsecret"}, AllowFailure: true},
	}}
	for _, inQuery := range []bool{false, true} {
		cl := &client.Client{URL: "http://" + px, Token: "sk-let-me-in-42", TokenInQuery: inQuery, RequestTimeout: 5 * time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		rep, err := cl.Run(ctx, script)
		cancel()
		if err != nil || !rep.OK() {
			t.Fatalf("run: %v\n%v", err, rep)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.Shutdown(ctx)
	w.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("trace mode %v", st.Mode().Perm())
	}
	return data
}

func newServer(p *Proxy) *http.Server { return &http.Server{Handler: p} }
