package model

import (
	"strings"
	"time"

	"github.com/lettadev/wsproxy/protocol"
)

// Turn is one streaming turn of a session: from the client's input (a
// new message) to the next one, across the session's sockets.
type Turn struct {
	// Start is the input's row, End the turn's last row; StartLine and
	// EndLine their lines.
	Start, End         int
	StartLine, EndLine int64
	T0, T1             time.Time
	Prompt             string
	// Statuses are the loop statuses in order.
	Statuses []StatusAt
	// Waits are approval waits: a control_request until its answer.
	Waits []Wait
	// Text is the assistant's text assembled from its stream_deltas, as
	// the user saw it; StopReason the last stop_reason.
	Text       string
	StopReason string
	Deltas     int
}

// StatusAt is a loop status and when it was set.
type StatusAt struct {
	T      time.Time
	Status string
	Row    int
}

// Wait is an approval wait.
type Wait struct {
	From, To        time.Time
	Tool, Command   string
	Request, Answer int // rows; Answer is -1 when never answered
}

// maxTurnRows bounds how far a turn is searched for.
const maxTurnRows = 200_000

// TurnAt returns the turn that row i belongs to (or the first turn after
// it, when it is before any), false when the trace has none there.
func (m *Model) TurnAt(i int) (*Turn, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.n == 0 {
		return nil, false
	}
	i = max(0, min(i, m.n-1))
	start := -1
	for j := i; j >= 0 && i-j < maxTurnRows; j-- {
		if m.isPrompt(j) {
			start = j
			break
		}
	}
	if start < 0 {
		for j := i + 1; j < m.n && j-i < maxTurnRows; j++ {
			if m.isPrompt(j) {
				start = j
				break
			}
		}
	}
	if start < 0 {
		return nil, false
	}
	sess := sessionKey(*m.conns[m.row(start).conn])
	t := &Turn{Start: start, End: start, T0: m.row(start).Time(), StartLine: m.row(start).Line}
	if in, ok := protocol.ParseInput(m.payloadLocked(start)); ok {
		t.Prompt = in.Prompt
	}
	waits := map[string]int{}
	var text strings.Builder
	msgID := ""
	for j := start + 1; j < m.n && j-start < maxTurnRows; j++ {
		r := m.row(j)
		if r.kind != kFrame || sessionKey(*m.conns[r.conn]) != sess {
			continue
		}
		if m.isPrompt(j) {
			break
		}
		t.End, t.EndLine = j, r.Line
		t.T1 = r.Time()
		switch m.types[r.typ] {
		case protocol.TypeUpdateLoopStatus:
			if st, ok := protocol.LoopStatus(m.payloadLocked(j)); ok {
				t.Statuses = append(t.Statuses, StatusAt{T: r.Time(), Status: st, Row: j})
			}
		case protocol.TypeStreamDelta:
			if d, ok := protocol.ParseDelta(m.payloadLocked(j)); ok {
				t.Deltas++
				if d.Content != "" && d.MessageType == "assistant_message" {
					if d.ID != msgID && text.Len() > 0 {
						text.WriteString("\n") // a new assistant message
					}
					msgID = d.ID
					text.WriteString(d.Content)
				}
				if d.StopReason != "" {
					t.StopReason = d.StopReason
				}
			}
		case protocol.TypeControlRequest:
			tr, _ := protocol.ParseToolRequest(m.payloadLocked(j))
			waits[string(m.reqs[r.reqOff:r.reqOff+uint32(r.reqLen)])] = len(t.Waits)
			t.Waits = append(t.Waits, Wait{From: r.Time(), Tool: tr.ToolName, Command: tr.Command, Request: j, Answer: -1})
		case protocol.TypeInput:
			if a, ok := m.appr[j]; ok {
				if k, ok := waits[string(a)]; ok && t.Waits[k].Answer < 0 {
					t.Waits[k].To, t.Waits[k].Answer = r.Time(), j
				}
			}
		}
	}
	t.Text = text.String()
	if t.T1.IsZero() {
		t.T1 = t.T0
	}
	return t, true
}

// isPrompt reports a client input carrying a new message (read lock held).
func (m *Model) isPrompt(j int) bool {
	r := m.row(j)
	if r.kind != kFrame || r.from != sideCode("client") || m.types[r.typ] != protocol.TypeInput {
		return false
	}
	if _, ok := m.appr[j]; ok {
		return false
	}
	in, ok := protocol.ParseInput(m.payloadLocked(j))
	return ok && in.IsPrompt()
}

func (m *Model) payloadLocked(j int) []byte {
	r := m.row(j)
	return m.store.payload(r.pBlock, r.pOff, r.pLen)
}
