// Package har converts between traces and HAR 1.2 (HTTP Archive) files as
// Chrome DevTools and HTTP Toolkit write and read them: each WebSocket
// connection is an entry whose "_webSocketMessages" list its data messages
// (type send/receive, time in epoch seconds, opcode 1 text or 2 binary,
// data as text or base64), and each plain HTTP exchange an ordinary entry.
package har

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// File is a HAR document.
type File struct {
	Log Log `json:"log"`
}

// Log is a HAR log.
type Log struct {
	Version string  `json:"version"`
	Creator Creator `json:"creator"`
	Pages   []any   `json:"pages"`
	Entries []Entry `json:"entries"`
}

// Creator names the tool that wrote a HAR.
type Creator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Entry is one request (a WebSocket connection is its upgrade request).
type Entry struct {
	StartedDateTime string    `json:"startedDateTime"`
	Time            float64   `json:"time"`
	Request         Request   `json:"request"`
	Response        Response  `json:"response"`
	Cache           struct{}  `json:"cache"`
	Timings         Timings   `json:"timings"`
	ServerIPAddress string    `json:"serverIPAddress,omitempty"`
	Connection      string    `json:"connection,omitempty"`
	ResourceType    string    `json:"_resourceType,omitempty"`
	Messages        []Message `json:"_webSocketMessages,omitempty"`
}

// Request is an entry's request.
type Request struct {
	Method      string    `json:"method"`
	URL         string    `json:"url"`
	HTTPVersion string    `json:"httpVersion"`
	Headers     []NV      `json:"headers"`
	QueryString []NV      `json:"queryString"`
	Cookies     []any     `json:"cookies"`
	HeadersSize int64     `json:"headersSize"`
	BodySize    int64     `json:"bodySize"`
	PostData    *PostData `json:"postData,omitempty"`
}

// PostData is a request body.
type PostData struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
}

// Response is an entry's response.
type Response struct {
	Status      int     `json:"status"`
	StatusText  string  `json:"statusText"`
	HTTPVersion string  `json:"httpVersion"`
	Headers     []NV    `json:"headers"`
	Cookies     []any   `json:"cookies"`
	Content     Content `json:"content"`
	RedirectURL string  `json:"redirectURL"`
	HeadersSize int64   `json:"headersSize"`
	BodySize    int64   `json:"bodySize"`
}

// Content is a response body.
type Content struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text,omitempty"`
	Encoding string `json:"encoding,omitempty"`
}

// NV is a name/value pair (headers, query parameters).
type NV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Timings are an entry's phases in milliseconds (-1: not applicable).
type Timings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	SSL     float64 `json:"ssl"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// Message is one WebSocket message of an entry.
type Message struct {
	// Type is "send" (client to server) or "receive".
	Type string `json:"type"`
	// Time is when it was seen, in seconds since the Unix epoch.
	Time float64 `json:"time"`
	// Opcode is 1 (text) or 2 (binary, Data in base64).
	Opcode int    `json:"opcode"`
	Data   string `json:"data"`
}

// Sniff reports whether the start of a file looks like a HAR document (a
// JSON object whose first member is "log", as every HAR writer puts it),
// for content detection beside packet captures and traces.
func Sniff(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] != '{' {
		return false
	}
	head = bytes.TrimLeft(head[1:], " \t\r\n")
	return bytes.HasPrefix(head, []byte(`"log"`))
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func fromEpoch(s float64) time.Time {
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
}

// wsURL makes the absolute ws:// or wss:// URL of a connection.
func wsURL(upstream, path string) string {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return "ws://unknown" + path
	}
	scheme := "ws"
	if u.Scheme == "wss" || u.Scheme == "https" {
		scheme = "wss"
	}
	return scheme + "://" + u.Host + path
}

func httpURL(upstream, path string) string {
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		return "http://unknown" + path
	}
	scheme := "http"
	if u.Scheme == "wss" || u.Scheme == "https" {
		scheme = "https"
	}
	return scheme + "://" + u.Host + path
}

func headerList(h map[string][]string) []NV {
	out := []NV{}
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, NV{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func queryList(rawURL string) []NV {
	out := []NV{}
	u, err := url.Parse(rawURL)
	if err != nil {
		return out
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			out = append(out, NV{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Write writes the records of a trace (in order) as a HAR 1.2 document.
// Control frames (ping, pong, close) are not data messages and are left
// out, as Chrome does.
func Write(w io.Writer, recs []*trace.Record, creatorVersion string) error {
	f := File{Log: Log{Version: "1.2", Creator: Creator{Name: "wsproxy", Version: creatorVersion}, Pages: []any{}, Entries: []Entry{}}}
	conns := map[string]int{} // conn → entry index
	last := map[string]time.Time{}
	for _, r := range recs {
		switch r.Kind {
		case trace.KindOpen:
			if r.Open == nil {
				continue
			}
			e := Entry{
				StartedDateTime: r.T.UTC().Format(time.RFC3339Nano),
				Request: Request{Method: "GET", URL: wsURL(r.Open.Upstream, r.Open.URL), HTTPVersion: "HTTP/1.1",
					Headers: headerList(r.Open.Headers), QueryString: queryList(r.Open.URL), Cookies: []any{}, HeadersSize: -1},
				Response: Response{Status: 101, StatusText: "Switching Protocols", HTTPVersion: "HTTP/1.1",
					Headers: headerList(r.Open.ResponseHeaders), Cookies: []any{}, Content: Content{MimeType: "x-unknown"}, HeadersSize: -1},
				Timings:      Timings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1},
				ResourceType: "websocket", Connection: r.Conn, Messages: []Message{},
			}
			conns[r.Conn] = len(f.Log.Entries)
			last[r.Conn] = r.T
			f.Log.Entries = append(f.Log.Entries, e)
		case trace.KindFrame:
			i, ok := conns[r.Conn]
			if !ok || (r.Op != trace.OpText && r.Op != trace.OpBinary) {
				continue
			}
			m := Message{Type: "receive", Time: epoch(r.T), Opcode: 1, Data: string(r.Payload)}
			if r.From == trace.Client {
				m.Type = "send"
			}
			if r.Op == trace.OpBinary || !utf8.Valid(r.Payload) {
				m.Opcode, m.Data = 2, base64.StdEncoding.EncodeToString(r.Payload)
			}
			f.Log.Entries[i].Messages = append(f.Log.Entries[i].Messages, m)
			last[r.Conn] = r.T
		case trace.KindClose:
			if i, ok := conns[r.Conn]; ok {
				start, _ := time.Parse(time.RFC3339Nano, f.Log.Entries[i].StartedDateTime)
				f.Log.Entries[i].Time = float64(r.T.Sub(start).Microseconds()) / 1000
				delete(conns, r.Conn)
			}
		case trace.KindHTTP:
			if r.HTTP != nil {
				f.Log.Entries = append(f.Log.Entries, httpEntry(r))
			}
		}
	}
	// Connections that never closed last until their last message.
	for c, i := range conns {
		start, _ := time.Parse(time.RFC3339Nano, f.Log.Entries[i].StartedDateTime)
		f.Log.Entries[i].Time = float64(last[c].Sub(start).Microseconds()) / 1000
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(&f)
}

func httpEntry(r *trace.Record) Entry {
	h := r.HTTP
	e := Entry{
		StartedDateTime: r.T.UTC().Format(time.RFC3339Nano),
		Time:            float64(h.Duration.Microseconds()) / 1000,
		Request: Request{Method: h.Method, URL: httpURL(h.Upstream, h.URL), HTTPVersion: "HTTP/1.1",
			Headers: headerList(h.RequestHeaders), QueryString: queryList(h.URL), Cookies: []any{}, HeadersSize: -1},
		Response: Response{Status: h.Status, StatusText: statusText(h.Status), HTTPVersion: "HTTP/1.1",
			Headers: headerList(h.ResponseHeaders), Cookies: []any{}, Content: Content{MimeType: "x-unknown"}, HeadersSize: -1},
		Timings:    Timings{Blocked: -1, DNS: -1, Connect: -1, SSL: -1, Wait: float64(h.Duration.Microseconds()) / 1000},
		Connection: r.Conn,
	}
	if b := h.RequestBody; b != nil && len(b.Data) > 0 {
		e.Request.BodySize = int64(len(b.Data))
		e.Request.PostData = &PostData{MimeType: mimeOf(h.RequestHeaders), Text: string(b.Data)}
	}
	if b := h.ResponseBody; b != nil {
		e.Response.BodySize = b.Size
		e.Response.Content = Content{Size: int64(len(b.Data)), MimeType: mimeOf(h.ResponseHeaders)}
		if utf8.Valid(b.Data) {
			e.Response.Content.Text = string(b.Data)
		} else {
			e.Response.Content.Text, e.Response.Content.Encoding = base64.StdEncoding.EncodeToString(b.Data), "base64"
		}
	}
	return e
}

func mimeOf(h map[string][]string) string {
	for k, vs := range h {
		if strings.EqualFold(k, "Content-Type") && len(vs) > 0 {
			return vs[0]
		}
	}
	return "x-unknown"
}

func statusText(code int) string {
	switch code {
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	}
	return ""
}

// Error is a HAR that cannot be read: where and why.
type Error struct {
	Name string // the file
	// Offset is the byte offset of a JSON syntax error (-1 if not one);
	// Entry and Message locate a bad entry or message (0-based, -1).
	Offset         int64
	Entry, Message int
	Msg            string
}

func (e *Error) Error() string {
	switch {
	case e.Offset >= 0:
		return fmt.Sprintf("%s: not a HAR file: byte offset %d: %s", e.Name, e.Offset, e.Msg)
	case e.Message >= 0:
		return fmt.Sprintf("%s: entry %d, _webSocketMessages[%d]: %s", e.Name, e.Entry, e.Message, e.Msg)
	case e.Entry >= 0:
		return fmt.Sprintf("%s: entry %d: %s", e.Name, e.Entry, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Name, e.Msg)
}

// Read reads a HAR document (name is used in errors) and returns its
// WebSocket connections and HTTP exchanges as trace records in time
// order, without a header: open and frame records for each entry with
// _webSocketMessages (or a 101 response), connection ids c1, c2, … in
// start order; an http record for each other entry (h1, …). Nothing is
// redacted here (see redact.Redactor).
func Read(r io.Reader, name string) ([]*trace.Record, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &Error{Name: name, Offset: se.Offset, Entry: -1, Message: -1, Msg: se.Error()}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, &Error{Name: name, Offset: te.Offset, Entry: -1, Message: -1, Msg: fmt.Sprintf("%s: want %s, got %s", te.Field, te.Type, te.Value)}
		}
		return nil, &Error{Name: name, Offset: -1, Entry: -1, Message: -1, Msg: err.Error()}
	}
	if f.Log.Version == "" && f.Log.Entries == nil {
		return nil, &Error{Name: name, Offset: -1, Entry: -1, Message: -1, Msg: `not a HAR file: no "log" with "entries"`}
	}
	order := make([]int, len(f.Log.Entries))
	starts := make([]time.Time, len(f.Log.Entries))
	for i, e := range f.Log.Entries {
		order[i] = i
		t, err := time.Parse(time.RFC3339Nano, e.StartedDateTime)
		if err != nil {
			if len(e.Messages) > 0 {
				t = fromEpoch(e.Messages[0].Time)
			} else {
				return nil, &Error{Name: name, Offset: -1, Entry: i, Message: -1, Msg: fmt.Sprintf("startedDateTime %q is not an ISO 8601 time", e.StartedDateTime)}
			}
		}
		starts[i] = t.UTC()
	}
	sort.SliceStable(order, func(a, b int) bool { return starts[order[a]].Before(starts[order[b]]) })
	var recs []*trace.Record
	nws, nhttp := 0, 0
	for _, i := range order {
		e := f.Log.Entries[i]
		u, err := url.Parse(e.Request.URL)
		if err != nil || u.Host == "" {
			return nil, &Error{Name: name, Offset: -1, Entry: i, Message: -1, Msg: fmt.Sprintf("request url %q is not an absolute URL", e.Request.URL)}
		}
		path := u.RequestURI()
		isWS := len(e.Messages) > 0 || e.Response.Status == 101 || e.ResourceType == "websocket"
		if !isWS {
			nhttp++
			recs = append(recs, httpRecord(e, starts[i], "h"+strconv.Itoa(nhttp), u, path))
			continue
		}
		nws++
		conn := "c" + strconv.Itoa(nws)
		up := "ws://" + u.Host
		if u.Scheme == "wss" || u.Scheme == "https" {
			up = "wss://" + u.Host
		}
		recs = append(recs, &trace.Record{Kind: trace.KindOpen, T: starts[i], Conn: conn, Open: &trace.Open{
			URL: path, Headers: headerMap(e.Request.Headers), Upstream: up, Client: "",
			ResponseHeaders: headerMap(e.Response.Headers), Session: protocol.SessionFromURL(path),
			Extensions: headerValue(e.Response.Headers, "Sec-WebSocket-Extensions"), Subprotocol: headerValue(e.Response.Headers, "Sec-WebSocket-Protocol"),
		}})
		for j, m := range e.Messages {
			fr := &trace.Record{Kind: trace.KindFrame, T: fromEpoch(m.Time), Conn: conn}
			switch m.Type {
			case "send":
				fr.From = trace.Client
			case "receive":
				fr.From = trace.Server
			default:
				return nil, &Error{Name: name, Offset: -1, Entry: i, Message: j, Msg: fmt.Sprintf("type %q: want send or receive", m.Type)}
			}
			switch m.Opcode {
			case 1, 0: // 0: writers that leave the opcode out mean text
				fr.Op, fr.Payload = trace.OpText, []byte(m.Data)
			case 2:
				p, err := base64.StdEncoding.DecodeString(m.Data)
				if err != nil {
					return nil, &Error{Name: name, Offset: -1, Entry: i, Message: j, Msg: "binary data is not base64: " + err.Error()}
				}
				fr.Op, fr.Payload = trace.OpBinary, p
			case 8, 9, 10:
				fr.Op = map[int]trace.Op{8: trace.OpClose, 9: trace.OpPing, 10: trace.OpPong}[m.Opcode]
				fr.Payload = []byte(m.Data)
			default:
				return nil, &Error{Name: name, Offset: -1, Entry: i, Message: j, Msg: fmt.Sprintf("opcode %d is not a WebSocket opcode", m.Opcode)}
			}
			fr.Size = len(fr.Payload)
			recs = append(recs, fr)
		}
	}
	sort.SliceStable(recs, func(a, b int) bool { return recs[a].T.Before(recs[b].T) })
	return recs, nil
}

func httpRecord(e Entry, t time.Time, conn string, u *url.URL, path string) *trace.Record {
	h := &trace.HTTP{Method: e.Request.Method, URL: path, Upstream: u.Scheme + "://" + u.Host, Status: e.Response.Status,
		RequestHeaders: headerMap(e.Request.Headers), ResponseHeaders: headerMap(e.Response.Headers),
		Duration: time.Duration(e.Time * float64(time.Millisecond))}
	if pd := e.Request.PostData; pd != nil && pd.Text != "" {
		h.RequestBody = &trace.Body{Data: []byte(pd.Text), Size: int64(len(pd.Text))}
	}
	if c := e.Response.Content; c.Text != "" {
		data := []byte(c.Text)
		if c.Encoding == "base64" {
			if d, err := base64.StdEncoding.DecodeString(c.Text); err == nil {
				data = d
			}
		}
		h.ResponseBody = &trace.Body{Data: data, Size: int64(len(data))}
	}
	return &trace.Record{Kind: trace.KindHTTP, T: t, Conn: conn, HTTP: h}
}

func headerMap(nv []NV) map[string][]string {
	if len(nv) == 0 {
		return nil
	}
	m := map[string][]string{}
	for _, h := range nv {
		if strings.HasPrefix(h.Name, ":") {
			continue // HTTP/2 pseudo-headers
		}
		m[h.Name] = append(m[h.Name], h.Value)
	}
	return m
}

func headerValue(nv []NV, name string) string {
	for _, h := range nv {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}
