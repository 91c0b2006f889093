package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/lettadev/wsproxy/tap"
	"github.com/lettadev/wsproxy/trace"
)

// maxHTTPMessage bounds a plain HTTP message (head and body) buffered
// while it is read; a bigger one ends the parsing of its connection.
const maxHTTPMessage = 1 << 20

// exchange is a plain HTTP request being answered.
type exchange struct {
	id   string
	req  *http.Request
	body []byte
	t    time.Time
}

// parsed is the outcome of reading one HTTP message from buffered bytes.
type parsed struct {
	n        int  // bytes the message took
	complete bool // false: more bytes are needed
	err      error
}

// incomplete reports the errors of a message cut short by the buffer.
func incomplete(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// readHTTPRequest reads a request and its body from the start of b.
func readHTTPRequest(b []byte) (*http.Request, []byte, parsed) {
	rd := bytes.NewReader(b)
	br := bufio.NewReaderSize(rd, 4096)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, parsed{complete: false, err: ignoreIncomplete(err)}
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, parsed{err: ignoreIncomplete(err)}
	}
	return req, body, parsed{n: len(b) - rd.Len() - br.Buffered(), complete: true}
}

// readHTTPResponse reads the response to req and its body from the start
// of b; a body delimited by the end of the connection is complete only
// when ended.
func readHTTPResponse(b []byte, req *http.Request, ended bool) (*http.Response, []byte, parsed) {
	rd := bytes.NewReader(b)
	br := bufio.NewReaderSize(rd, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, parsed{err: ignoreIncomplete(err)}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && !(ended && incomplete(err)) {
		return nil, nil, parsed{err: ignoreIncomplete(err)}
	}
	closeDelimited := resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && resp.Body != http.NoBody
	if closeDelimited && !ended {
		return nil, nil, parsed{}
	}
	return resp, body, parsed{n: len(b) - rd.Len() - br.Buffered(), complete: true}
}

func ignoreIncomplete(err error) error {
	if incomplete(err) {
		return nil
	}
	return err
}

// readPlainRequest takes a plain (not upgrade) request: the exchange gets
// an h id, as the proxy gives plain requests, and its record is made once
// the response is read.
func (c *conn) readPlainRequest(t time.Time) {
	b := c.buf[c.client]
	req, body, p := readHTTPRequest(b)
	switch {
	case p.err != nil:
		c.skipConn(fmt.Sprintf("bad HTTP request from %s: %v", c.addr[c.client], p.err))
		return
	case !p.complete:
		if len(b) > maxHTTPMessage {
			c.skipConn(fmt.Sprintf("HTTP request from %s over %d bytes", c.addr[c.client], maxHTTPMessage))
		}
		return
	}
	req.RemoteAddr = c.addr[c.client]
	c.s.nextHTTP++
	c.x = &exchange{id: "h" + strconv.Itoa(c.s.nextHTTP), req: req, body: body, t: t}
	c.buf[c.client] = b[p.n:]
	c.st = stateHTTPResponse
}

// readPlainResponse reads the answer to the pending exchange and records
// it; the connection then waits for its next request. The response head
// says how the body is framed, so the bytes are parsed once, when the
// body is complete.
func (c *conn) readPlainResponse(t time.Time, ended bool) {
	sd := 1 - c.client
	for {
		b := c.buf[sd]
		end, ok, err := c.responseEnd(b, ended)
		if err != nil {
			c.skipConn(fmt.Sprintf("bad HTTP response from %s to %s %s: %v", c.addr[sd], c.x.req.Method, truncate(c.x.req.RequestURI, 80), err))
			return
		}
		if !ok {
			if len(b) > maxHTTPMessage {
				c.skipConn(fmt.Sprintf("HTTP response from %s over %d bytes", c.addr[sd], maxHTTPMessage))
			} else if ended {
				c.skipConn(fmt.Sprintf("HTTP request %s %s got no complete response in the capture", c.x.req.Method, truncate(c.x.req.RequestURI, 80)))
			}
			return
		}
		resp, body, p := readHTTPResponse(b[:end], c.x.req, true)
		if p.err != nil || !p.complete {
			c.skipConn(fmt.Sprintf("bad HTTP response from %s to %s %s: %v", c.addr[sd], c.x.req.Method, truncate(c.x.req.RequestURI, 80), p.err))
			return
		}
		c.buf[sd] = b[end:]
		c.framing = framing{}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue // 100 Continue and the like: the answer follows
		}
		c.emit(c.httpRecord(resp, body, t))
		c.s.sum.HTTP++
		c.x = nil
		c.st = stateRequest
		return
	}
}

// framing is what a response head says of its body, kept while the body
// arrives.
type framing struct {
	head    int   // length of the head, 0 until it is read
	length  int64 // body length; -1 chunked, -2 until the connection ends
	scanned int   // chunked: offset after the chunks seen whole
}

// responseEnd returns where the response at the start of b ends, once
// all of it is there.
func (c *conn) responseEnd(b []byte, ended bool) (int, bool, error) {
	f := &c.framing
	if f.head == 0 {
		i := bytes.Index(b, []byte("\r\n\r\n"))
		if i < 0 {
			return 0, false, nil
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b[:i+4])), c.x.req)
		if err != nil {
			return 0, false, err
		}
		*f = framing{head: i + 4, length: resp.ContentLength, scanned: i + 4}
		switch {
		case resp.StatusCode >= 100 && resp.StatusCode < 200, resp.Body == http.NoBody:
			f.length = 0
		case len(resp.TransferEncoding) > 0:
			f.length = -1
		case resp.ContentLength < 0:
			f.length = -2
		}
	}
	switch {
	case f.length >= 0:
		end := int64(f.head) + f.length
		return int(end), int64(len(b)) >= end, nil
	case f.length == -2:
		return len(b), ended, nil
	}
	// Chunked: walk the chunks that are complete.
	for {
		rest := b[f.scanned:]
		nl := bytes.Index(rest, []byte("\r\n"))
		if nl < 0 {
			return 0, false, nil
		}
		line := rest[:nl]
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return 0, false, fmt.Errorf("bad chunk size %q", truncate(string(line), 20))
		}
		if size == 0 {
			// Trailers, then an empty line.
			t := bytes.Index(rest[nl:], []byte("\r\n\r\n"))
			if t < 0 {
				return 0, false, nil
			}
			return f.scanned + nl + t + 4, true, nil
		}
		next := int64(nl) + 2 + size + 2
		if int64(len(rest)) < next {
			return 0, false, nil
		}
		f.scanned += int(next)
	}
}

// httpRecord makes the http record of an exchange, redacted as the proxy
// redacts its plain requests.
func (c *conn) httpRecord(resp *http.Response, body []byte, t time.Time) *trace.Record {
	pol := c.s.opts.Redact
	x := c.x
	u, uRed := pol.URL(x.req.RequestURI)
	h := &trace.HTTP{Method: x.req.Method, URL: u, Upstream: "http://" + c.addr[1-c.client], Status: resp.StatusCode, Duration: t.Sub(x.t)}
	var reqRed, respRed bool
	h.RequestHeaders, reqRed = pol.Headers(x.req.Header)
	h.ResponseHeaders, respRed = pol.Headers(resp.Header)
	if len(x.body) > 0 {
		h.RequestBody = tap.Body(x.body[:min(len(x.body), maxRefusalBody)], int64(len(x.body)), pol)
	}
	if len(body) > 0 {
		h.ResponseBody = tap.Body(body[:min(len(body), maxRefusalBody)], int64(len(body)), pol)
	}
	return &trace.Record{Kind: trace.KindHTTP, T: x.t, Conn: x.id, HTTP: h, Redacted: uRed || reqRed || respRed}
}
