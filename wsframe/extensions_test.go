package wsframe

import (
	"reflect"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	cases := []struct {
		in     string
		want   *DeflateParams
		others []Extension
		err    bool
	}{
		{in: "", want: nil},
		{in: "permessage-deflate", want: &DeflateParams{}},
		{in: "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
			want: &DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true}},
		{in: "Permessage-Deflate ;client_max_window_bits=10 ; server_max_window_bits=\"12\"",
			want: &DeflateParams{ClientMaxWindowBits: 10, ServerMaxWindowBits: 12}},
		{in: "x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover, foo; bar=\"a\\\"b\"; baz",
			want: &DeflateParams{ClientNoContextTakeover: true},
			others: []Extension{
				{Name: "x-webkit-deflate-frame"},
				{Name: "foo", Params: []ExtensionParam{{Name: "bar", Value: "a\"b", HasValue: true}, {Name: "baz"}}},
			}},
		{in: "foo", others: []Extension{{Name: "foo"}}},
		{in: " , permessage-deflate ,, ", want: &DeflateParams{}},
		// Violations: best reading plus an error.
		{in: "permessage-deflate; server_max_window_bits=16", want: &DeflateParams{ServerMaxWindowBits: 15}, err: true},
		{in: "permessage-deflate; server_max_window_bits=08", want: &DeflateParams{ServerMaxWindowBits: 15}, err: true},
		{in: "permessage-deflate; client_max_window_bits", want: &DeflateParams{ClientMaxWindowBits: 15}, err: true},
		{in: "permessage-deflate; server_no_context_takeover=1", want: &DeflateParams{ServerNoContextTakeover: true}, err: true},
		{in: "permessage-deflate; server_no_context_takeover; server_no_context_takeover", want: &DeflateParams{ServerNoContextTakeover: true}, err: true},
		{in: "permessage-deflate; mystery", want: &DeflateParams{}, err: true},
		{in: "permessage-deflate, permessage-deflate; client_no_context_takeover", want: &DeflateParams{}, err: true},
		// Syntax errors: nothing but the error.
		{in: "permessage-deflate;", err: true},
		{in: "permessage-deflate; a=", err: true},
		{in: "permessage-deflate; a=\"open", err: true},
		{in: "permessage deflate", err: true},
		{in: "=x", err: true},
	}
	for _, tc := range cases {
		got, others, err := ParseExtensions(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(others, tc.others) {
			t.Errorf("%q: got %+v, %+v, %v", tc.in, got, others, err)
		}
	}
}

func TestDeflateParamsString(t *testing.T) {
	p := &DeflateParams{ServerNoContextTakeover: true, ClientNoContextTakeover: true, ServerMaxWindowBits: 10, ClientMaxWindowBits: 9}
	s := p.String()
	back, _, err := ParseExtensions(s)
	if err != nil || *back != *p {
		t.Errorf("%q parsed back to %+v, %v", s, back, err)
	}
	if !p.ContextTakeover(AnySide) || p.ContextTakeover(Client) || p.ContextTakeover(Server) {
		t.Error("ContextTakeover")
	}
	q := &DeflateParams{ClientNoContextTakeover: true}
	if q.ContextTakeover(Client) || !q.ContextTakeover(Server) {
		t.Error("ContextTakeover per side")
	}
}
