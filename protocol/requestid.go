package protocol

import "github.com/lettadev/wsproxy/internal/jsonscan"

// RewriteRequestID appends p to dst with each top-level "request_id"
// string that m maps replaced by its new value; everything else stays
// byte-exact (a nested request_id, such as an approval's
// payload.request_id, is not the message's). It returns false, and dst
// unchanged, when nothing is to change. A replay uses it to answer a live
// client with the ids it chose.
func RewriteRequestID(dst, p []byte, m map[string]string) ([]byte, bool) {
	if len(m) == 0 {
		return dst, false
	}
	at, changed := 0, false
	o := jsonscan.NewObject(p, 0)
	for {
		key, esc, vs, ve, ok := o.Next()
		if !ok {
			break
		}
		if !jsonscan.KeyEquals(key, esc, "request_id") || p[vs] != '"' {
			continue
		}
		old, ok := jsonscan.StringValue(p, vs, ve)
		if !ok {
			continue
		}
		nv, ok := m[string(old)]
		if !ok || nv == string(old) {
			continue
		}
		dst = append(dst, p[at:vs]...)
		dst = jsonscan.AppendString(dst, []byte(nv))
		at, changed = ve, true
	}
	if !changed {
		return dst, false
	}
	return append(dst, p[at:]...), true
}
