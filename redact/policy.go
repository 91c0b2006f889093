package redact

import "net/http"

// Policy is the one decision of what a trace keeps of secrets, applied by
// the wire tap to every record it makes: URLs, handshake headers, frame
// payloads and HTTP bodies. The zero value redacts with the default rules.
type Policy struct {
	// Keep records secrets as they are (the proxy's -keep-secrets).
	Keep bool
}

// Default returns the policy that redacts with the default rules.
func Default() Policy { return Policy{} }

// Secrets names the policy as a trace header does: "redacted" or "kept".
func (p Policy) Secrets() string {
	if p.Keep {
		return "kept"
	}
	return "redacted"
}

// URL returns raw with secret query parameters redacted, and whether it
// changed.
func (p Policy) URL(raw string) (string, bool) {
	if p.Keep {
		return raw, false
	}
	return URL(raw)
}

// Headers returns a copy of h with secret values redacted, and whether
// anything was redacted. It returns nil for no headers.
func (p Policy) Headers(h http.Header) (map[string][]string, bool) {
	if len(h) == 0 {
		return nil, false
	}
	if p.Keep {
		out := make(map[string][]string, len(h))
		for k, v := range h {
			out[k] = append([]string(nil), v...)
		}
		return out, false
	}
	return Headers(h)
}

// Payload returns a JSON text payload (a frame's or a body's) with secret
// values redacted, and whether it changed. Other payloads come back as
// they are.
func (p Policy) Payload(b []byte) ([]byte, bool) {
	if p.Keep {
		return b, false
	}
	return JSON(b)
}
