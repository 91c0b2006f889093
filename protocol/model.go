package protocol

import (
	"fmt"
	"sort"
)

// Role is what a message type is for.
type Role uint8

// Roles of message types.
const (
	// RoleUnknown is a type the model does not list. It is never an error
	// to see one; checkers may warn.
	RoleUnknown Role = iota
	// RoleCommand is sent by the remote client to the device.
	RoleCommand
	// RoleReply is the device's direct answer to a command.
	RoleReply
	// RoleEvent is a device event: state updates, turn content, pushes.
	RoleEvent
	// RoleDeviceRequest is a device event that asks the client for an
	// answer (control_request, external_tool_call_request).
	RoleDeviceRequest
	// RoleTransport is relay-level traffic: ping, pong, ack.
	RoleTransport
)

var roleNames = [...]string{"unknown", "command", "reply", "event", "device-request", "transport"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// Channel is the socket a message travels on when a session uses two
// (channel=control and channel=stream). In single mode one socket carries
// everything.
type Channel uint8

// Channels.
const (
	ChannelAny Channel = iota
	ChannelControl
	ChannelStream
)

func (c Channel) String() string {
	switch c {
	case ChannelControl:
		return "control"
	case ChannelStream:
		return "stream"
	}
	return "any"
}

// Correlation is how a reply is matched to its command.
type Correlation uint8

// Correlations.
const (
	// ByRequestID matches the reply's request_id to the command's.
	ByRequestID Correlation = iota
	// ByTerminalID matches terminal_id (terminal commands and events).
	ByTerminalID
	// Uncorrelated commands get no direct reply, or one that cannot be
	// matched (change_device_state answers with update_device_status).
	Uncorrelated
)

func (c Correlation) String() string {
	switch c {
	case ByRequestID:
		return "request_id"
	case ByTerminalID:
		return "terminal_id"
	}
	return "none"
}

// Source says where a type is documented; a type may be in several.
type Source uint8

// Sources, combined as a bit set.
const (
	// SrcReference is the published Remote Client API reference.
	SrcReference Source = 1 << iota
	// SrcV2 is the real device's protocol v2 (WsProtocolCommand and
	// WsProtocolMessage of Letta Code 0.32.18).
	SrcV2
	// SrcLegacy is the legacy (v1) protocol still named by the reference.
	SrcLegacy
	// SrcRelay is the relay's transport layer (seq/ack, heartbeats).
	SrcRelay
)

func (s Source) String() string {
	out := ""
	for _, p := range []struct {
		bit  Source
		name string
	}{{SrcReference, "reference"}, {SrcV2, "v2"}, {SrcLegacy, "legacy"}, {SrcRelay, "relay"}} {
		if s&p.bit != 0 {
			if out != "" {
				out += "+"
			}
			out += p.name
		}
	}
	return out
}

// TypeInfo is one row of the model: everything known about a message type.
type TypeInfo struct {
	// Name is the value of the "type" field.
	Name string
	Role Role
	// Channel is the socket the type travels on in two-channel sessions.
	Channel Channel
	// Source lists where the type is documented.
	Source Source

	// For commands:
	// Replies lists the accepted direct replies; any one satisfies the
	// command. Empty when the command gets no direct reply.
	Replies []string
	// Correlate says how replies are matched to the command.
	Correlate Correlation
	// ReplyOptional is true when a peer following one of the documented
	// protocols may legitimately not send the direct reply (the reference
	// promises only state events for sync and a turn for input).
	ReplyOptional bool
	// Starts lists the event types the command may set off beyond its
	// direct reply (a turn for input, state events for sync).
	Starts []string
	// NeedsRuntime is true when the command must carry a runtime object.
	NeedsRuntime bool
	// NeedsRequestID is true when the command must carry a request_id (the
	// device ignores such a command without one).
	NeedsRequestID bool

	// For replies: the commands this type answers (filled from Replies).
	ReplyTo []string
	// For device requests: the type of the client's answer.
	AnsweredBy string
	// Envelope is true for device events that carry runtime, event_seq,
	// emitted_at and idempotency_key.
	Envelope bool
	// EnvelopeOptional is true when a documented protocol shows the type
	// without the envelope (the reference's control_request carries seq
	// and request_id only): a frame without it is not missing a field.
	EnvelopeOptional bool
	// Legacy marks types that newer devices no longer send.
	Legacy bool
}

// RepliesByRequestID reports a command answered by a direct reply that
// echoes its request_id (the reply may be optional).
func (t *TypeInfo) RepliesByRequestID() bool {
	return t != nil && t.Role == RoleCommand && t.Correlate == ByRequestID && len(t.Replies) > 0
}

// NeedsReply reports a command whose direct reply, matched by request_id,
// must come: one that gets none is an unmatched request. This is the one
// "command needs a reply" test; the checker, the simulator's faults and
// the reference client all use it.
func (t *TypeInfo) NeedsReply() bool { return t.RepliesByRequestID() && !t.ReplyOptional }

// StartsStream reports whether the command sets off further events.
func (t *TypeInfo) StartsStream() bool { return len(t.Starts) > 0 }

// Accepts reports whether reply is one of the command's accepted replies.
func (t *TypeInfo) Accepts(reply string) bool {
	for _, r := range t.Replies {
		if r == reply {
			return true
		}
	}
	return false
}

// Model is a message-type table with lookups. DefaultModel holds the
// protocol as documented; NewModel builds one from other rows (a new
// protocol version is a table edit).
type Model struct {
	types  []*TypeInfo
	byName map[string]*TypeInfo
}

// NewModel indexes rows and links replies to the commands they answer. It
// fails on duplicate names and on replies that are not themselves rows.
func NewModel(rows []TypeInfo) (*Model, error) {
	m := &Model{byName: make(map[string]*TypeInfo, len(rows))}
	for i := range rows {
		t := rows[i]
		if t.Name == "" {
			return nil, fmt.Errorf("protocol table row %d: empty name", i)
		}
		if _, dup := m.byName[t.Name]; dup {
			return nil, fmt.Errorf("protocol table row %d: duplicate type %q", i, t.Name)
		}
		p := &t
		m.types = append(m.types, p)
		m.byName[t.Name] = p
	}
	for _, t := range m.types {
		for _, r := range t.Replies {
			rt, ok := m.byName[r]
			if !ok {
				return nil, fmt.Errorf("protocol table: %s replies with %q, which is not in the table", t.Name, r)
			}
			rt.ReplyTo = append(rt.ReplyTo, t.Name)
		}
		for _, s := range t.Starts {
			if _, ok := m.byName[s]; !ok {
				return nil, fmt.Errorf("protocol table: %s starts %q, which is not in the table", t.Name, s)
			}
		}
		if t.AnsweredBy != "" {
			if _, ok := m.byName[t.AnsweredBy]; !ok {
				return nil, fmt.Errorf("protocol table: %s is answered by %q, which is not in the table", t.Name, t.AnsweredBy)
			}
		}
	}
	return m, nil
}

// MustModel is NewModel that panics on a malformed table; for package-level
// tables known at compile time.
func MustModel(rows []TypeInfo) *Model {
	m, err := NewModel(rows)
	if err != nil {
		panic(err)
	}
	return m
}

// Lookup returns the row of a type, or nil when the type is unknown.
func (m *Model) Lookup(name string) *TypeInfo { return m.byName[name] }

// Types returns every row, sorted by name.
func (m *Model) Types() []*TypeInfo {
	out := append([]*TypeInfo(nil), m.types...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ExpectedReply reports whether reply is an accepted answer to command. A
// command missing from the model accepts nothing.
func (m *Model) ExpectedReply(command, reply string) bool {
	t := m.byName[command]
	return t != nil && t.Accepts(reply)
}
