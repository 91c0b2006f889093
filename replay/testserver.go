package replay

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestServer is a Server on an httptest server, for Go tests. Close runs
// at the end of the test.
type TestServer struct {
	*Server
	// HTTP is the underlying httptest server.
	HTTP *httptest.Server
	// URL is the server's base WebSocket URL, ws://127.0.0.1:port.
	URL string
	t   testing.TB
}

// NewTestServer serves the trace at path on 127.0.0.1 for the rest of
// the test. Logf defaults to t.Logf; the test fails if the server cannot
// start.
func NewTestServer(t testing.TB, path string, opts Options) *TestServer {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	srv, err := NewServer(path, opts)
	if err != nil {
		t.Fatalf("replay.NewTestServer: %v", err)
	}
	hs := httptest.NewServer(srv)
	ts := &TestServer{Server: srv, HTTP: hs, URL: "ws" + strings.TrimPrefix(hs.URL, "http"), t: t}
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return ts
}

// SessionURL returns the WebSocket URL of the n-th served session's
// socket on channel (its recorded path and query on this server); "" if
// there is no such socket.
func (ts *TestServer) SessionURL(n int, channel string) string {
	sel := ts.Sessions()
	if n < 1 || n > len(sel) {
		return ""
	}
	info := sel[n-1]
	i := slotFor(info, channel, func(int) bool { return false })
	if i < 0 {
		return ""
	}
	u, err := url.Parse(info.Conns[i].URL)
	if err != nil || u.Path == "" {
		return ts.URL + "/ws"
	}
	q := u.Query()
	q.Del("token")
	u.RawQuery = q.Encode()
	return ts.URL + u.RequestURI()
}

// Report waits for the sessions started so far to finish (the client
// has closed its sockets, or the replay timed out) and returns the
// report. The test fails if they do not finish in time.
func (ts *TestServer) Report() *Report {
	ts.t.Helper()
	o := ts.opts
	limit := 3*o.Timeout + o.Linger + 5*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := ts.Wait(ctx); err != nil {
		ts.t.Fatalf("replay: sessions still running after %v", limit)
	}
	return ts.Server.Report()
}

// RequireNoDivergence waits for the report and fails the test, listing
// each divergence, if there is any or if a selected session was never
// served.
func (ts *TestServer) RequireNoDivergence() *Report {
	ts.t.Helper()
	r := ts.Report()
	for _, e := range r.All() {
		ts.t.Errorf("replay divergence: %s", e)
	}
	if len(r.NotServed) > 0 {
		ts.t.Errorf("replay: sessions never served: %v", r.NotServed)
	}
	if !r.OK() || len(r.NotServed) > 0 {
		ts.t.Errorf("%s", r)
	}
	return r
}
