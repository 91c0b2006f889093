package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// newReverseProxy returns the handler for plain HTTP requests: a
// httputil.ReverseProxy to the upstream whose exchanges are recorded.
func (p *Proxy) newReverseProxy() http.Handler {
	transport := &http.Transport{
		Proxy:               nil, // a debugging proxy goes straight to the upstream it was given
		DialContext:         p.dialer().DialContext,
		TLSClientConfig:     p.opts.UpstreamTLS,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}
	p.transport = transport
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.httpBase)
			pr.Out.Host = p.httpBase.Host
		},
		Transport: transport,
		ErrorLog:  nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.opts.Logf("wsproxy: %s %s: upstream: %v", r.Method, r.URL.RequestURI(), err)
			http.Error(w, "wsproxy: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := p.opts.Now()
		id := p.nextHTTPID()
		var reqBody *captureBody
		if r.Body != nil && r.Body != http.NoBody {
			reqBody = &captureBody{rc: r.Body}
			r.Body = reqBody
		}
		cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(cw, r)

		pol := p.tapOpts.Redact
		u, uRed := pol.URL(r.RequestURI)
		h := &trace.HTTP{Method: r.Method, URL: u, Upstream: p.httpBase.Scheme + "://" + p.httpBase.Host,
			Status: cw.status, Duration: p.opts.Now().Sub(start)}
		reqRed, respRed := false, false
		h.RequestHeaders, reqRed = pol.Headers(r.Header)
		h.ResponseHeaders, respRed = pol.Headers(cw.Header())
		if reqBody != nil {
			h.RequestBody = tap.Body(reqBody.buf.Bytes(), reqBody.n, pol)
		}
		if cw.n > 0 {
			h.ResponseBody = tap.Body(cw.buf.Bytes(), cw.n, pol)
		}
		p.emit(&trace.Record{Kind: trace.KindHTTP, T: start, Conn: id, HTTP: h, Redacted: uRed || reqRed || respRed})
	})
}

// captureBody keeps the first bytes of a request body as it is read.
type captureBody struct {
	rc  io.ReadCloser
	mu  sync.Mutex
	buf bytes.Buffer
	n   int64
}

func (c *captureBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.mu.Lock()
	c.n += int64(n)
	if room := maxRecordedBody - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	c.mu.Unlock()
	return n, err
}

func (c *captureBody) Close() error { return c.rc.Close() }

// captureWriter keeps the status and the first bytes of a response.
type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	n      int64
}

func (c *captureWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	if room := maxRecordedBody - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	return n, err
}

// Flush lets streamed responses through.
func (c *captureWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
