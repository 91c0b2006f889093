package protocol

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// What a person reads in a message: the text of a stream delta, the tool
// an approval request asks for, the prompt or decision of an input, a
// loop's status. The inspector's turns and every summary line (inspector,
// wsproxy cat and grep) read these fields here, not on their own.

// Content message types.
const (
	TypeStreamDelta      = "stream_delta"
	TypeUpdateLoopStatus = "update_loop_status"
	TypeControlRequest   = "control_request"
	TypeInput            = "input"
	TypeAck              = "ack"
)

// Input payload kinds (the loop status of an idle turn is LoopIdle).
const (
	KindCreateMessage    = "create_message"
	KindApprovalResponse = "approval_response"
)

// Delta is a stream_delta's delta.
type Delta struct {
	ID          string `json:"id"`
	MessageType string `json:"message_type"` // assistant_message, reasoning_message, tool_call_message, stop_reason…
	// Content is the text of the delta ("" when it carries none).
	Content    string `json:"-"`
	StopReason string `json:"stop_reason"`
	// ToolName and ToolArguments are a tool call's (tool_call_message).
	ToolName      string `json:"-"`
	ToolArguments string `json:"-"`
}

// ParseDelta reads a stream_delta's delta; ok is false for another
// message or a payload that is not a JSON object. It scans, without
// decoding the rest of the payload: deltas are most of a turn's messages.
func ParseDelta(payload []byte) (d Delta, ok bool) {
	var delta []byte
	top := jsonscan.NewObject(payload, 0)
	for {
		k, vs, ve, more := top.Member()
		if !more {
			break
		}
		switch string(k) {
		case "type":
			t, _ := jsonscan.StringValue(payload, vs, ve)
			if string(t) != TypeStreamDelta {
				return Delta{}, false
			}
			ok = true
		case "delta":
			delta = payload[vs:ve]
		}
	}
	if !ok || top.Err() != nil {
		return Delta{}, false
	}
	str := func(b []byte, vs, ve int) string {
		s, _ := jsonscan.StringValue(b, vs, ve)
		return string(s)
	}
	o := jsonscan.NewObject(delta, 0)
	for {
		k, vs, ve, more := o.Member()
		if !more {
			break
		}
		switch string(k) {
		case "id":
			d.ID = str(delta, vs, ve)
		case "message_type":
			d.MessageType = str(delta, vs, ve)
		case "stop_reason":
			d.StopReason = str(delta, vs, ve)
		case "content":
			if delta[vs] == '"' {
				d.Content = str(delta, vs, ve)
			} else {
				var v any
				if json.Unmarshal(delta[vs:ve], &v) == nil {
					d.Content = text(v)
				}
			}
		case "tool_call":
			tc := jsonscan.NewObject(delta, vs)
			for {
				k, vs, ve, more := tc.Member()
				if !more {
					break
				}
				switch string(k) {
				case "name":
					d.ToolName = str(delta, vs, ve)
				case "arguments":
					if delta[vs] == '"' {
						d.ToolArguments = str(delta, vs, ve)
					} else {
						d.ToolArguments = compactJSON(delta[vs:ve])
					}
				}
			}
		}
	}
	return d, true
}

// text is a content value as text: a string, or the text parts of an
// array of parts ({"type":"text","text":…}).
func text(v any) string {
	switch c := v.(type) {
	case string:
		return c
	case []any:
		var b strings.Builder
		for _, p := range c {
			if m, ok := p.(map[string]any); ok {
				if s, ok := m["text"].(string); ok {
					b.WriteString(s)
				}
			}
		}
		return b.String()
	}
	return ""
}

// ToolRequest is what a control_request asks the client to approve.
type ToolRequest struct {
	Subtype  string          // can_use_tool, …
	ToolName string          // Bash, Edit, …
	Command  string          // input.command, when the tool has one
	Input    json.RawMessage // the tool's input as sent
}

// ParseToolRequest reads a control_request's request.
func ParseToolRequest(payload []byte) (ToolRequest, bool) {
	var v struct {
		Type    string `json:"type"`
		Request struct {
			Subtype  string          `json:"subtype"`
			ToolName string          `json:"tool_name"`
			Input    json.RawMessage `json:"input"`
		} `json:"request"`
	}
	if json.Unmarshal(payload, &v) != nil || v.Type != TypeControlRequest {
		return ToolRequest{}, false
	}
	tr := ToolRequest{Subtype: v.Request.Subtype, ToolName: v.Request.ToolName, Input: v.Request.Input}
	var in struct {
		Command string `json:"command"`
	}
	if len(tr.Input) > 0 && json.Unmarshal(tr.Input, &in) == nil {
		tr.Command = in.Command
	}
	return tr, true
}

// Input is what a client's input message carries.
type Input struct {
	Kind string // create_message, approval_response, …
	// Prompt is the first message's text (create_message).
	Prompt string
	// RequestID is the control_request an approval_response answers.
	RequestID string
	// Behavior is an approval's decision: allow or deny.
	Behavior string
}

// IsPrompt reports an input that starts a turn with a new message.
func (in Input) IsPrompt() bool { return in.Kind == KindCreateMessage }

// ParseInput reads an input's payload.
func ParseInput(payload []byte) (Input, bool) {
	var v struct {
		Type    string `json:"type"`
		Payload struct {
			Kind      string `json:"kind"`
			RequestID string `json:"request_id"`
			Messages  []struct {
				Content any `json:"content"`
			} `json:"messages"`
			Decision any `json:"decision"`
			Response *struct {
				Behavior string `json:"behavior"`
				Decision string `json:"decision"`
			} `json:"response"`
		} `json:"payload"`
	}
	if json.Unmarshal(payload, &v) != nil || v.Type != TypeInput {
		return Input{}, false
	}
	p := v.Payload
	in := Input{Kind: p.Kind, RequestID: p.RequestID}
	if len(p.Messages) > 0 {
		in.Prompt = text(p.Messages[0].Content)
	}
	// The reference sends decision {"behavior": …}; older clients a
	// string, or response {"behavior"|"decision": …}.
	switch d := p.Decision.(type) {
	case string:
		in.Behavior = d
	case map[string]any:
		in.Behavior, _ = d["behavior"].(string)
	}
	if r := p.Response; r != nil && in.Behavior == "" {
		in.Behavior = r.Behavior
		if in.Behavior == "" {
			in.Behavior = r.Decision
		}
	}
	return in, true
}

// LoopStatus reads update_loop_status.loop_status.status (the envelope's
// LoopStatus).
func LoopStatus(payload []byte) (string, bool) {
	e, err := Parse(payload)
	if err != nil || string(e.Type) != TypeUpdateLoopStatus {
		return "", false
	}
	return string(e.LoopStatus), true
}

// Summary describes a message's content on one line for a person: a
// stream delta's text (quoted), stop reason or tool call; a loop status;
// an approval request's tool and command; an input's kind, prompt and
// decision; an ack's seq. For other messages it lists a reply's outcome
// (success, accepted, error) and main subject (path, command, model,
// stop_reason, disposition), with specific false: a caller may prefer
// its own generic rendering then. typ is the message's type.
func Summary(typ string, payload []byte) (s string, specific bool) {
	var parts []string
	switch typ {
	case TypeStreamDelta:
		d, ok := ParseDelta(payload)
		if !ok {
			return "", false
		}
		switch {
		case d.Content != "":
			parts = append(parts, strconv.Quote(d.Content))
		case d.MessageType == "stop_reason":
			parts = append(parts, "stop_reason "+d.StopReason)
		case d.ToolName != "":
			parts = append(parts, d.MessageType, d.ToolName, d.ToolArguments)
		default:
			parts = append(parts, d.MessageType)
		}
	case TypeUpdateLoopStatus:
		st, ok := LoopStatus(payload)
		if !ok {
			return "", false
		}
		parts = append(parts, st)
	case TypeControlRequest:
		tr, ok := ParseToolRequest(payload)
		if !ok {
			return "", false
		}
		parts = append(parts, tr.Subtype, tr.ToolName)
		if tr.Command != "" {
			parts = append(parts, strconv.Quote(tr.Command))
		} else if len(tr.Input) > 0 {
			parts = append(parts, compactJSON(tr.Input))
		}
	case TypeInput:
		in, ok := ParseInput(payload)
		if !ok {
			return "", false
		}
		parts = append(parts, in.Kind)
		if in.Prompt != "" {
			parts = append(parts, strconv.Quote(in.Prompt))
		}
		parts = append(parts, in.Behavior)
	case TypeAck:
		var v struct {
			Seq *json.Number `json:"seq"`
		}
		if json.Unmarshal(payload, &v) != nil || v.Seq == nil {
			return "", false
		}
		parts = append(parts, "seq "+v.Seq.String())
	default:
		return replySummary(payload), false
	}
	if s := joinParts(parts); s != "" {
		return s, true
	}
	return "", false // a shape this package does not know: nothing specific to say
}

// replySummary lists a reply's outcome and subject fields.
func replySummary(payload []byte) string {
	var v map[string]json.RawMessage
	if json.Unmarshal(payload, &v) != nil {
		return ""
	}
	var parts []string
	for _, k := range []string{"success", "accepted"} {
		var b bool
		if json.Unmarshal(v[k], &b) == nil && v[k] != nil {
			parts = append(parts, k+"="+strconv.FormatBool(b))
		}
	}
	var e string
	if json.Unmarshal(v["error"], &e) == nil && e != "" {
		parts = append(parts, "error "+strconv.Quote(e))
	}
	for _, k := range []string{"path", "command", "model", "stop_reason", "disposition"} {
		var s string
		if json.Unmarshal(v[k], &s) == nil && s != "" {
			parts = append(parts, k+"="+s)
		}
	}
	return joinParts(parts)
}

func compactJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func joinParts(parts []string) string {
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
