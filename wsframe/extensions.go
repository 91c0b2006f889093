package wsframe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DeflateParams are the permessage-deflate parameters (RFC 7692 7.1) of a
// server's Sec-WebSocket-Extensions response.
type DeflateParams struct {
	// ServerNoContextTakeover: the server starts each message with an
	// empty sliding window.
	ServerNoContextTakeover bool
	// ClientNoContextTakeover: the client starts each message with an
	// empty sliding window.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits and ClientMaxWindowBits are the negotiated
	// window sizes (8-15), 0 when absent. Decoding does not depend on them.
	ServerMaxWindowBits int
	ClientMaxWindowBits int
}

// ContextTakeover reports whether the sender keeps its sliding window
// across messages. For AnySide it reports true, which decodes any valid
// stream: a sender without context takeover never refers to earlier
// messages.
func (p *DeflateParams) ContextTakeover(sender Side) bool {
	switch sender {
	case Client:
		return !p.ClientNoContextTakeover
	case Server:
		return !p.ServerNoContextTakeover
	}
	return true
}

// String formats p as an extension header element, such as
// "permessage-deflate; client_no_context_takeover".
func (p *DeflateParams) String() string {
	var b strings.Builder
	b.WriteString("permessage-deflate")
	if p.ServerNoContextTakeover {
		b.WriteString("; server_no_context_takeover")
	}
	if p.ClientNoContextTakeover {
		b.WriteString("; client_no_context_takeover")
	}
	if p.ServerMaxWindowBits != 0 {
		fmt.Fprintf(&b, "; server_max_window_bits=%d", p.ServerMaxWindowBits)
	}
	if p.ClientMaxWindowBits != 0 {
		fmt.Fprintf(&b, "; client_max_window_bits=%d", p.ClientMaxWindowBits)
	}
	return b.String()
}

// Extension is one element of a Sec-WebSocket-Extensions header.
type Extension struct {
	Name   string
	Params []ExtensionParam
}

// ExtensionParam is an extension parameter; Value is unquoted.
type ExtensionParam struct {
	Name     string
	Value    string
	HasValue bool
}

// ParseExtensions reads the value of the Sec-WebSocket-Extensions header of
// a server's upgrade response (join repeated header lines with ", "; an
// empty value, as for an absent header, gives nil, nil, nil).
// It returns the permessage-deflate parameters, nil if the extension was
// not negotiated, and the other extensions, which this package does not
// decode. For a syntax error it returns only the error. For a
// permessage-deflate element that breaks RFC 7692 (unknown or repeated
// parameter, bad window size, extension listed twice) it returns an error
// together with the best reading of the parameters, so that a debugging
// tool can still decode the stream.
func ParseExtensions(header string) (deflate *DeflateParams, others []Extension, err error) {
	exts, err := parseExtensionList(header)
	if err != nil {
		return nil, nil, fmt.Errorf("wsframe: Sec-WebSocket-Extensions %q: %w", header, err)
	}
	var errs []error
	for _, e := range exts {
		if !strings.EqualFold(e.Name, "permessage-deflate") {
			others = append(others, e)
			continue
		}
		if deflate != nil {
			errs = append(errs, errors.New("permessage-deflate listed more than once"))
			continue
		}
		deflate = &DeflateParams{}
		seen := map[string]bool{}
		for _, p := range e.Params {
			name := strings.ToLower(p.Name)
			if seen[name] {
				errs = append(errs, fmt.Errorf("permessage-deflate parameter %s repeated", name))
				continue
			}
			seen[name] = true
			switch name {
			case "server_no_context_takeover", "client_no_context_takeover":
				if p.HasValue {
					errs = append(errs, fmt.Errorf("permessage-deflate parameter %s has a value", name))
				}
				if name[0] == 's' {
					deflate.ServerNoContextTakeover = true
				} else {
					deflate.ClientNoContextTakeover = true
				}
			case "server_max_window_bits", "client_max_window_bits":
				bits := 15
				if !p.HasValue {
					errs = append(errs, fmt.Errorf("permessage-deflate parameter %s without a value in a response", name))
				} else if n, perr := strconv.Atoi(p.Value); perr != nil || n < 8 || n > 15 || p.Value[0] == '0' {
					errs = append(errs, fmt.Errorf("permessage-deflate parameter %s=%q: want 8 to 15", name, p.Value))
				} else {
					bits = n
				}
				if name[0] == 's' {
					deflate.ServerMaxWindowBits = bits
				} else {
					deflate.ClientMaxWindowBits = bits
				}
			default:
				errs = append(errs, fmt.Errorf("unknown permessage-deflate parameter %s", p.Name))
			}
		}
	}
	if len(errs) > 0 {
		err = fmt.Errorf("wsframe: Sec-WebSocket-Extensions %q: %w", header, errors.Join(errs...))
	}
	return deflate, others, err
}

// parseExtensionList parses RFC 6455 9.1 extension-list syntax.
func parseExtensionList(s string) ([]Extension, error) {
	var exts []Extension
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	token := func() string {
		j := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		return s[j:i]
	}
	for {
		skipSpace()
		if i == len(s) {
			break
		}
		if s[i] == ',' { // empty list element
			i++
			continue
		}
		e := Extension{Name: token()}
		if e.Name == "" {
			return nil, fmt.Errorf("byte %d: want an extension name, have %q", i, s[i])
		}
		skipSpace()
		for i < len(s) && s[i] == ';' {
			i++
			skipSpace()
			p := ExtensionParam{Name: token()}
			if p.Name == "" {
				return nil, fmt.Errorf("byte %d: want a parameter name", i)
			}
			skipSpace()
			if i < len(s) && s[i] == '=' {
				i++
				skipSpace()
				p.HasValue = true
				if i < len(s) && s[i] == '"' {
					v, n, err := unquote(s[i:])
					if err != nil {
						return nil, fmt.Errorf("byte %d: %w", i, err)
					}
					p.Value = v
					i += n
				} else if p.Value = token(); p.Value == "" {
					return nil, fmt.Errorf("byte %d: want a parameter value", i)
				}
				skipSpace()
			}
			e.Params = append(e.Params, p)
		}
		exts = append(exts, e)
		if i < len(s) {
			if s[i] != ',' {
				return nil, fmt.Errorf("byte %d: unexpected %q", i, s[i])
			}
			i++
		}
	}
	return exts, nil
}

// unquote reads the quoted-string at the start of s, returning its value
// and length.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			i++
			if i == len(s) {
				return "", 0, errors.New("unterminated quoted-string")
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errors.New("unterminated quoted-string")
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
