package protocol

import (
	"bytes"
	"fmt"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// Envelope holds the routing fields of one message, extracted without
// unmarshalling the payload. Byte-slice fields alias the payload passed to
// Parse (or hold a decoded copy when the JSON string had escapes); they are
// nil when the field is absent or not a string.
type Envelope struct {
	// Type is the message's "type" and Info its row in the model (nil when
	// the type is unknown or absent).
	Type []byte
	Info *TypeInfo

	// RequestID is the top-level "request_id".
	RequestID []byte
	// ApprovalRequestID is payload.request_id of an input whose
	// payload.kind is approval_response: the control_request it answers.
	ApprovalRequestID []byte
	// PayloadKind is payload.kind (of input commands).
	PayloadKind []byte

	// Seq is the relay's transport sequence number, when it is an integer.
	Seq    int64
	HasSeq bool
	// EventSeq is the device's event sequence number, when an integer.
	EventSeq    int64
	HasEventSeq bool
	// IdempotencyKey is the device's event dedupe key.
	IdempotencyKey []byte

	// HasRuntime reports a "runtime" object; AgentID and ConversationID are
	// its members.
	HasRuntime     bool
	AgentID        []byte
	ConversationID []byte

	// LoopStatus is loop_status.status of update_loop_status.
	LoopStatus []byte
	// TerminalID is terminal_id, how terminal commands and events correlate.
	TerminalID []byte
	// RecoverApprovals is true when "recover_approvals" is true (sync).
	RecoverApprovals bool
}

// Kind returns the message's role in the model, RoleUnknown when its type
// is not in the table.
func (e *Envelope) Kind() Role {
	if e.Info == nil {
		return RoleUnknown
	}
	return e.Info.Role
}

// TypeString returns the type as a string ("" when absent).
func (e *Envelope) TypeString() string {
	if e.Info != nil {
		return e.Info.Name
	}
	return string(e.Type)
}

// IsApprovalResponse reports an input answering a control_request.
func (e *Envelope) IsApprovalResponse() bool {
	return string(e.Type) == TypeInput && string(e.PayloadKind) == KindApprovalResponse
}

// Parse extracts the envelope of a JSON message payload. It walks the top
// level of the object and descends only into runtime, payload and
// loop_status; other values are skipped without being decoded. A payload
// that is not a JSON object gives an error; an unknown type does not.
func Parse(payload []byte) (Envelope, error) {
	return DefaultModel.Parse(payload)
}

// Parse extracts the envelope of a payload, classifying its type with m.
func (m *Model) Parse(payload []byte) (Envelope, error) {
	var e Envelope
	err := m.ParseInto(&e, payload)
	return e, err
}

// ParseInto is Parse writing into e, which is reset first.
func (m *Model) ParseInto(e *Envelope, payload []byte) error {
	*e = Envelope{}
	o := jsonscan.NewObject(payload, 0)
	for {
		key, vs, ve, ok := o.Member()
		if !ok {
			break
		}
		switch string(key) {
		case "type":
			e.Type, _ = jsonscan.StringValue(payload, vs, ve)
		case "request_id":
			e.RequestID, _ = jsonscan.StringValue(payload, vs, ve)
		case "seq":
			e.Seq, e.HasSeq = jsonscan.IntValue(payload, vs, ve)
		case "event_seq":
			e.EventSeq, e.HasEventSeq = jsonscan.IntValue(payload, vs, ve)
		case "idempotency_key":
			e.IdempotencyKey, _ = jsonscan.StringValue(payload, vs, ve)
		case "terminal_id":
			e.TerminalID, _ = jsonscan.StringValue(payload, vs, ve)
		case "recover_approvals":
			e.RecoverApprovals = ve-vs == 4 && string(payload[vs:ve]) == "true"
		case "runtime":
			e.HasRuntime, e.AgentID, e.ConversationID = false, nil, nil
			if payload[vs] == '{' {
				e.HasRuntime = true
				parseRuntime(e, payload, vs)
			}
		case "payload":
			e.PayloadKind, e.ApprovalRequestID = nil, nil
			if payload[vs] == '{' {
				parsePayload(e, payload, vs)
			}
		case "loop_status":
			e.LoopStatus = nil
			if payload[vs] == '{' {
				e.LoopStatus = memberString(payload, vs, "status")
			}
		}
	}
	if err := o.Err(); err != nil {
		return err
	}
	if rest := jsonscan.SkipSpace(payload, o.End()); rest != len(payload) {
		return fmt.Errorf("%w: trailing data at offset %d", jsonscan.ErrSyntax, rest)
	}
	if e.Type != nil {
		e.Info = m.byName[string(e.Type)]
	}
	return nil
}

func parseRuntime(e *Envelope, b []byte, start int) {
	o := jsonscan.NewObject(b, start)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			return
		}
		switch {
		case jsonscan.KeyEquals(key, esc, "agent_id"):
			e.AgentID, _ = jsonscan.StringValue(b, vs, ve)
		case jsonscan.KeyEquals(key, esc, "conversation_id"):
			e.ConversationID, _ = jsonscan.StringValue(b, vs, ve)
		}
	}
}

func parsePayload(e *Envelope, b []byte, start int) {
	var rid []byte
	o := jsonscan.NewObject(b, start)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			break
		}
		switch {
		case jsonscan.KeyEquals(key, esc, "kind"):
			e.PayloadKind, _ = jsonscan.StringValue(b, vs, ve)
		case jsonscan.KeyEquals(key, esc, "request_id"):
			rid, _ = jsonscan.StringValue(b, vs, ve)
		}
	}
	if bytes.Equal(e.PayloadKind, []byte("approval_response")) {
		e.ApprovalRequestID = rid
	}
}

// memberString returns the string member name of the object at b[start].
func memberString(b []byte, start int, name string) []byte {
	o := jsonscan.NewObject(b, start)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			return nil
		}
		if jsonscan.KeyEquals(key, esc, name) {
			s, _ := jsonscan.StringValue(b, vs, ve)
			return s
		}
	}
}
