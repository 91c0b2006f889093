// Package redact keeps secrets out of traces: it replaces the values of
// secret headers, query parameters and JSON members with a placeholder,
// leaving every other byte as it was.
package redact

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/lettadev/wsproxy/internal/jsonscan"
)

// Placeholder replaces every secret value.
const Placeholder = "[REDACTED]"

var quotedPlaceholder = []byte(`"` + Placeholder + `"`)

// secretHeaders are redacted whatever their value.
var secretHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Cookie":              true,
	"Set-Cookie":          true,
	"X-Api-Key":           true,
	"X-Auth-Token":        true,
}

// Headers returns a copy of h with secret header values replaced, and
// whether anything was replaced.
func Headers(h http.Header) (map[string][]string, bool) {
	if len(h) == 0 {
		return nil, false
	}
	out := make(map[string][]string, len(h))
	changed := false
	for k, vs := range h {
		if secretHeaders[http.CanonicalHeaderKey(k)] || IsSecretKey(k) {
			red := make([]string, len(vs))
			for i := range red {
				red[i] = Placeholder
			}
			out[k] = red
			changed = true
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out, changed
}

// URL redacts secret query parameters (token, api_key, …) of a request URI
// or URL, keeping the rest, and reports whether anything was replaced.
func URL(raw string) (string, bool) {
	base, query, ok := strings.Cut(raw, "?")
	if !ok || query == "" {
		return raw, false
	}
	changed := false
	parts := strings.Split(query, "&")
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if IsSecretKey(name) {
			parts[i] = url.QueryEscape(name) + "=" + url.QueryEscape(Placeholder)
			changed = true
		}
	}
	if !changed {
		return raw, false
	}
	return base + "?" + strings.Join(parts, "&"), true
}

// IsSecretKey reports whether a JSON member, header or query parameter
// name holds a secret: token, api_key, secret, password and their
// relatives, case-insensitively, with '-' and '_' alike. Counters such as
// max_tokens and keys such as idempotency_key are not secrets.
func IsSecretKey(name string) bool { return isSecretKey([]byte(name)) }

// isSecretKey is IsSecretKey without allocating (for names up to 64
// bytes; longer ones are lowered on the heap).
func isSecretKey(name []byte) bool {
	if len(name) < 5 { // the shortest is "token"
		return false
	}
	var buf [64]byte
	k := buf[:0]
	if len(name) > len(buf) {
		k = make([]byte, 0, len(name))
	}
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '-':
			c = '_'
		}
		k = append(k, c)
	}
	switch string(k) {
	case "token", "access_token", "refresh_token", "id_token", "auth_token", "bearer_token", "session_token",
		"api_key", "apikey", "api_token", "x_api_key", "secret", "client_secret", "secret_key", "private_key",
		"access_key", "password", "passwd", "passphrase", "authorization", "proxy_authorization", "cookie",
		"set_cookie", "credentials", "credential":
		return true
	}
	return bytes.HasSuffix(k, []byte("_token")) || bytes.HasSuffix(k, []byte("_secret")) ||
		bytes.HasSuffix(k, []byte("_password")) || bytes.HasSuffix(k, []byte("_api_key"))
}

// mayHoldSecret is a cheap prefilter run on every frame: it looks only at
// member names (the quoted strings right before a ':'), and at the two
// message types whose secrets sit under ordinary names. A false positive
// costs a walk of the payload; a false negative cannot happen for valid
// JSON, since every member name is followed by a colon.
func mayHoldSecret(p []byte) bool {
	for i := 0; i < len(p); {
		j := bytes.IndexByte(p[i:], ':')
		if j < 0 {
			return false
		}
		colon := i + j
		i = colon + 1
		k := colon - 1
		for k >= 0 && (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || p[k] == '\r') {
			k--
		}
		if k < 1 || p[k] != '"' {
			continue // a colon inside a string value
		}
		start := bytes.LastIndexByte(p[:k], '"')
		if start < 0 {
			continue
		}
		name := p[start+1 : k]
		if string(name) == "type" {
			// secret_list_response and secret_apply keep secrets under
			// ordinary names.
			if v := p[min(colon+1, len(p)):]; bytes.HasPrefix(bytes.TrimLeft(v, " \t\r\n"), []byte(`"secret_`)) {
				return true
			}
			continue
		}
		if bytes.IndexByte(name, '\\') >= 0 || isSecretKey(name) {
			return true // escaped names are left to the full walk
		}
	}
	return false
}

// maxDepth bounds how deep JSON is searched for secrets.
const maxDepth = 64

// JSON replaces the values of secret members of a JSON payload with
// "[REDACTED]" and reports whether it did. Everything else stays
// byte-exact. Besides secret-named members it redacts the values of
// secret_list_response's secrets[].value and of secret_apply's set map.
// A payload that is not valid JSON, or has nothing to redact, is returned
// as it is.
func JSON(p []byte) ([]byte, bool) {
	if !mayHoldSecret(p) {
		return p, false
	}
	var spans [][2]int
	i := jsonscan.SkipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return p, false
	}
	typ := topLevelType(p, i)
	spans = walkObject(p, i, 0, typ, spans)
	if len(spans) == 0 {
		return p, false
	}
	out := make([]byte, 0, len(p))
	last := 0
	for _, s := range spans {
		out = append(out, p[last:s[0]]...)
		out = append(out, quotedPlaceholder...)
		last = s[1]
	}
	return append(out, p[last:]...), true
}

func topLevelType(p []byte, start int) string {
	o := jsonscan.NewObject(p, start)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			return ""
		}
		if jsonscan.KeyEquals(key, esc, "type") {
			s, _ := jsonscan.StringValue(p, vs, ve)
			return string(s)
		}
	}
}

// walkObject collects the spans of secret values in the object at start.
// typ is the message type when this is the top level, "" below it.
func walkObject(p []byte, start, depth int, typ string, spans [][2]int) [][2]int {
	if depth > maxDepth {
		return spans
	}
	o := jsonscan.NewObject(p, start)
	for {
		key, vs, ve, ok := o.Member()
		if !ok {
			return spans
		}
		name := string(key)
		switch {
		case isSecretKey(key):
			// A string (or a structure) holds the secret; a boolean or
			// number under such a name is a flag or a count ("secret":
			// true marks a secret field in provider schemas).
			if c := p[vs]; c == '"' || c == '{' || c == '[' {
				spans = append(spans, [2]int{vs, ve})
			}
		case typ == "secret_apply" && name == "set" && p[vs] == '{':
			spans = allValues(p, vs, spans)
		case typ == "secret_list_response" && name == "secrets" && p[vs] == '[':
			spans = walkArray(p, vs, depth+1, func(p []byte, es, ee int, spans [][2]int) [][2]int {
				if p[es] == '{' {
					return memberValue(p, es, "value", spans)
				}
				return spans
			}, spans)
		case p[vs] == '{':
			spans = walkObject(p, vs, depth+1, "", spans)
		case p[vs] == '[':
			spans = walkArray(p, vs, depth+1, func(p []byte, es, ee int, spans [][2]int) [][2]int {
				if p[es] == '{' {
					return walkObject(p, es, depth+2, "", spans)
				}
				return spans
			}, spans)
		}
	}
}

// walkArray calls f on each element of the array at start.
func walkArray(p []byte, start, depth int, f func(p []byte, es, ee int, spans [][2]int) [][2]int, spans [][2]int) [][2]int {
	if depth > maxDepth {
		return spans
	}
	i := jsonscan.SkipSpace(p, start+1)
	for i < len(p) && p[i] != ']' {
		end, err := jsonscan.SkipValue(p, i)
		if err != nil {
			return spans
		}
		spans = f(p, i, end, spans)
		i = jsonscan.SkipSpace(p, end)
		if i < len(p) && p[i] == ',' {
			i = jsonscan.SkipSpace(p, i+1)
		}
	}
	return spans
}

// allValues collects the spans of every member value of the object at start.
func allValues(p []byte, start int, spans [][2]int) [][2]int {
	o := jsonscan.NewObject(p, start)
	for {
		_, _, vs, ve, ok := o.Next()
		if !ok {
			return spans
		}
		spans = append(spans, [2]int{vs, ve})
	}
}

// memberValue collects the span of member name of the object at start.
func memberValue(p []byte, start int, name string, spans [][2]int) [][2]int {
	o := jsonscan.NewObject(p, start)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			return spans
		}
		if jsonscan.KeyEquals(key, esc, name) {
			spans = append(spans, [2]int{vs, ve})
		}
	}
}
