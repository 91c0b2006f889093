package trace

import (
	"bytes"
	"time"
	"unicode/utf8"

	"github.com/lettadev/wsproxy/internal/jsonscan"
	"github.com/lettadev/wsproxy/protocol"
)

// Format identifies trace files in their header record.
const Format = "wsproxy-trace"

// Version is the trace format version written by this package. Readers
// accept any minor version of a major version they know.
const (
	Version      = "1.1"
	VersionMajor = 1
)

// Kind is a record's "kind".
type Kind string

// Record kinds.
const (
	KindHeader Kind = "header"
	KindOpen   Kind = "open"
	KindFrame  Kind = "frame"
	KindClose  Kind = "close"
	KindError  Kind = "error"
	KindHTTP   Kind = "http"
	// KindLoss says that records of a connection and direction were not
	// recorded (only in -lossy mode): Count of them, from then on.
	KindLoss Kind = "loss"
	// KindFault is a fault the proxy injected on purpose (wsproxy -fault):
	// Rule and Action say which, From the direction of the affected
	// message, Frame its record's n, Message what was done; Payload is
	// what was delivered instead (corrupt) or in addition (inject), Code
	// the close code sent (close).
	KindFault Kind = "fault"
)

// Side is who sent a frame or closed a connection.
type Side string

// Sides.
const (
	Client Side = "client"
	Server Side = "server"
	Proxy  Side = "proxy"
)

// Op is a WebSocket message or control frame opcode, as a name.
type Op string

// Opcodes.
const (
	OpText   Op = "text"
	OpBinary Op = "binary"
	OpPing   Op = "ping"
	OpPong   Op = "pong"
	OpClose  Op = "close"
)

// Sources of a trace, as named in its header.
const (
	SourceProxy     = "proxy"
	SourcePcap      = "pcap"
	SourceReplay    = "replay"
	SourceSimulator = "simulator"
)

// Form is how a payload is stored in a line: embedded JSON ("msg"), a
// string ("text") or base64 ("data"). Each keeps the payload byte-exact.
type Form uint8

// Payload forms.
const (
	// FormAuto lets the encoder choose (see FormOf).
	FormAuto Form = iota
	// FormMsg embeds a JSON object payload as JSON, so jq '.msg.type' works.
	FormMsg
	// FormText stores valid UTF-8 text as a JSON string.
	FormText
	// FormData stores bytes as standard base64.
	FormData
)

// FormOf returns how a payload of op is stored: a text payload that is a
// single-line JSON object with no surrounding whitespace is embedded
// (FormMsg); other valid UTF-8 text is a string (FormText); everything else
// is base64 (FormData).
func FormOf(op Op, p []byte) Form {
	if op != OpText {
		return FormData
	}
	if !utf8.Valid(p) {
		return FormData
	}
	if isEmbeddable(p) {
		return FormMsg
	}
	return FormText
}

func isEmbeddable(p []byte) bool {
	return looksEmbeddable(p) && jsonscan.Valid(p)
}

// looksEmbeddable checks the shape FormMsg needs, without validating the
// JSON: one line, braces at both ends.
func looksEmbeddable(p []byte) bool {
	return len(p) >= 2 && p[0] == '{' && p[len(p)-1] == '}' &&
		bytes.IndexByte(p, '\n') < 0 && bytes.IndexByte(p, '\r') < 0
}

// Record is the one unit every wsproxy source produces and every sink
// consumes: a trace header, a connection opening, one WebSocket message or
// control frame, a connection closing, an error, or a plain HTTP exchange.
// Fields that do not apply to a kind are zero.
type Record struct {
	Kind Kind
	// T is when the proxy saw the record (UTC).
	T time.Time
	// Conn names the connection; every record but the header has one.
	Conn string
	// N numbers the records of a trace in the order they were emitted,
	// from 1 (the header is 0); the file's line order follows it. Zero
	// for records that were never numbered (traces of format 1.0).
	N int64

	// Frame fields. Payload is the message as its receiver saw it
	// (unmasked, reassembled, inflated), after redaction when Redacted.
	From       Side
	Op         Op
	Payload    []byte
	Form       Form
	Size       int  // payload size before redaction
	WireFrames int  // wire frames the message came in (0 means 1)
	WireSize   int  // bytes on the wire, headers included (0 if unknown)
	Compressed bool // permessage-deflate on the wire
	// Redacted is true when secrets were replaced in this record (any
	// kind): payload values, URL query parameters or headers.
	Redacted bool

	// Close fields (also set on frames with Op close). Code 0 means the
	// close carried no status code. By is who closed.
	By     Side
	Code   int
	Reason string

	// Error fields (also a loss record's explanation).
	Message string
	// Count is how many records a loss record stands for.
	Count int64

	// Fault fields. Frame is the n of the frame record the fault affects
	// (0: none); the fault record comes right before it. A negative Frame
	// before the record is emitted refers to the record that many places
	// after it in the same hub.Emit call; the hub resolves it when it
	// numbers the records.
	Rule   string
	Action string
	Frame  int64

	Header *Header
	Open   *Open
	HTTP   *HTTP

	// Line is the record's line number in the file it was read from
	// (1-based), 0 for records that were not read from a file. It is not
	// written.
	Line int64
}

// Header is the first record of every trace.
type Header struct {
	Format      string    `json:"format"`
	Version     string    `json:"version"`
	Created     time.Time `json:"created"`
	Tool        string    `json:"tool"`
	ToolVersion string    `json:"tool_version"`
	// Source is proxy, pcap, replay or simulator.
	Source string `json:"source"`
	// Secrets is "redacted" (the default) or "kept".
	Secrets string `json:"secrets,omitempty"`
	// Part numbers the files of a rotated trace, from 1.
	Part int `json:"part,omitempty"`
}

// Open describes a WebSocket connection as it opened.
type Open struct {
	// URL is the request path and query, secrets redacted.
	URL string `json:"url"`
	// Headers are the client's request headers, secrets redacted.
	Headers map[string][]string `json:"headers,omitempty"`
	// Upstream is the server the proxy dialled.
	Upstream string `json:"upstream,omitempty"`
	// Client is the client's network address.
	Client      string `json:"client,omitempty"`
	Subprotocol string `json:"subprotocol,omitempty"`
	Extensions  string `json:"extensions,omitempty"`
	// ResponseHeaders are the server's handshake response headers.
	ResponseHeaders map[string][]string `json:"response_headers,omitempty"`
	// Session is parsed from the URL.
	Session protocol.Session `json:"session"`
	// Recovered marks a connection whose handshake was not seen (a
	// capture started mid-session): URL and headers are unknown.
	Recovered bool `json:"recovered,omitempty"`
}

// HTTP is a plain HTTP exchange passed through the proxy, or a refused
// WebSocket upgrade.
type HTTP struct {
	Method          string              `json:"method"`
	URL             string              `json:"url"`
	Upstream        string              `json:"upstream,omitempty"`
	Status          int                 `json:"status"`
	RequestHeaders  map[string][]string `json:"request_headers,omitempty"`
	ResponseHeaders map[string][]string `json:"response_headers,omitempty"`
	RequestBody     *Body               `json:"-"`
	ResponseBody    *Body               `json:"-"`
	Duration        time.Duration       `json:"-"`
	// Upgrade is true for a WebSocket upgrade the upstream refused.
	Upgrade bool `json:"upgrade,omitempty"`
}

// Body is an HTTP body, possibly cut to a bound.
type Body struct {
	Data      []byte
	Form      Form
	Size      int64 // full size, -1 if unknown
	Truncated bool
}

// IsJSONObject reports whether the frame's payload is a JSON object, the
// form every protocol message takes. It is known without a scan for
// payloads stored (or classified) as FormMsg.
func (r *Record) IsJSONObject() bool {
	if r.Form == FormMsg {
		return true
	}
	if r.Op != OpText || r.Form == FormData {
		return false
	}
	return firstNonSpace(r.Payload) == '{' && jsonscan.Valid(r.Payload)
}

func firstNonSpace(p []byte) byte {
	for _, c := range p {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}

// Frames returns WireFrames, counting 0 as 1.
func (r *Record) Frames() int {
	if r.WireFrames <= 0 {
		return 1
	}
	return r.WireFrames
}

// NewHeader returns a header record for a trace made now by tool.
func NewHeader(tool, toolVersion, source string, now time.Time) *Record {
	now = now.UTC()
	return &Record{Kind: KindHeader, T: now, Header: &Header{
		Format: Format, Version: Version, Created: now,
		Tool: tool, ToolVersion: toolVersion, Source: source, Secrets: "redacted",
	}}
}
