package keyauth_test

import (
	"bufio"
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/valyala/fasthttp"
)

// keysSeen is a KeyVerifier that grants every key and remembers them.
type keysSeen []string

func (k *keysSeen) VerifyKey(_ context.Context, key string, _ keygate.Target) (keygate.VerifyResult, error) {
	*k = append(*k, key)
	return keygate.VerifyResult{Code: keygate.CodeValid, Key: &keygate.VerifiedKey{ID: "k1"}, Consumer: &keygate.Consumer{ID: "c1"}}, nil
}

func receivedRequest(t *testing.T, raw string) *fasthttp.Request {
	t.Helper()
	var r fasthttp.Request
	if err := r.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	return &r
}

// Key-auth finds a key where Kong's does, and hide_credentials removes it
// from there only, leaving the rest of the request as the caller sent it.
func TestAuthenticatorFindsAndHidesKeys(t *testing.T) {
	for _, tc := range []struct {
		name, request string
		verdict       auth.Verdict
		key           string
		uri           string   // the request URI after hiding
		headers       []string // the header lines after hiding
	}{
		{name: "header", request: "GET /x?a=1 HTTP/1.1\r\nHost: h\r\napikey: K1\r\nAccept: */*\r\n\r\n",
			verdict: auth.Granted, key: "K1", uri: "/x?a=1", headers: []string{"Host: h", "Accept: */*"}},
		{name: "query", request: "GET /x%2Fy?a=1&apikey=K2&b=%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n",
			verdict: auth.Granted, key: "K2", uri: "/x%2Fy?a=1&b=%C3%A9", headers: []string{"Host: h"}},
		{name: "query, the only parameter", request: "GET /x?apikey=K3 HTTP/1.1\r\nHost: h\r\n\r\n",
			verdict: auth.Granted, key: "K3", uri: "/x", headers: []string{"Host: h"}},
		{name: "header before query", request: "GET /x?apikey=Q HTTP/1.1\r\nHost: h\r\nApikey: H\r\n\r\n",
			verdict: auth.Granted, key: "H", uri: "/x", headers: []string{"Host: h"}},
		{name: "bearer", request: "GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer  K4 \r\n\r\n",
			verdict: auth.Granted, key: "K4", uri: "/x", headers: []string{"Host: h"}},
		{name: "another scheme is not a key", request: "GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dTpw\r\n\r\n",
			verdict: auth.Absent, uri: "/x", headers: []string{"Host: h", "Authorization: Basic dTpw"}},
		{name: "a key sent twice", request: "GET /x HTTP/1.1\r\nHost: h\r\napikey: A\r\napikey: B\r\n\r\n",
			verdict: auth.Unauthenticated, uri: "/x", headers: []string{"Host: h"}},
		{name: "no key", request: "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", verdict: auth.Absent, uri: "/x", headers: []string{"Host: h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := keygate.NewKeyAuthConfig()
			cfg.HideCredentials = true
			var seen keysSeen
			r := receivedRequest(t, tc.request)
			res, err := keyauth.New(*cfg, &seen).Authenticate(context.Background(), r, keygate.Target{})
			if err != nil || res.Verdict != tc.verdict {
				t.Fatalf("verdict %v (%q), %v; want %v", res.Verdict, res.Message, err, tc.verdict)
			}
			if tc.key != "" && (len(seen) != 1 || seen[0] != tc.key) {
				t.Errorf("verified %q, want %q", seen, tc.key)
			}
			if got := string(r.Header.RequestURI()); got != tc.uri {
				t.Errorf("request URI %q, want %q", got, tc.uri)
			}
			var lines []string
			for name, value := range r.Header.All() {
				lines = append(lines, string(name)+": "+string(value))
			}
			if strings.Join(lines, "\n") != strings.Join(tc.headers, "\n") {
				t.Errorf("headers %q, want %q", lines, tc.headers)
			}
		})
	}
}
