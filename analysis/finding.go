package analysis

import (
	"fmt"
	"time"

	"github.com/lettadev/wsproxy/protocol"
)

// Finding is one rule violation.
type Finding struct {
	// Rule is the rule's id and Severity the finding's severity.
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// File and Line locate the record the finding is about (a frame, or
	// the open/close record for socket-level findings). Line is 0 for
	// records that were not read from a file.
	File string `json:"file"`
	Line int64  `json:"line"`
	// Conn is the connection (socket) of that record.
	Conn string `json:"conn"`
	// T is the time of that record.
	T time.Time `json:"t"`
	// Message names the ids involved.
	Message string `json:"message"`
	// RelatedLine is another record of the story: the request of a reply,
	// the first delivery of a duplicate, the late ack or reply, the event
	// before a gap. 0 when there is none. RelatedFile is its file.
	RelatedLine int64  `json:"related_line"`
	RelatedFile string `json:"related_file,omitempty"`

	// Subject identifies the finding within its rule: a request_id, an
	// idempotency key, a transport seq in decimal, an event_seq range
	// "A-B", a type name, or "".
	Subject string `json:"subject,omitempty"`
	// Session is the socket's session (its Key, without channel); Channel
	// is the socket's channel ("control", "stream" or "single").
	Session protocol.Session `json:"session"`
	Channel string           `json:"channel,omitempty"`
	// Socket is the 1-based ordinal of the socket among the sockets of its
	// connection id and channel, in open order (as in faults.Fault).
	Socket int `json:"socket,omitempty"`
}

// String formats the finding like a compiler diagnostic:
// file:line: severity: rule: message.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s: %s", f.File, f.Line, f.Severity, f.Rule, f.Message)
}
