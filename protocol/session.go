package protocol

import (
	"net/url"
	"strings"
)

// Session identifies the sockets that share one device event counter: the
// environment connection, the runtime (agent and conversation) and the
// socket's channel.
type Session struct {
	ConnectionID   string `json:"connection_id,omitempty"`
	AgentID        string `json:"agent_id,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	// Channel is "control", "stream", or "single" for a socket that
	// carries everything.
	Channel string `json:"channel,omitempty"`
}

// Channel names as they appear in the status WebSocket URL.
const (
	ChannelNameControl = "control"
	ChannelNameStream  = "stream"
	ChannelNameSingle  = "single"
)

// StatusPathPrefix and StatusPathSuffix frame the connection id in the
// status WebSocket's path: /v1/environments/{connectionId}/status/ws.
const (
	StatusPathPrefix = "/v1/environments/"
	StatusPathSuffix = "/status/ws"
)

// SessionFromURL parses the session of a status WebSocket URL or request
// URI (path and query). A URL without a channel parameter is a single
// socket. Unparseable input gives a zero Session with Channel "single".
func SessionFromURL(raw string) Session {
	s := Session{Channel: ChannelNameSingle}
	u, err := url.Parse(raw)
	if err != nil {
		return s
	}
	if id, ok := ConnectionIDFromPath(u.Path); ok {
		s.ConnectionID = id
	}
	q := u.Query()
	s.AgentID = q.Get("agentId")
	s.ConversationID = q.Get("conversationId")
	if ch := q.Get("channel"); ch != "" {
		s.Channel = ch
	}
	return s
}

// SessionOf returns a socket's session: the recorded one, or, when that
// is empty (a trace that did not store it), the one its URL names. A
// session without a channel is a single socket.
func SessionOf(recorded Session, rawURL string) Session {
	s := recorded
	if s == (Session{}) || (s.Channel == "" && rawURL != "") {
		s = SessionFromURL(rawURL)
	}
	if s.Channel == "" {
		s.Channel = ChannelNameSingle
	}
	return s
}

// ConnectionIDFromPath returns the {connectionId} of a status WebSocket
// path.
func ConnectionIDFromPath(path string) (string, bool) {
	if !strings.HasPrefix(path, StatusPathPrefix) || !strings.HasSuffix(path, StatusPathSuffix) {
		return "", false
	}
	id := path[len(StatusPathPrefix) : len(path)-len(StatusPathSuffix)]
	if id == "" || strings.Contains(id, "/") {
		return "", false
	}
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	return id, true
}

// Key returns the session without its channel: the sockets whose device
// events are numbered by one counter.
func (s Session) Key() Session {
	s.Channel = ""
	return s
}

// String formats the session as connection/agent/conversation[#channel]
// ("(no session)" for a socket whose URL names none, such as an App
// Server's /ws).
func (s Session) String() string {
	if s.ConnectionID == "" && s.AgentID == "" && s.ConversationID == "" {
		if s.Channel != "" {
			return "(no session)#" + s.Channel
		}
		return "(no session)"
	}
	out := s.ConnectionID + "/" + s.AgentID + "/" + s.ConversationID
	if s.Channel != "" {
		out += "#" + s.Channel
	}
	return out
}
