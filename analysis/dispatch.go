package analysis

import (
	"errors"
	"fmt"

	"github.com/lettadev/wsproxy/internal/jsonscan"
	"github.com/lettadev/wsproxy/protocol"
	"github.com/lettadev/wsproxy/trace"
)

// Dispatch: which rules a record goes to, by kind, direction and role.

func (e *Engine) open(r *trace.Record, t int64, p pos) {
	if old := e.sockets[r.Conn]; old != nil {
		e.closeSocket(old, t, p, "")
	}
	var info protocol.Session
	if r.Open != nil && (r.Open.Session != (protocol.Session{}) || r.Open.URL != "") {
		info = protocol.SessionOf(r.Open.Session, r.Open.URL)
	}
	s := e.newSocket(r.Conn, info, t, p)
	if e.inj != nil {
		e.injOpened(s)
	}
}

// socket returns the socket of conn, creating one without session info
// for a connection whose open record is not in the stream.
func (e *Engine) socket(conn string, t int64, p pos) *socket {
	if s := e.cache[0]; s != nil && s.id.conn == conn {
		return s
	}
	if s := e.cache[1]; s != nil && s.id.conn == conn {
		e.cache[0], e.cache[1] = s, e.cache[0]
		return s
	}
	s := e.sockets[conn]
	if s == nil {
		s = e.newSocket(conn, protocol.Session{}, t, p)
		s.midStream = true
		s.sess.partial = true
	}
	e.cache[1], e.cache[0] = e.cache[0], s
	return s
}

func (e *Engine) frame(r *trace.Record, t int64, p pos) {
	s := e.socket(r.Conn, t, p)
	s.lastT, s.lastP = t, p
	switch r.Op {
	case trace.OpText, "":
		err := e.model.ParseInto(&e.env, r.Payload)
		if err != nil || (r.Form != trace.FormMsg && r.Op == trace.OpText && !r.IsJSONObject()) {
			if jsonscan.TooDeep(r.Payload) {
				// Valid JSON may nest that deep: never call it invalid.
				how := "not checked"
				if err == nil {
					how = "only its envelope was checked"
				}
				e.report(RuleUndetermined, Note, &s.id, p, t, pos{}, "depth",
					fmt.Sprintf("text frame from %s: nesting deeper than %d, %s", sideName(r.From), jsonscan.MaxDepth, how))
			} else {
				err = errInvalid
			}
			if err != nil {
				if err == errInvalid {
					e.report(RuleInvalidJSON, Warning, &s.id, p, t, pos{}, "",
						fmt.Sprintf("text frame from %s is not a JSON object (%s)", sideName(r.From), snippet(r.Payload)))
				}
				return
			}
		}
		e.payload = r.Payload
		e.message(s, r.From, t, p)
		e.payload = nil
		if e.inj != nil {
			if r.From == trace.Client {
				e.injClientMessage(s, &e.env, p)
			} else {
				e.injServerMessage(s, &e.env, p)
			}
		}
	case trace.OpBinary:
		e.report(RuleBinaryFrame, Warning, &s.id, p, t, pos{}, "",
			fmt.Sprintf("binary frame from %s (%d bytes)", sideName(r.From), len(r.Payload)))
	case trace.OpPing:
		s.wsPing(e, r.From, t, p)
	case trace.OpPong:
		s.wsPong(e, r.From, t, p)
	}
}

// errInvalid marks a frame that is not a JSON object.
var errInvalid = errors.New("not a JSON object")

func (e *Engine) frameError(r *trace.Record, t int64, p pos) {
	var id *ident
	if s := e.sockets[r.Conn]; s != nil {
		id = &s.id
	} else {
		id = &ident{conn: r.Conn}
	}
	msg := r.Message
	if msg == "" {
		msg = "error record with no message"
	}
	e.report(RuleFrameError, Warning, id, p, t, pos{}, "", msg)
}

// message checks one JSON message whose envelope is in e.env.
func (e *Engine) message(s *socket, from trace.Side, t int64, p pos) {
	env := &e.env
	info := env.Info
	if env.Type == nil {
		e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "type",
			fmt.Sprintf("message from %s has no type", sideName(from)))
	} else if info == nil {
		name := string(env.Type)
		e.report(RuleUnknownType, Warning, &s.id, p, t, pos{}, name,
			fmt.Sprintf("type %q from %s is not in the protocol model", name, sideName(from)))
	}
	switch from {
	case trace.Server:
		e.serverMessage(s, info, t, p)
	case trace.Client:
		e.clientMessage(s, info, t, p)
	}
}

func (e *Engine) serverMessage(s *socket, info *protocol.TypeInfo, t int64, p pos) {
	env := &e.env
	if env.HasSeq {
		s.serverSeq(e, env.Seq, info, t, p)
	}
	if info == nil {
		return
	}
	ss := s.sess
	switch info.Role {
	case protocol.RoleTransport:
		switch info.Name {
		case "ping":
			ss.devicePing(e, s, t, p)
		case "pong":
			s.serverPong(e, t, p)
		}
		return
	case protocol.RoleReply:
		s.reply(e, info, t, p)
	case protocol.RoleEvent, protocol.RoleDeviceRequest:
		if info.Envelope && !info.EnvelopeOptional && !env.HasEventSeq {
			e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "event_seq",
				fmt.Sprintf("%s has no event_seq (it should carry the device envelope)", info.Name))
		}
		if env.RequestID != nil && (info.Name == "error" || info.Name == "run_request_error") {
			s.settleByError(e, info, t, p)
		}
	}
	redelivery := false
	if env.IdempotencyKey != nil {
		redelivery = ss.checkKey(e, s, info, t, p)
	}
	if env.HasEventSeq && !redelivery {
		ss.event(e, s, info, t, p)
	}
	if info.Role == protocol.RoleDeviceRequest {
		ss.deviceRequest(e, s, info, t, p)
	}
}

func (e *Engine) clientMessage(s *socket, info *protocol.TypeInfo, t int64, p pos) {
	if info == nil {
		return
	}
	env := &e.env
	switch info.Role {
	case protocol.RoleTransport:
		switch info.Name {
		case "ack":
			if !env.HasSeq {
				e.report(RuleMissingField, Warning, &s.id, p, t, pos{}, "seq", "ack has no integer seq")
				return
			}
			s.ack(e, env.Seq, t, p)
		case "ping":
			s.clientPing(e, t, p)
		case "pong":
			s.sess.clientPong(e, t, p)
		}
	case protocol.RoleCommand:
		s.command(e, info, t, p)
	}
}
