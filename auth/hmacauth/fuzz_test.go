package hmacauth

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/httpsig"
)

// FuzzAuthenticate sends garbled credentials of both schemes, digests and
// dates: each request the listener passes on (fasthttp refuses some, such
// as one with a control character in a header value, before any handler)
// must end in a verdict with a message, never a panic or an error (the
// store is up); a granted one carries the credential's consumer.
func FuzzAuthenticate(f *testing.F) {
	date := httpDate(testTime)
	good := request("POST", "/x", "abc", "Date: "+date, "Digest: "+httpsig.DigestHeader([]byte("abc")))
	signKong(f, good, "", testUser, testSecret, "hmac-sha256", "date @request-target digest")
	f.Add(good.Header.Get("Authorization"), "", "", good.Header.Get("Digest"), date, "abc")
	good = request("POST", "https://example.com/x", "abc", "Content-Digest: sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:")
	signRFC9421(f, good, testSecret, []string{"@method", "@authority", "@path", "@query", "content-digest"},
		httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
	f.Add("", good.Header.Get("Signature-Input"), good.Header.Get("Signature"), good.Header.Get("Content-Digest"), "", "abc")
	f.Add(`hmac username="alice123", algorithm="hmac-sha", headers="date  request-line", signature="!!"`, "", "", "SHA-256=", date, "")
	f.Add("asd", `sig1=("@method";x);created=1`, "sig1=:AA:", "", "wrong date", "")
	f.Add("", `sig1=("@method" "@authority" "@path");created=1772366400;keyid="alice123";expires=1`, "sig1=:AAAA:", "", "", "x")

	fx := newFixture(f, func(c *keygate.HMACAuthConfig) {
		c.ValidateRequestBody, c.HideCredentials, c.MaxBodySize, c.EnforceHeaders = true, true, 64, []string{"date"}
	})
	f.Fuzz(func(t *testing.T, authorization, sigInput, sig, digest, date, body string) {
		r := request("POST", "https://example.com/x", body)
		for name, v := range map[string]string{"Authorization": authorization, "Signature-Input": sigInput,
			"Signature": sig, "Digest": digest, "Content-Digest": digest, "Date": date} {
			if v != "" && !strings.ContainsAny(v, "\r\n") {
				r.Header.Set(name, v)
			}
		}
		fr, err := tryReceived(r)
		if err != nil {
			return // answered 400 by the listener
		}
		res, err := fx.auth.Authenticate(context.Background(), fr, keygate.Target{})
		if err != nil {
			t.Fatalf("error: %v", err)
		}
		switch res.Verdict {
		case auth.Granted:
			if res.Consumer == nil || res.CredentialID != testUser {
				t.Fatalf("granted without the credential: %+v", res)
			}
		case auth.Absent, auth.Unauthenticated, auth.TooLarge:
			if res.Message == "" {
				t.Fatalf("verdict %d without a message", res.Verdict)
			}
		default:
			t.Fatalf("verdict %d", res.Verdict)
		}
	})
}

// FuzzParseHTTPDate holds parseHTTPDate to http.ParseTime on any value
// within its length bound; the fast path for IMF-fixdate included.
func FuzzParseHTTPDate(f *testing.F) {
	for _, v := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Mon, 29 Feb 2100 00:00:00 GMT", "Tue, 29 Feb 2000 23:59:59 GMT",
		"Sat, 31 Dec 9999 23:59:59 GMT", "Sun, 01 Jan 0000 00:00:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := parseHTTPDate(v)
		if len(v) > maxHTTPDate {
			if ok {
				t.Fatalf("%q: %d past the length bound", v, got)
			}
			return
		}
		want, err := http.ParseTime(v)
		if ok != (err == nil) || ok && got != want.Unix() {
			t.Fatalf("%q: %d %v; http.ParseTime %v %v", v, got, ok, want, err)
		}
	})
}
