package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lettadev/wsproxy/client"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/sim"
)

func run(t *testing.T, c *client.Client, script *client.Script) (*client.Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Run(ctx, script)
}

// The default script sends every command the reference documents.
func TestDefaultScriptCoversTheReference(t *testing.T) {
	sent := map[string]bool{}
	for _, c := range client.DefaultScript().Commands() {
		sent[c] = true
	}
	sent["ping"] = true // a step of its own, not a command
	for _, ti := range protocol.DefaultModel.Types() {
		if ti.Source&protocol.SrcReference != 0 && ti.Role == protocol.RoleCommand && !sent[ti.Name] {
			t.Errorf("default script never sends %s", ti.Name)
		}
	}
}

func TestAuthVariants(t *testing.T) {
	s := &sim.Server{Token: "tok"}
	u := startSim(t, s)
	short := &client.Script{Name: "short", Steps: []client.Step{{Send: map[string]any{"type": "list_models"}}}}

	// ?token= on a full status URL.
	ws := strings.Replace(s.StatusURL(s.ConnectionID(), "agent-q", "conv-q", ""), "http", "ws", 1)
	rep, err := run(t, &client.Client{URL: ws, Token: "tok", TokenInQuery: true}, short)
	if err != nil || !rep.OK() || rep.ConnectionID != s.ConnectionID() {
		t.Fatalf("query token: %v\n%s", err, rep)
	}
	// A wrong token gives up at once.
	rep, err = run(t, &client.Client{URL: u, Token: "bad"}, short)
	if !errors.Is(err, client.ErrGaveUp) || rep.OK() || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "invalid token") {
		t.Fatalf("wrong token: %v (want the status and the start of the body)", err)
	}
	// An unknown environment too.
	if _, err = run(t, &client.Client{URL: u, Token: "tok", ConnectionID: "conn-nope"}, short); !errors.Is(err, client.ErrGaveUp) {
		t.Fatalf("unknown connection: %v", err)
	}
	if _, err := (&client.Client{URL: "ftp://x"}).Run(context.Background(), short); err == nil {
		t.Fatal("ftp URL accepted")
	}
	if _, err := (&client.Client{URL: u}).Run(context.Background(), &client.Script{}); err == nil {
		t.Fatal("empty script accepted")
	}
}

// The device pings every few milliseconds; the client answers, so it is
// never dropped.
func TestAnswersDevicePings(t *testing.T) {
	s := &sim.Server{DevicePingInterval: 20 * time.Millisecond}
	u := startSim(t, s)
	script := &client.Script{Name: "idle", Steps: []client.Step{
		{Send: map[string]any{"type": "list_models"}},
		{Pause: client.Duration(150 * time.Millisecond)},
		{Send: map[string]any{"type": "list_models"}},
	}}
	rep, err := run(t, &client.Client{URL: u}, script)
	if err != nil || !rep.OK() || rep.Reconnects != 0 {
		t.Fatalf("%v\n%s", err, rep)
	}
}

// A 1008 close means the environment re-registered: the client looks it
// up again and carries on under the new connectionId.
func TestReregistration(t *testing.T) {
	s := &sim.Server{}
	u := startSim(t, s)
	old := s.ConnectionID()
	attached := make(chan struct{}, 4)
	c := &client.Client{URL: u, Logf: func(format string, args ...any) {
		if strings.HasPrefix(format, "client: attached") {
			attached <- struct{}{}
		}
	}}
	script := &client.Script{Name: "rereg", Steps: []client.Step{
		{Send: map[string]any{"type": "list_models"}},
		{Pause: client.Duration(300 * time.Millisecond)},
		{Send: map[string]any{"type": "write_file", "path": "/workspace/project/x.txt", "content": "x"}},
		{Send: map[string]any{"type": "read_file", "path": "/workspace/project/x.txt"}},
	}}
	done := make(chan struct{})
	var rep *client.Report
	var err error
	go func() {
		defer close(done)
		rep, err = run(t, c, script)
	}()
	<-attached
	newID, rerr := s.Reregister(old)
	if rerr != nil {
		t.Fatal(rerr)
	}
	<-done
	if err != nil || !rep.OK() || rep.ConnectionID != newID || rep.Reconnects != 1 {
		t.Fatalf("after re-registration: %v\n%s", err, rep)
	}
}

func TestParseScript(t *testing.T) {
	good := `{"name":"x","steps":[{"send":{"type":"list_models"}},{"turn":{"message":"run ls","approval":"allow"}},
		{"wait_idle":true},{"pause":"10ms"},{"reconnect":true}]}`
	s, err := client.ParseScript([]byte(good))
	if err != nil || len(s.Steps) != 5 || time.Duration(s.Steps[3].Pause) != 10*time.Millisecond {
		t.Fatalf("%v %+v", err, s)
	}
	for _, bad := range []string{
		`{"steps":[]}`,
		`{"steps":[{"send":{"type":"nope"}}]}`,
		`{"steps":[{"send":{"type":"list_models"},"wait_idle":true}]}`,
		`{"steps":[{"turn":{"message":"x","approval":"maybe"}}]}`,
		`{"steps":[{"pause":"soon"}]}`,
		`{"steps":[{"sned":{}}]}`,
	} {
		if _, err := client.ParseScript([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// Cancelling the context ends a run promptly and leaves nothing running.
func TestCancel(t *testing.T) {
	s := &sim.Server{}
	u := startSim(t, s)
	attached := make(chan struct{}, 4)
	c := &client.Client{URL: u, Compression: true, Logf: func(format string, args ...any) {
		if strings.HasPrefix(format, "client: attached") {
			attached <- struct{}{}
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, &client.Script{Name: "long", Steps: []client.Step{
			{Send: map[string]any{"type": "list_models"}},
			{Pause: client.Duration(time.Minute)},
		}})
		done <- err
	}()
	<-attached
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end after cancel")
	}
}
