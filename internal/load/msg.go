package load

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// The messages of the load traffic, built by hand for speed. Their types
// and fields are those of the protocol model (package protocol): device
// events carry an event_seq and idempotency_key envelope, the relay adds
// the transport seq, the client acks it.

const (
	// EventType is the type of the streamed server events.
	EventType = "stream_delta"
	// RequestType is the command the round-trip mode sends.
	RequestType = "list_models"

	agentID     = "agent-00000000-0000-4000-8000-00000000load"
	runtimeJSON = `"runtime":{"agent_id":"` + agentID + `","conversation_id":"default"}`
)

// appendEvent appends the stream_delta event with event_seq n and
// transport seq, padded with its content to size bytes when shorter. To
// fit 200 bytes it carries event_seq and idempotency_key of the device's
// envelope but not runtime and emitted_at.
func appendEvent(dst []byte, n, seq int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"type":"stream_delta","delta":{"message_type":"assistant_message","content":"`...)
	padAt := len(dst)
	dst = append(dst, `"},"event_seq":`...)
	dst = strconv.AppendInt(dst, n, 10)
	dst = fmt.Appendf(dst, `,"idempotency_key":"stream_delta:%d:00000000-0000-4000-8000-%012d","seq":%d}`, n, n%1e12, seq)
	if pad := size - (len(dst) - start); pad > 0 {
		dst = append(dst, make([]byte, pad)...)
		copy(dst[padAt+pad:], dst[padAt:len(dst)-pad])
		for i := padAt; i < padAt+pad; i++ {
			dst[i] = "the stream of an answer "[(i-padAt)%24]
		}
	}
	return dst
}

// appendReply appends the reply of type typ to request id, with seq.
func appendReply(dst []byte, typ, id string, seq int64) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","request_id":`...)
	dst = strconv.AppendQuote(dst, id)
	dst = append(dst, `,"success":true,"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	return append(dst, '}')
}

// appendAck appends the client's ack of seq.
func appendAck(dst []byte, seq int64) []byte {
	dst = append(dst, `{"type":"ack","seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	return append(dst, '}')
}

// appendRequest appends a list_models command with request_id id.
func appendRequest(dst []byte, id string) []byte {
	dst = append(dst, `{"type":"list_models","request_id":`...)
	dst = strconv.AppendQuote(dst, id)
	dst = append(dst, ","+runtimeJSON+"}"...)
	return dst
}

var pingMsg = []byte(`{"type":"ping"}`)

// appendSync appends the sync a well-behaved client sends on attaching.
func appendSync(dst []byte, id string) []byte {
	dst = append(dst, `{"type":"sync","request_id":`...)
	dst = strconv.AppendQuote(dst, id)
	dst = append(dst, `,"recover_approvals":true,`+runtimeJSON+"}"...)
	return dst
}

// statusPath is the status socket's path for environment id.
func statusPath(id string) string {
	return "/v1/environments/" + url.PathEscape(id) + "/status/ws"
}

// loopbackHost checks that a host:port names a loopback address: the load
// tools send traffic to this machine only.
func loopbackHost(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("address %q: %w", hostport, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not loopback: the load tools only send traffic to this machine", hostport)
	}
	return nil
}

// loopbackURL checks that a ws:// or http:// URL names a loopback host and
// returns its host:port.
func loopbackURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "ws", "http":
	default:
		return "", fmt.Errorf("url %q: want ws:// or http:// (loopback, no TLS)", raw)
	}
	hp := u.Host
	if u.Port() == "" {
		hp = net.JoinHostPort(u.Hostname(), "80")
	}
	if err := loopbackHost(hp); err != nil {
		return "", err
	}
	return hp, nil
}
