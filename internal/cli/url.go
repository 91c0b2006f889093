package cli

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseURL parses a URL given on the command line (what names the flag or
// argument, e.g. "-upstream"), requiring one of schemes, and explains the
// common mistakes: a missing scheme ("127.0.0.1:8766") gets "missing
// scheme: use ws://127.0.0.1:8766 …" instead of Go's parse error.
func ParseURL(what, raw string, schemes ...string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s: empty URL", what)
	}
	if !strings.Contains(raw, "://") {
		host := strings.TrimPrefix(raw, "//")
		return nil, fmt.Errorf("%s %q: missing scheme: use %s://%s%s", what, raw, schemes[0], host, alsoSchemes(schemes[1:], host))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %v", what, raw, err)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return nil, fmt.Errorf("%s %q: scheme %q: want %s", what, raw, u.Scheme, orList(schemes))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s %q: no host (want %s://HOST:PORT)", what, raw, u.Scheme)
	}
	return u, nil
}

func alsoSchemes(more []string, raw string) string {
	if len(more) == 0 {
		return ""
	}
	return " or " + more[0] + "://" + raw
}

// NoPath refuses a URL whose path, query or fragment the command would
// ignore (what names the flag, use says what the URL is for).
func NoPath(what string, u *url.URL) error {
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		shown := u.Scheme + "://" + u.Host + u.Path + queryPart(u) // no query values: they may hold a token
		return fmt.Errorf("%s %q: the path %q would be ignored: give only %s://%s (the client's path and query are passed through)",
			what, shown, u.Path+queryPart(u), u.Scheme, u.Host)
	}
	return nil
}

func queryPart(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	return "?…"
}
