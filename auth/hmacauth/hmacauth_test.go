package hmacauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/httpsig"
)

// The cases follow Kong's own tests (spec/03-plugins/19-hmac-auth/
// 03-access_spec.lua) where they exist.
func TestKongScheme(t *testing.T) {
	date := httpDate(testTime)
	signed := func(alg, headers string, extra ...string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := request("GET", "/request?name=foo", "", append([]string{"Date: " + date, "Content-MD5: md5"}, extra...)...)
			signKong(t, r, "", testUser, testSecret, alg, headers)
			return r
		}
	}
	withAuth := func(value string, extra ...string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			return request("POST", "/request", "", append([]string{"Authorization: " + value}, extra...)...)
		}
	}
	tests := []struct {
		name    string
		edit    func(*keygate.HMACAuthConfig)
		req     func(t *testing.T) *http.Request
		verdict auth.Verdict
		msg     string
	}{
		{name: "no credentials", req: func(t *testing.T) *http.Request { return request("POST", "/request", "", "Date: "+date) },
			verdict: auth.Absent, msg: msgUnauthorized},
		{name: "another kind's Authorization", req: withAuth("Bearer kg_test_abc", "Date: "+date), verdict: auth.Absent, msg: msgNotValid},
		{name: "not hmac at all (Kong: asd)", req: withAuth("asd", "Date: "+date), verdict: auth.Absent, msg: msgNotValid},
		{name: "not hmac, no date", req: withAuth("asd"), verdict: auth.Absent, msg: msgNoDate},
		{name: "date missing", req: withAuth(`hmac username="alice123", algorithm="hmac-sha256", headers="date", signature="x"`),
			verdict: auth.Unauthenticated, msg: msgNoDate},
		{name: "date out of skew", req: withAuth(`hmac username="alice123", algorithm="hmac-sha256", headers="date", signature="x"`,
			"Date: "+httpDate(testTime.Add(-301*time.Second))), verdict: auth.Unauthenticated, msg: msgNoDate},
		{name: "x-date malformed", req: withAuth(`hmac username="alice123", algorithm="hmac-sha256", headers="date", signature="x"`,
			"X-Date: wrong date"), verdict: auth.Unauthenticated, msg: msgNoDate},
		{name: "only username", req: withAuth("hmac username", "Date: "+date), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "only the digest", req: withAuth("hmac :dXNlcm5hbWU6cGFzc3dvcmQ=", "Date: "+date), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "unquoted parameters", req: withAuth("hmac username=,algorithm,headers,dXNlcm5hbWU6cGFzc3dvcmQ=", "Date: "+date),
			verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "wrong headers field name", req: withAuth(`hmac username="alice123", algorithm="hmac-sha256", wrong_header="date", signature="x"`,
			"Date: "+date), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "missing comma", req: withAuth(`hmac username="alice123", algorithm="hmac-sha256" headers="date", signature="x"`,
			"Date: "+date), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "unknown username", req: func(t *testing.T) *http.Request {
			r := request("GET", "/request", "", "Date: "+date)
			signKong(t, r, "", "bob", testSecret, "hmac-sha256", "date")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "over-long username", req: func(t *testing.T) *http.Request {
			r := request("GET", "/request", "", "Date: "+date)
			signKong(t, r, "", strings.Repeat("a", maxUsername+1), testSecret, "hmac-sha256", "date")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "wrong secret", req: func(t *testing.T) *http.Request {
			r := request("GET", "/request", "", "Date: "+date)
			signKong(t, r, "", testUser, "wrong", "hmac-sha256", "date")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "signature not base64", req: withAuth(`hmac username="alice123", algorithm="hmac-sha1", headers="date", signature="not really a base64 encoded value!!!"`,
			"Date: "+date), verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "unknown algorithm", req: withAuth(`hmac username="alice123", algorithm="hmac-sha", headers="date", signature="eA=="`,
			"Date: "+date), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "algorithm not allowed on the route", edit: func(c *keygate.HMACAuthConfig) { c.Algorithms = []string{"hmac-sha1", "hmac-sha256"} },
			req: signed("hmac-sha512", "date"), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "enforced header not signed", edit: func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"date", "request-line"} },
			req: signed("hmac-sha256", "date content-md5"), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "enforced headers compared exactly", edit: func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"date"} },
			req: signed("hmac-sha256", "Date"), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "enforced headers signed", edit: func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"date", "@request-target"} },
			req: signed("hmac-sha256", "date content-md5 @request-target"), verdict: auth.Granted},
		{name: "too many headers", req: withAuth(`hmac username="alice123", algorithm="hmac-sha256", headers="`+
			strings.TrimSuffix(strings.Repeat("date ", 10000), " ")+`", signature="eA=="`, "Date: "+date), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "hmac-sha1", req: signed("hmac-sha1", "date content-md5 request-line"), verdict: auth.Granted},
		{name: "hmac-sha256", req: signed("hmac-sha256", "date"), verdict: auth.Granted},
		{name: "hmac-sha384", req: signed("hmac-sha384", "date content-md5 request-line"), verdict: auth.Granted},
		{name: "hmac-sha512", req: signed("hmac-sha512", "@request-target date"), verdict: auth.Granted},
		{name: "date not signed (Kong allows it; refused here)", req: signed("hmac-sha256", "content-md5 @request-target"),
			verdict: auth.Unauthenticated, msg: msgNoDate},
		{name: "x-date", req: func(t *testing.T) *http.Request {
			r := request("GET", "/request", "", "X-Date: "+date)
			signKong(t, r, "", testUser, testSecret, "hmac-sha256", "x-date @request-target")
			return r
		}, verdict: auth.Granted},
		{name: "x-date malformed but date correct, both signed", req: signed("hmac-sha256", "x-date date content-md5", "X-Date: wrong date"), verdict: auth.Granted},
		{name: "x-date malformed and signed, date correct but not signed", req: signed("hmac-sha256", "x-date content-md5", "X-Date: wrong date"),
			verdict: auth.Unauthenticated, msg: msgNoDate},
		{name: "proxy-authorization, junk authorization", req: func(t *testing.T) *http.Request {
			r := request("GET", "/request", "", "Date: "+date, "Authorization: hello")
			signKong(t, r, "Proxy-Authorization", testUser, testSecret, "hmac-sha256", "date")
			return r
		}, verdict: auth.Granted},
		{name: "authorization, malformed proxy-authorization", req: func(t *testing.T) *http.Request {
			r := request("GET", "/request", "", "Date: "+date, "Proxy-Authorization: hmac username")
			signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
			return r
		}, verdict: auth.Granted},
		{name: "tampered path", req: func(t *testing.T) *http.Request {
			r := request("GET", "/request", "", "Date: "+date)
			signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
			r.RequestURI = "/other"
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			res := f.authenticate(t, tt.req(t))
			expect(t, res, tt.verdict, tt.msg)
			if tt.verdict == auth.Granted && (res.CredentialID != testUser || res.Consumer == nil || res.Consumer.ID != "c1") {
				t.Errorf("granted to %q, %+v", res.CredentialID, res.Consumer)
			}
		})
	}
}

// Kong's documented example (see httpsig's TestKongDocExamples), through
// the authenticator.
func TestKongDocExample(t *testing.T) {
	f := newFixture(t, nil)
	f.clock.now = time.Date(2017, 6, 22, 17, 15, 21, 0, time.UTC)
	r := request("GET", "/requests", "", "Host: hmac.com", "Date: Thu, 22 Jun 2017 17:15:21 GMT",
		`Authorization: hmac username="alice123", algorithm="hmac-sha256", headers="date request-line", signature="ujWCGHeec9Xd6UD2zlyxiNMCiXnDOWeVFMu5VeRUxtw="`)
	expect(t, f.authenticate(t, r), auth.Granted, "")

	f.clock.now = time.Date(2017, 6, 22, 21, 12, 36, 0, time.UTC)
	f2 := newFixture(t, func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = true })
	f2.clock.now = f.clock.now
	r = request("GET", "/requests", "A small body", "Date: Thu, 22 Jun 2017 21:12:36 GMT",
		"Digest: SHA-256=SBH7QEtqnYUpEcIhDbmStNd1MxtHg2+feBfWc1105MA=",
		`Authorization: hmac username="alice123", algorithm="hmac-sha256", headers="date request-line digest", signature="gaweQbATuaGmLrUr3HE0DzU1keWGCt3H96M28sSHTG8="`)
	expect(t, f2.authenticate(t, r), auth.Granted, "")
}

func TestChallenge(t *testing.T) {
	if c := newFixture(t, nil).auth.Challenge(); c != "hmac" {
		t.Errorf("Challenge = %q", c)
	}
	if c := newFixture(t, func(c *keygate.HMACAuthConfig) { c.Realm = "partners" }).auth.Challenge(); c != `hmac realm="partners"` {
		t.Errorf("Challenge = %q", c)
	}
}

func TestBodyValidation(t *testing.T) {
	date := httpDate(testTime)
	const body = `{"a":"apple","b":"ball"}`
	post := func(t *testing.T, body, digest string, chunked bool) *http.Request {
		r := request("POST", "/request", body, "Date: "+date)
		if digest != "" {
			r.Header.Set("Digest", digest)
		}
		if chunked {
			r.ContentLength = -1
		}
		signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date digest")
		return r
	}
	small := func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = true; c.MaxBodySize = 16 }
	tests := []struct {
		name    string
		edit    func(*keygate.HMACAuthConfig)
		req     func(t *testing.T) *http.Request
		verdict auth.Verdict
		msg     string
	}{
		{name: "digest matches", req: func(t *testing.T) *http.Request { return post(t, body, httpsig.DigestHeader([]byte(body)), false) }, verdict: auth.Granted},
		{name: "lower-case algorithm", req: func(t *testing.T) *http.Request {
			return post(t, body, "sha-256="+strings.TrimPrefix(httpsig.DigestHeader([]byte(body)), "SHA-256="), false)
		}, verdict: auth.Granted},
		{name: "no digest, no body", req: func(t *testing.T) *http.Request { return post(t, "", "", false) }, verdict: auth.Granted},
		{name: "digest of the empty body", req: func(t *testing.T) *http.Request { return post(t, "", httpsig.DigestHeader(nil), false) }, verdict: auth.Granted},
		{name: "no digest, a body", req: func(t *testing.T) *http.Request { return post(t, body, "", false) }, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "body tampered", req: func(t *testing.T) *http.Request {
			r := post(t, body, httpsig.DigestHeader([]byte(body)), false)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader("abc")), 3
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "digest spoofed", req: func(t *testing.T) *http.Request {
			return post(t, body, httpsig.DigestHeader([]byte(body))+"spoofed", false)
		},
			verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "md5 only", req: func(t *testing.T) *http.Request { return post(t, body, "MD5=HUXZLQLMuI/KZ5KDcJPcOA==", false) },
			verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "larger than allowed, by Content-Length", edit: small,
			req: func(t *testing.T) *http.Request { return post(t, body, httpsig.DigestHeader([]byte(body)), false) }, verdict: auth.TooLarge, msg: msgTooLarge},
		{name: "larger than allowed, chunked", edit: small,
			req: func(t *testing.T) *http.Request { return post(t, body, httpsig.DigestHeader([]byte(body)), true) }, verdict: auth.TooLarge, msg: msgTooLarge},
		{name: "bad signature is 401, not 413", edit: small, req: func(t *testing.T) *http.Request {
			r := post(t, body, httpsig.DigestHeader([]byte(body)), false)
			r.Header.Set("Digest", "SHA-256=x")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "not checked when off", edit: func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = false },
			req: func(t *testing.T) *http.Request {
				r := request("POST", "/request", body, "Date: "+date, "Digest: SHA-256=x")
				signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
				return r
			}, verdict: auth.Granted},
		// A signed Digest is checked even when the route does not ask for
		// it: the signer vouched for it.
		{name: "signed digest checked when off", edit: func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = false },
			req: func(t *testing.T) *http.Request {
				r := post(t, body, httpsig.DigestHeader([]byte(body)), false)
				r.Body, r.ContentLength = io.NopCloser(strings.NewReader("abc")), 3
				return r
			}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "signed digest checked when off, matching", edit: func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = false },
			req: func(t *testing.T) *http.Request { return post(t, body, httpsig.DigestHeader([]byte(body)), false) }, verdict: auth.Granted},
		{name: "signed digest checked when off, too large", edit: func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = false; c.MaxBodySize = 16 },
			req: func(t *testing.T) *http.Request { return post(t, body, httpsig.DigestHeader([]byte(body)), false) }, verdict: auth.TooLarge, msg: msgTooLarge},
		// With validation on, a body needs a signed Digest: an unsigned one
		// could have been recomputed for another body.
		{name: "digest not signed", req: func(t *testing.T) *http.Request {
			r := request("POST", "/request", `{"amount":1000000}`, "Date: "+date, "Digest: "+httpsig.DigestHeader([]byte(`{"amount":1000000}`)))
			signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNoKongDigest},
		{name: "digest not signed, no body", req: func(t *testing.T) *http.Request {
			r := request("POST", "/request", "", "Date: "+date)
			signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
			return r
		}, verdict: auth.Granted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edit := tt.edit
			if edit == nil {
				edit = func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = true }
			}
			f := newFixture(t, edit)
			r := tt.req(t)
			want, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(want)))
			expect(t, f.authenticate(t, r), tt.verdict, tt.msg)
			if tt.verdict == auth.Granted {
				// The upstream gets the body intact.
				got, err := io.ReadAll(r.Body)
				if err != nil || string(got) != string(want) {
					t.Errorf("body after verification: %q %v, want %q", got, err, want)
				}
				if r.ContentLength >= 0 && r.ContentLength != int64(len(want)) {
					t.Errorf("ContentLength %d for %d bytes", r.ContentLength, len(want))
				}
			}
		})
	}
}

func TestHideCredentials(t *testing.T) {
	date := httpDate(testTime)
	hide := func(c *keygate.HMACAuthConfig) { c.HideCredentials = true }
	f := newFixture(t, hide)

	r := request("GET", "/", "", "Date: "+date)
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
	expect(t, f.authenticate(t, r), auth.Granted, "")
	if r.Header.Get("Authorization") != "" {
		t.Error("Authorization kept")
	}

	r = request("GET", "/2", "", "Date: "+date, "Authorization: Bearer for-the-upstream")
	signKong(t, r, "Proxy-Authorization", testUser, testSecret, "hmac-sha256", "date @request-target")
	expect(t, f.authenticate(t, r), auth.Granted, "")
	if r.Header.Get("Proxy-Authorization") != "" || r.Header.Get("Authorization") != "Bearer for-the-upstream" {
		t.Errorf("headers after: %v", r.Header)
	}

	// Refused credentials are hidden too (the anonymous consumer may take
	// the request on).
	r = request("GET", "/", "", "Date: "+date, `Authorization: hmac username="x", algorithm="hmac-sha256", headers="date", signature="eA=="`)
	expect(t, f.authenticate(t, r), auth.Unauthenticated, msgNotValid)
	if r.Header.Get("Authorization") != "" {
		t.Error("refused Authorization kept")
	}

	// Another kind's credential is not ours to remove.
	r = request("GET", "/", "", "Date: "+date, "Authorization: Bearer kg_test_x")
	expect(t, f.authenticate(t, r), auth.Absent, msgNotValid)
	if r.Header.Get("Authorization") == "" {
		t.Error("a bearer token was removed")
	}

	r = request("GET", "/", "", "Host: example.com")
	signRFC9421(t, r, testSecret, []string{"@method", "@authority", "@path", "@query"}, httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
	expect(t, f.authenticate(t, r), auth.Granted, "")
	if r.Header.Get("Signature") != "" || r.Header.Get("Signature-Input") != "" {
		t.Errorf("RFC 9421 headers kept: %v", r.Header)
	}

	f = newFixture(t, nil)
	r = request("GET", "/", "", "Date: "+date)
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
	expect(t, f.authenticate(t, r), auth.Granted, "")
	if r.Header.Get("Authorization") == "" {
		t.Error("Authorization removed without hide_credentials")
	}
}

func TestReplay(t *testing.T) {
	date := httpDate(testTime)
	signed := func(t *testing.T, path string) *http.Request {
		r := request("GET", path, "", "Date: "+date)
		signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
		return r
	}
	f := newFixture(t, nil)
	expect(t, f.authenticate(t, signed(t, "/a")), auth.Granted, "")
	expect(t, f.authenticate(t, signed(t, "/a")), auth.Unauthenticated, msgReplayed)
	expect(t, f.authenticate(t, signed(t, "/b")), auth.Granted, "") // another signature

	// Re-encoding the signature does not make it new.
	r := signed(t, "/a")
	p, _ := httpsig.ParseKong(r.Header.Get("Authorization"))
	p.Signature = strings.TrimRight(p.Signature, "=")
	r.Header.Set("Authorization", p.String())
	expect(t, f.authenticate(t, r), auth.Unauthenticated, msgReplayed)

	// Once the date is out of the skew, the date check refuses it.
	f.clock.Add(301 * time.Second)
	expect(t, f.authenticate(t, signed(t, "/a")), auth.Unauthenticated, msgNoDate)

	// A signature is remembered across routes sharing the guard.
	f = newFixture(t, nil)
	other := New(*keygate.NewHMACAuthConfig(), f.creds, f.replay, f.clock.Now)
	expect(t, f.authenticate(t, signed(t, "/a")), auth.Granted, "")
	res, _ := authenticate(t, other, signed(t, "/a"))
	expect(t, res, auth.Unauthenticated, msgReplayed)

	// Off: Kong's behaviour.
	f = newFixture(t, func(c *keygate.HMACAuthConfig) { c.ReplayProtection = false })
	expect(t, f.authenticate(t, signed(t, "/a")), auth.Granted, "")
	expect(t, f.authenticate(t, signed(t, "/a")), auth.Granted, "")

	// RFC 9421 signatures too.
	f = newFixture(t, nil)
	for i, want := range []auth.Verdict{auth.Granted, auth.Unauthenticated} {
		r := request("GET", "/", "", "Host: example.com")
		signRFC9421(t, r, testSecret, []string{"@method", "@authority", "@path", "@query"}, httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
		if res := f.authenticate(t, r); res.Verdict != want {
			t.Errorf("RFC 9421 request %d: %+v", i, res)
		}
	}
}

type failingGuard struct{}

func (failingGuard) Seen(context.Context, string, string, time.Time) (bool, error) {
	return false, errors.New("redis: connection refused")
}

func TestReplayGuardDown(t *testing.T) {
	f := newFixture(t, nil)
	a := New(*keygate.NewHMACAuthConfig(), f.creds, failingGuard{}, f.clock.Now)
	r := request("GET", "/", "", "Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
	if _, err := authenticate(t, a, r); keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
		t.Errorf("err = %v, want UNAVAILABLE (503)", err)
	}
}

func TestRevokeTakesEffectOnNextRequest(t *testing.T) {
	f := newFixture(t, nil)
	f.auth = New(func() keygate.HMACAuthConfig { c := *keygate.NewHMACAuthConfig(); c.ReplayProtection = false; return c }(),
		f.creds, nil, f.clock.Now)
	send := func() auth.Result {
		r := request("GET", "/", "", "Date: "+httpDate(testTime))
		signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
		return f.authenticate(t, r)
	}
	expect(t, send(), auth.Granted, "")
	expect(t, send(), auth.Granted, "")
	if n := f.store.reads.Load(); n != 1 {
		t.Errorf("%d store reads for two requests", n)
	}
	f.store.revoke(testUser)
	expect(t, send(), auth.Granted, "") // cached until the change arrives
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, ID: "id-" + testUser, Username: testUser})
	expect(t, send(), auth.Unauthenticated, msgNotValid)

	// A consumer change drops its credentials too.
	f.store.add(testUser, "new-secret", "c1")
	expect(t, send(), auth.Unauthenticated, msgNotValid) // the revoked entry is cached
	f.creds.Apply(keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Updated, ID: "c1"})
	expect(t, send(), auth.Unauthenticated, msgNotSame) // reloaded: new secret

	// A disabled consumer's credentials are refused until it is enabled.
	f.store.add(testUser, testSecret, "c1")
	off, on := false, true
	for _, step := range []struct {
		enabled *bool
		verdict auth.Verdict
	}{{&off, auth.Unauthenticated}, {&on, auth.Granted}} {
		f.store.mu.Lock()
		f.store.consumers["c1"].Enabled = step.enabled
		f.store.mu.Unlock()
		f.creds.Apply(keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Updated, ID: "c1"})
		if res := send(); res.Verdict != step.verdict {
			t.Errorf("consumer enabled=%t: %+v", *step.enabled, res)
		}
	}
}

func TestStoreOutageIsAnError(t *testing.T) {
	f := newFixture(t, nil)
	f.store.err = errors.New("database is locked")
	r := request("GET", "/", "", "Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
	res, err := authenticate(t, f.auth, r)
	if keygate.ErrorCode(err) != keygate.EUNAVAILABLE || res.Verdict != auth.Absent {
		t.Fatalf("Authenticate = %+v, %v; want an UNAVAILABLE error", res, err)
	}
	// Not cached: a request after the store is back, and after the
	// moment the verifier waits before asking it again, succeeds.
	f.store.err = nil
	f.clock.Add(time.Second)
	r = request("GET", "/", "", "Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date")
	expect(t, f.authenticate(t, r), auth.Granted, "")
}

func TestRFC9421(t *testing.T) {
	now := testTime.Unix()
	base := []string{"@method", "@authority", "@path", "@query"}
	const body = `{"hello": "world"}`
	sign := func(components []string, p httpsig.SignatureParams, body string, extra ...string) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := request("POST", "https://example.com/foo?param=Value&Pet=dog", body, append([]string{"Date: " + httpDate(testTime)}, extra...)...)
			if p.KeyID == "" {
				p.KeyID = testUser
			}
			signRFC9421(t, r, testSecret, components, p)
			return r
		}
	}
	valid := httpsig.SignatureParams{Created: now, Alg: httpsig.AlgHMACSHA256}
	digest, _ := httpsig.ContentDigestHeader([]byte(body))
	withBody := func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = true }
	tests := []struct {
		name    string
		edit    func(*keygate.HMACAuthConfig)
		req     func(t *testing.T) *http.Request
		verdict auth.Verdict
		msg     string
	}{
		{name: "valid", req: sign(base, valid, ""), verdict: auth.Granted},
		{name: "alg absent", req: sign(base, httpsig.SignatureParams{Created: now}, ""), verdict: auth.Granted},
		{name: "target-uri instead of path", req: sign([]string{"@method", "@authority", "@target-uri"}, valid, ""), verdict: auth.Granted},
		{name: "request-target instead of path", req: sign([]string{"@request-target", "@method", "@authority"}, valid, ""), verdict: auth.Granted},
		{name: "with a header", req: sign(append(base, "date"), valid, ""), verdict: auth.Granted},
		{name: "created in the future, within skew", req: sign(base, httpsig.SignatureParams{Created: now + 299}, ""), verdict: auth.Granted},
		{name: "created too old", req: sign(base, httpsig.SignatureParams{Created: now - 301}, ""), verdict: auth.Unauthenticated, msg: msgCreated},
		{name: "created missing", req: func(t *testing.T) *http.Request {
			r := request("GET", "https://example.com/", "")
			r.Header.Set("Signature-Input", `sig1=("@method" "@authority" "@path");keyid="alice123"`)
			r.Header.Set("Signature", `sig1=:AAAA:`)
			return r
		}, verdict: auth.Unauthenticated, msg: msgCreated},
		{name: "expired", req: sign(base, httpsig.SignatureParams{Created: now - 10, Expires: now - 1}, ""), verdict: auth.Unauthenticated, msg: msgExpired},
		{name: "not yet expired", req: sign(base, httpsig.SignatureParams{Created: now - 10, Expires: now + 1}, ""), verdict: auth.Granted},
		{name: "@authority not covered", req: sign([]string{"@method", "@path"}, valid, ""), verdict: auth.Unauthenticated, msg: msgCoverage},
		{name: "path not covered", req: sign([]string{"@method", "@authority", "@query"}, valid, ""), verdict: auth.Unauthenticated, msg: msgCoverage},
		{name: "another algorithm", req: func(t *testing.T) *http.Request {
			r := request("GET", "https://example.com/", "")
			r.Header.Set("Signature-Input", `sig1=("@method" "@authority" "@path");created=`+itoa(now)+`;keyid="alice123";alg="ed25519"`)
			r.Header.Set("Signature", `sig1=:AAAA:`)
			return r
		}, verdict: auth.Unauthenticated, msg: msgAlgorithm},
		{name: "hmac-sha256 not allowed on the route", edit: func(c *keygate.HMACAuthConfig) { c.Algorithms = []string{"hmac-sha512"} },
			req: sign(base, valid, ""), verdict: auth.Unauthenticated, msg: msgAlgorithm},
		{name: "unknown keyid", req: sign(base, httpsig.SignatureParams{Created: now, KeyID: "bob"}, ""), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "no keyid", req: func(t *testing.T) *http.Request {
			r := request("GET", "https://example.com/", "")
			r.Header.Set("Signature-Input", `sig1=("@method" "@authority" "@path");created=`+itoa(now))
			r.Header.Set("Signature", `sig1=:AAAA:`)
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "signature missing", req: func(t *testing.T) *http.Request {
			r := sign(base, valid, "")(t)
			r.Header.Del("Signature")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "garbled Signature-Input", req: func(t *testing.T) *http.Request {
			r := request("GET", "https://example.com/", "", `Signature-Input: sig1=("@method"`, "Signature: sig1=:AAAA:")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "signature not base64", req: func(t *testing.T) *http.Request {
			r := sign(base, valid, "")(t)
			r.Header.Set("Signature", "sig1=:!!!:")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "wrong secret", req: func(t *testing.T) *http.Request {
			r := request("GET", "https://example.com/", "")
			signRFC9421(t, r, "wrong", base, httpsig.SignatureParams{Created: now, KeyID: testUser})
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "tampered query", req: func(t *testing.T) *http.Request {
			r := sign(base, valid, "")(t)
			r.RequestURI = "/foo?param=Value&Pet=cat"
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "covered header absent", req: func(t *testing.T) *http.Request {
			r := sign(append(base, "date"), valid, "")(t)
			r.Header.Del("Date")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "component with parameters", req: func(t *testing.T) *http.Request {
			r := request("GET", "https://example.com/", "")
			r.Header.Set("Signature-Input", `sig1=("@method" "@authority" "@path" "date";sf);created=`+itoa(now)+`;keyid="alice123"`)
			r.Header.Set("Signature", `sig1=:AAAA:`)
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "enforced header covered", edit: func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"date", "@request-target"} },
			req: sign(append(base, "date"), valid, ""), verdict: auth.Granted},
		{name: "enforced header not covered", edit: func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"date"} },
			req: sign(base, valid, ""), verdict: auth.Unauthenticated, msg: msgNotValid},
		{name: "content-digest covered and matching", edit: withBody,
			req: sign(append(base, "content-digest"), valid, body, "Content-Digest: "+digest), verdict: auth.Granted},
		{name: "content-digest sha-512", edit: withBody, req: sign(append(base, "content-digest"), valid, body,
			"Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"), verdict: auth.Granted},
		{name: "content-digest not covered", edit: withBody,
			req: sign(base, valid, body, "Content-Digest: "+digest), verdict: auth.Unauthenticated, msg: msgNoDigest},
		{name: "body without content-digest", edit: withBody, req: sign(base, valid, body), verdict: auth.Unauthenticated, msg: msgNoDigest},
		{name: "no body, no content-digest", edit: withBody, req: sign(base, valid, ""), verdict: auth.Granted},
		{name: "content-digest mismatch", edit: withBody, req: func(t *testing.T) *http.Request {
			r := sign(append(base, "content-digest"), valid, body, "Content-Digest: "+digest)(t)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(`{"hello": "there"}`)), 18
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "body too large", edit: func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = true; c.MaxBodySize = 4 },
			req: sign(append(base, "content-digest"), valid, body, "Content-Digest: "+digest), verdict: auth.TooLarge, msg: msgTooLarge},
		{name: "Kong credentials win", req: func(t *testing.T) *http.Request {
			r := sign(base, valid, "")(t)
			signKong(t, r, "", testUser, "wrong", "hmac-sha256", "date")
			return r
		}, verdict: auth.Unauthenticated, msg: msgNotSame},
		{name: "a second signature for someone else", req: func(t *testing.T) *http.Request {
			r := sign(base, valid, "")(t)
			r.Header.Set("Signature-Input", `other=("@method");created=1;keyid="upstream-key";alg="ed25519", `+r.Header.Get("Signature-Input"))
			r.Header.Set("Signature", `other=:AAAA:, `+r.Header.Get("Signature"))
			return r
		}, verdict: auth.Granted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			res := f.authenticate(t, tt.req(t))
			expect(t, res, tt.verdict, tt.msg)
			if tt.verdict == auth.Granted && res.CredentialID != testUser {
				t.Errorf("CredentialID %q", res.CredentialID)
			}
		})
	}
}

// RFC 9421's own hmac-sha256 example (Appendix B.2.5) verifies
// cryptographically (httpsig's tests), but covers neither @method nor the
// path, so the gateway's policy refuses it.
func TestRFC9421TestVectorPolicy(t *testing.T) {
	f := newFixture(t, nil)
	f.clock.now = time.Unix(1618884473, 0)
	r := request("POST", "/foo?param=Value&Pet=dog", `{"hello": "world"}`, "Host: example.com",
		"Date: Tue, 20 Apr 2021 02:07:55 GMT", "Content-Type: application/json",
		`Signature-Input: sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
		"Signature: sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:")
	expect(t, f.authenticate(t, r), auth.Unauthenticated, msgCoverage)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestNilReplayGuard(t *testing.T) {
	f := newFixture(t, nil) // on the real clock, which the process-wide cache uses
	var none *ReplayCache
	a := New(*keygate.NewHMACAuthConfig(), f.creds, none, nil)
	now := time.Now()
	// The process-wide cache outlives the test (-count=N): a path of its own.
	path := "/nil-guard/" + itoa(now.UnixNano())
	r := request("GET", path, "", "Date: "+httpDate(now))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
	res, err := authenticate(t, a, r)
	if err != nil || res.Verdict != auth.Granted {
		t.Fatalf("%+v %v", res, err)
	}
	r = request("GET", path, "", "Date: "+httpDate(now))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
	res, _ = authenticate(t, a, r)
	expect(t, res, auth.Unauthenticated, msgReplayed) // the process-wide cache
}

// Only a signed date counts. A captured signature over "date
// @request-target" replayed after its window with a fresh, unsigned X-Date
// (or, when x-date is signed, a fresh unsigned Date) is refused.
func TestUnsignedDateIgnored(t *testing.T) {
	f := newFixture(t, func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"date", "@request-target"} })
	r := request("POST", "/v1/transfer?to=bob&amount=100", "", "Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
	captured := r.Clone(context.Background())
	expect(t, f.authenticate(t, r), auth.Granted, "")
	f.clock.Add(time.Hour)
	r = captured.Clone(context.Background())
	r.Header.Set("X-Date", httpDate(f.clock.Now()))
	expect(t, f.authenticate(t, r), auth.Unauthenticated, msgNoDate)

	f = newFixture(t, func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"x-date"} })
	r = request("POST", "/v1/transfer", "", "X-Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "x-date @request-target")
	captured = r.Clone(context.Background())
	expect(t, f.authenticate(t, r), auth.Granted, "")
	f.clock.Add(24 * time.Hour)
	r = captured.Clone(context.Background())
	r.Header.Set("Date", httpDate(f.clock.Now()))
	expect(t, f.authenticate(t, r), auth.Unauthenticated, msgNoDate)

	// Signed with another spelling the signing string reads as the same
	// header.
	f = newFixture(t, nil)
	r = request("GET", "/", "", "X-Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "X_Date @request-target")
	expect(t, f.authenticate(t, r), auth.Granted, "")
}

// Within the window, an unsigned date cannot stretch or shorten the
// replay entry either: it lasts until the signed date leaves the window.
func TestReplayEntryUsesSignedDate(t *testing.T) {
	f := newFixture(t, func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"date"} })
	r := request("POST", "/v1/transfer", "", "Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
	ok := 0
	for range 10 {
		r2 := r.Clone(context.Background())
		r2.Header.Set("X-Date", httpDate(f.clock.Now().Add(-300*time.Second)))
		if f.authenticate(t, r2).Verdict == auth.Granted {
			ok++
		}
		f.clock.Add(2 * time.Second)
	}
	if ok != 1 {
		t.Errorf("one signature accepted %d times in 20 s", ok)
	}
}

// Routes sharing the replay guard with different skews: a signature taken
// on the narrow route is remembered as long as the wide one would take it.
func TestReplayAcrossRoutesWithDifferentSkews(t *testing.T) {
	f := newFixture(t, func(c *keygate.HMACAuthConfig) { c.ClockSkew = 10 })
	wideCfg := *keygate.NewHMACAuthConfig()
	wideCfg.ClockSkew = 300
	wide := New(wideCfg, f.creds, f.replay, f.clock.Now)
	r := request("GET", "/v1/x", "", "Date: "+httpDate(testTime))
	signKong(t, r, "", testUser, testSecret, "hmac-sha256", "date @request-target")
	captured := r.Clone(context.Background())
	expect(t, f.authenticate(t, r), auth.Granted, "")
	f.clock.Add(60 * time.Second)
	res, err := authenticate(t, wide, captured)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, res, auth.Unauthenticated, msgReplayed)
}

// RFC 9421: @path without @query leaves the query free to change.
func TestRFC9421PathNeedsQuery(t *testing.T) {
	f := newFixture(t, nil)
	r := request("POST", "http://api.example.com/v1/transfer?amount=1", "")
	signRFC9421(t, r, testSecret, []string{"@method", "@authority", "@path"}, httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
	r2 := request("POST", "http://api.example.com/v1/transfer?amount=1000000", "",
		"Signature-Input: "+r.Header.Get("Signature-Input"), "Signature: "+r.Header.Get("Signature"))
	expect(t, f.authenticate(t, r2), auth.Unauthenticated, msgCoverage)

	for _, c := range [][]string{
		{"@method", "@authority", "@path", "@query"},
		{"@method", "@authority", "@target-uri"},
		{"@method", "@authority", "@request-target"},
		{"@method", "@authority", "@path", "@request-target"},
	} {
		r := request("POST", "http://api.example.com/v1/transfer?amount=1", "")
		signRFC9421(t, r, testSecret, c, httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
		expect(t, f.authenticate(t, r), auth.Granted, "")
	}
}

// @query is required only of a request with a query (as most clients,
// among them the npm http-message-signatures, sign ("@method" "@authority"
// "@path") for a request without one), and no query can be added to a
// request whose signature did not cover it, not even an empty one.
func TestRFC9421QueryCoverage(t *testing.T) {
	withQuery := []string{"@method", "@authority", "@path", "@query"}
	without := []string{"@method", "@authority", "@path"}
	for _, tc := range []struct {
		name       string
		signed     string   // the target signed
		components []string // covered
		sent       string   // the target sent with that signature
		verdict    auth.Verdict
		msg        string
	}{
		{"no query, @query not covered", "/v1/orders", without, "/v1/orders", auth.Granted, ""},
		{"no query, @query covered", "/v1/orders", withQuery, "/v1/orders", auth.Granted, ""},
		{"a query, @query covered", "/v1/orders?limit=10", withQuery, "/v1/orders?limit=10", auth.Granted, ""},
		{"a query, @query not covered", "/v1/orders?limit=10", without, "/v1/orders?limit=10", auth.Unauthenticated, msgCoverage},
		{"a query added to a signature without @query", "/v1/orders", without, "/v1/orders?limit=1000", auth.Unauthenticated, msgCoverage},
		{"an empty query added", "/v1/orders", without, "/v1/orders?", auth.Unauthenticated, msgCoverage},
		{"a query added to a signature with @query", "/v1/orders", withQuery, "/v1/orders?limit=1000", auth.Unauthenticated, msgNotSame},
		{"the query changed", "/v1/orders?limit=10", withQuery, "/v1/orders?limit=1000", auth.Unauthenticated, msgNotSame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			r := request("GET", "http://api.example.com"+tc.signed, "")
			signRFC9421(t, r, testSecret, tc.components, httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
			sent := request("GET", "http://api.example.com"+tc.sent, "",
				"Signature-Input: "+r.Header.Get("Signature-Input"), "Signature: "+r.Header.Get("Signature"))
			expect(t, f.authenticate(t, sent), tc.verdict, tc.msg)
		})
	}
}

// A covered Content-Digest is checked against the body even when the route
// does not validate bodies.
func TestRFC9421CoveredDigestChecked(t *testing.T) {
	const body = `{"hello": "world"}`
	digest, _ := httpsig.ContentDigestHeader([]byte(body))
	components := []string{"@method", "@authority", "@path", "@query", "content-digest"}
	sign := func() *http.Request {
		r := request("POST", "https://example.com/foo", body, "Content-Digest: "+digest)
		signRFC9421(t, r, testSecret, components, httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
		return r
	}
	f := newFixture(t, nil) // validate_request_body off
	r := sign()
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(`{"hello": "there"}`)), 18
	expect(t, f.authenticate(t, r), auth.Unauthenticated, msgNotSame)
	expect(t, f.authenticate(t, sign()), auth.Granted, "")
	f = newFixture(t, func(c *keygate.HMACAuthConfig) { c.MaxBodySize = 4 })
	expect(t, f.authenticate(t, sign()), auth.TooLarge, msgTooLarge)
}

// One credential filling the replay cache is refused on its own; the
// others go on.
func TestReplayQuotaPerCredential(t *testing.T) {
	f := newFixture(t, nil)
	f.store.add("bob", "bob-secret", "c2")
	f.replay = NewReplayCache(ReplayOptions{Now: f.clock.Now, MaxEntries: 1 << 12, MaxPerCredential: 16})
	f.auth = New(*keygate.NewHMACAuthConfig(), f.creds, f.replay, f.clock.Now)
	send := func(user, secret string, i int) auth.Result {
		r := request("GET", "/"+strconv.Itoa(i), "", "Date: "+httpDate(f.clock.Now()))
		signKong(t, r, "", user, secret, "hmac-sha256", "date @request-target")
		return f.authenticate(t, r)
	}
	for i := range 16 {
		expect(t, send(testUser, testSecret, i), auth.Granted, "")
	}
	expect(t, send(testUser, testSecret, 16), auth.Unauthenticated, msgTooMany)
	expect(t, send("bob", "bob-secret", 0), auth.Granted, "")
	// Once its signatures fall out of the window (and are swept), the
	// credential has room again.
	f.clock.Add(time.Duration(replayWindow.Load()+1)*time.Second + 10*time.Second)
	for i := range 64 { // touch every shard, so that each sweeps
		send("bob", "bob-secret", 100+i)
	}
	expect(t, send(testUser, testSecret, 17), auth.Granted, "")
}

// hide_credentials removes every hmac credential — a copy in Authorization
// of what came in Proxy-Authorization too — and, on the RFC 9421 path, the
// Signature-Input and Signature members it verified, leaving the
// upstream's.
func TestHideCredentialsCopies(t *testing.T) {
	date := httpDate(testTime)
	f := newFixture(t, func(c *keygate.HMACAuthConfig) { c.HideCredentials = true })
	r := request("GET", "/", "", "Date: "+date)
	signKong(t, r, "Proxy-Authorization", testUser, testSecret, "hmac-sha256", "date @request-target")
	r.Header.Set("Authorization", r.Header.Get("Proxy-Authorization"))
	expect(t, f.authenticate(t, r), auth.Granted, "")
	if r.Header.Get("Proxy-Authorization") != "" || r.Header.Get("Authorization") != "" {
		t.Errorf("headers after: %v", r.Header)
	}

	r = request("GET", "/", "", "Host: example.com")
	signRFC9421(t, r, testSecret, []string{"@method", "@authority", "@path", "@query"}, httpsig.SignatureParams{Created: testTime.Unix(), KeyID: testUser})
	r.Header.Set("Signature-Input", `upstream=("@method");created=1;keyid="upstream-key";alg="ed25519", `+r.Header.Get("Signature-Input"))
	r.Header.Set("Signature", `upstream=:AAAA:, `+r.Header.Get("Signature"))
	expect(t, f.authenticate(t, r), auth.Granted, "")
	if in, sig := r.Header.Get("Signature-Input"), r.Header.Get("Signature"); in != `upstream=("@method");created=1;keyid="upstream-key";alg="ed25519"` ||
		sig != "upstream=:AAAA:" {
		t.Errorf("Signature-Input %q, Signature %q", in, sig)
	}
}

// An expired credential is refused from the instant it expires, exactly as
// an unknown username is, though its entry is still cached: no change tells
// the cache of an expiry, so it is checked on every use. A credential read
// when already expired does not have its secret opened at all.
func TestExpiredCredentialRefusedWhileCached(t *testing.T) {
	f := newFixture(t, nil)
	var opens atomic.Int64
	f.creds = NewCredentials(f.store, func(s *keygate.Sealed) ([]byte, error) {
		opens.Add(1)
		return openIdentity(s)
	}, Options{Now: f.clock.Now})
	cfg := *keygate.NewHMACAuthConfig()
	cfg.ReplayProtection = false
	f.auth = New(cfg, f.creds, nil, f.clock.Now)
	expires := testTime.Add(time.Minute)
	f.store.mu.Lock()
	f.store.creds[testUser].ExpiresAt = &expires
	f.store.mu.Unlock()

	schemes := []struct {
		name string
		sign func(t *testing.T, user string) *http.Request
	}{
		{"Kong", func(t *testing.T, user string) *http.Request {
			r := request("GET", "/", "", "Date: "+httpDate(f.clock.Now()))
			signKong(t, r, "", user, testSecret, "hmac-sha256", "date")
			return r
		}},
		{"RFC 9421", func(t *testing.T, user string) *http.Request {
			r := request("GET", "https://example.com/foo?x=1", "")
			signRFC9421(t, r, testSecret, []string{"@method", "@authority", "@path", "@query"},
				httpsig.SignatureParams{Created: f.clock.Now().Unix(), KeyID: user, Alg: httpsig.AlgHMACSHA256})
			return r
		}},
	}
	for _, s := range schemes {
		res := f.authenticate(t, s.sign(t, testUser))
		expect(t, res, auth.Granted, "")
		if !res.Sunset.Equal(expires) { // for the proxy's Sunset header
			t.Errorf("%s: granted with Sunset %v, want %v", s.name, res.Sunset, expires)
		}
	}
	f.clock.Add(time.Minute - time.Nanosecond)
	for _, s := range schemes {
		expect(t, f.authenticate(t, s.sign(t, testUser)), auth.Granted, "") // still within its lifetime
	}
	f.clock.Add(time.Nanosecond) // expires_at: over
	for _, s := range schemes {
		t.Run(s.name, func(t *testing.T) {
			expired := f.authenticate(t, s.sign(t, testUser))
			unknown := f.authenticate(t, s.sign(t, "nobody"))
			expect(t, expired, auth.Unauthenticated, msgNotValid)
			if expired != unknown {
				t.Errorf("expired %+v, unknown %+v: they must look the same", expired, unknown)
			}
		})
	}
	if n := f.store.reads.Load(); n != 2 { // the credential once, "nobody" once
		t.Errorf("%d store reads: the expired credential was not refused from the cache", n)
	}
	cr, secret, err := f.creds.get(t.Context(), testUser, nil)
	if err != nil || cr.found || len(secret) != 0 {
		t.Errorf("get after expiry: %+v, %d bytes of secret, %v", cr, len(secret), err)
	}

	// Reloaded (here by a change), it stays refused, and its secret is
	// no longer opened.
	before := opens.Load()
	f.creds.Apply(keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, ID: "id-" + testUser, Username: testUser})
	expect(t, f.authenticate(t, schemes[0].sign(t, testUser)), auth.Unauthenticated, msgNotValid)
	if n := f.store.reads.Load(); n != 3 {
		t.Errorf("%d store reads, want the reload", n)
	}
	if opens.Load() != before {
		t.Error("the secret of an expired credential was opened")
	}
}
