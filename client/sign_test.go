package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/client"
	"github.com/valyala/fasthttp"
)

// credentialStore serves one HMAC credential from memory, its secret
// "sealed" as the identity (the tests need the gateway's verifier, not the
// keyring).
type credentialStore struct{ username, secret string }

func (s credentialStore) LookupHMACCredential(_ context.Context, username string) (*keygate.HMACCredential, *keygate.Consumer, error) {
	if username != s.username {
		return nil, nil, keygate.Errorf(keygate.ENOTFOUND, "HMAC credential not found")
	}
	return &keygate.HMACCredential{ID: "h1", Username: username, Status: keygate.KeyActive, Consumer: keygate.Ref{ID: "c1"},
			Secret: &keygate.Sealed{Ciphertext: []byte(s.secret)}},
		&keygate.Consumer{ID: "c1", Username: "acme"}, nil
}

func openSealed(s *keygate.Sealed) ([]byte, error) { return append([]byte(nil), s.Ciphertext...), nil }

// gateway is an upstream behind hmac-auth, as the proxy runs it (a
// fasthttp server, bodies streamed): it answers 200 with the consumer and
// the body it got, or the refusal.
func gateway(tb testing.TB, edit func(*keygate.HMACAuthConfig)) *signedGateway {
	tb.Helper()
	cfg := keygate.NewHMACAuthConfig()
	cfg.ValidateRequestBody, cfg.HideCredentials = true, true
	if edit != nil {
		edit(cfg)
	}
	creds := hmacauth.NewCredentials(credentialStore{"acme-signer", "s3cr3t"}, openSealed, hmacauth.Options{})
	a := hmacauth.New(*cfg, creds, hmacauth.NewReplayCache(hmacauth.ReplayOptions{}), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{StreamRequestBody: true, DisablePreParseMultipartForm: true, Handler: func(ctx *fasthttp.RequestCtx) {
		res, err := a.Authenticate(context.Background(), &ctx.Request, keygate.Target{})
		switch {
		case err != nil:
			ctx.Error("unavailable", fasthttp.StatusServiceUnavailable)
		case res.Verdict == auth.Granted:
			var body []byte
			if ctx.Request.IsBodyStream() {
				body, _ = io.ReadAll(ctx.Request.BodyStream())
			} else {
				body = ctx.Request.Body()
			}
			fmt.Fprintf(ctx, "consumer=%s credential=%s authorization=%q body=%s", res.Consumer.Username, res.CredentialID,
				ctx.Request.Header.Peek("Authorization"), body)
		case res.Verdict == auth.TooLarge:
			ctx.Error(res.Message, fasthttp.StatusRequestEntityTooLarge)
		default:
			ctx.Error(res.Message, fasthttp.StatusUnauthorized) // resets the response: the challenge after
			ctx.Response.Header.Set("WWW-Authenticate", a.Challenge())
		}
	}}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Shutdown() })
	return &signedGateway{URL: "http://" + ln.Addr().String()}
}

type signedGateway struct{ URL string }

// Client is a client of the gateway's own, as httptest.Server's.
func (g *signedGateway) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{}}
}

func send(tb testing.TB, hc *http.Client, method, url, body string) (int, string) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestSignerVerifiedByGateway(t *testing.T) {
	srv := gateway(t, nil)
	tests := []struct {
		name   string
		scheme client.Scheme
		opts   []client.SignerOption
	}{
		{"kong", client.KongScheme, nil},
		{"kong hmac-sha1", client.KongScheme, []client.SignerOption{client.WithAlgorithm("hmac-sha1")}},
		{"kong hmac-sha384", client.KongScheme, []client.SignerOption{client.WithAlgorithm("hmac-sha384")}},
		{"kong hmac-sha512", client.KongScheme, []client.SignerOption{client.WithAlgorithm("hmac-sha512")}},
		{"kong, headers", client.KongScheme, []client.SignerOption{client.WithHeaders("Date", "host", "accept", "@request-target", "request-line")}},
		{"kong, proxy-authorization", client.KongScheme, []client.SignerOption{client.WithProxyAuthorization()}},
		{"rfc 9421", client.RFC9421, nil},
		{"rfc 9421, headers, expires", client.RFC9421, []client.SignerOption{client.WithHeaders("Accept"), client.WithExpires(time.Minute)}},
		{"rfc 9421, sha-512 digest", client.RFC9421, []client.SignerOption{client.WithContentDigestAlgorithms("sha-256", "sha-512")}},
		{"rfc 9421, label", client.RFC9421, []client.SignerOption{client.WithLabel("keygate")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]client.SignerOption{client.WithTransport(srv.Client().Transport), client.WithBodyDigest(0)}, tt.opts...)
			hc := &http.Client{Transport: client.NewSigner("acme-signer", []byte("s3cr3t"), tt.scheme, opts...)}
			for _, body := range []string{"", `{"amount": 100}`} {
				for _, method := range []string{"GET", "POST"} {
					// Twice: the nonce keeps identical requests apart.
					for range 2 {
						status, got := send(t, hc, method, srv.URL+"/v1/payments?limit=10&q=a%20b", body)
						want := `consumer=acme credential=acme-signer authorization="" body=` + body
						if status != 200 || got != want {
							t.Fatalf("%s with %q: %d %s", method, body, status, got)
						}
					}
				}
			}
		})
	}
}

func TestSignerRefused(t *testing.T) {
	srv := gateway(t, func(c *keygate.HMACAuthConfig) { c.Realm = "payments"; c.EnforceHeaders = []string{"content-md5"} })
	hc := &http.Client{Transport: client.NewSigner("acme-signer", []byte("s3cr3t"), client.KongScheme,
		client.WithTransport(srv.Client().Transport))}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `hmac realm="payments"` {
		t.Errorf("%d %v", resp.StatusCode, resp.Header)
	}
	hc.Transport = client.NewSigner("acme-signer", []byte("wrong"), client.RFC9421, client.WithTransport(srv.Client().Transport))
	if status, msg := send(t, hc, "GET", srv.URL+"/", ""); status != 401 || msg != "HMAC signature cannot be verified" {
		t.Errorf("%d %s", status, msg)
	}
}

func TestSignerWithoutNonceIsReplayable(t *testing.T) {
	srv := gateway(t, nil)
	at := time.Now()
	hc := &http.Client{Transport: client.NewSigner("acme-signer", []byte("s3cr3t"), client.KongScheme,
		client.WithTransport(srv.Client().Transport), client.WithoutNonce(), client.WithClock(func() time.Time { return at }))}
	if status, _ := send(t, hc, "GET", srv.URL+"/", ""); status != 200 {
		t.Fatalf("first: %d", status)
	}
	if status, msg := send(t, hc, "GET", srv.URL+"/", ""); status != 401 || !strings.Contains(msg, "already been used") {
		t.Errorf("second: %d %s", status, msg)
	}
}

// recorder is a transport that keeps what it was asked to send.
type recorder struct{ got *http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
}

func TestSignerLeavesTheRequestAlone(t *testing.T) {
	for _, scheme := range []client.Scheme{client.KongScheme, client.RFC9421} {
		rec := &recorder{}
		s := client.NewSigner("acme-signer", []byte("s3cr3t"), scheme, client.WithTransport(rec), client.WithBodyDigest(0))
		req, _ := http.NewRequest("PUT", "http://api.example.com/x", strings.NewReader("payload"))
		req.Header.Set("Content-Type", "text/plain")
		if _, err := s.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if len(req.Header) != 1 || req.ContentLength != 7 {
			t.Errorf("caller's request changed: %v", req.Header)
		}
		sent := rec.got
		if sent == req || sent.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("sent %v", sent.Header)
		}
		// The body is there to send, and again through GetBody (redirects).
		b, _ := io.ReadAll(sent.Body)
		rc, err := sent.GetBody()
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := io.ReadAll(rc)
		if string(b) != "payload" || string(b2) != "payload" || sent.ContentLength != 7 {
			t.Errorf("body %q, again %q, length %d", b, b2, sent.ContentLength)
		}
		if scheme == client.KongScheme && (sent.Header.Get("Date") == "" || sent.Header.Get("Digest") == "" || sent.Header.Get("X-Nonce") == "" ||
			!strings.Contains(sent.Header.Get("Authorization"), `headers="date host @request-target digest x-nonce"`)) {
			t.Errorf("kong headers: %v", sent.Header)
		}
		if scheme == client.RFC9421 && (!strings.HasPrefix(sent.Header.Get("Signature-Input"),
			`sig1=("@method" "@authority" "@path" "@query" "content-digest");created=`) || sent.Header.Get("Content-Digest") == "") {
			t.Errorf("rfc 9421 headers: %v", sent.Header)
		}
	}
}

// closeTracker records that the body was closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestSignerErrors(t *testing.T) {
	tests := []struct {
		name string
		s    *client.Signer
	}{
		{"body too large", client.NewSigner("u", []byte("s"), client.KongScheme, client.WithBodyDigest(4), client.WithTransport(&recorder{}))},
		{"unknown algorithm", client.NewSigner("u", []byte("s"), client.KongScheme, client.WithAlgorithm("md5"), client.WithTransport(&recorder{}))},
		{"unknown scheme", client.NewSigner("u", []byte("s"), client.Scheme(9), client.WithTransport(&recorder{}))},
		{"bad label", client.NewSigner("u", []byte("s"), client.RFC9421, client.WithLabel("Bad Label"), client.WithTransport(&recorder{}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &closeTracker{Reader: strings.NewReader("more than four bytes")}
			req, _ := http.NewRequest("POST", "http://api.example.com/", body)
			if _, err := tt.s.RoundTrip(req); err == nil {
				t.Error("no error")
			}
			if !body.closed {
				t.Error("body not closed")
			}
		})
	}
}

func TestSignerDateKept(t *testing.T) {
	rec := &recorder{}
	s := client.NewSigner("u", []byte("s"), client.KongScheme, client.WithTransport(rec), client.WithoutNonce())
	req, _ := http.NewRequest("GET", "http://api.example.com/", nil)
	req.Header.Set("X-Date", "Mon, 02 Jan 2006 15:04:05 GMT")
	if _, err := s.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if rec.got.Header.Get("Date") != "" || !strings.Contains(rec.got.Header.Get("Authorization"), `headers="x-date host @request-target"`) {
		t.Errorf("%v", rec.got.Header)
	}
}

// A signer signs for the host of its first request, or those given
// WithHosts: a redirect to another host is refused, never signed.
func TestSignerHosts(t *testing.T) {
	var leaked []string
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = append(leaked, r.Header.Get("Authorization")+r.Header.Get("Signature"))
	}))
	defer evil.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+"/v1/transfer", http.StatusTemporaryRedirect)
	}))
	defer up.Close()
	for _, scheme := range []client.Scheme{client.KongScheme, client.RFC9421} {
		hc := &http.Client{Transport: client.NewSigner("alice", []byte("s"), scheme)}
		_, err := hc.Post(up.URL+"/v1/transfer", "application/json", strings.NewReader(`{}`))
		if !errors.Is(err, client.ErrHostNotAllowed) {
			t.Errorf("redirect to another host: %v", err)
		}
		// Nor does a later request go there.
		if _, err := hc.Get(evil.URL + "/"); !errors.Is(err, client.ErrHostNotAllowed) {
			t.Errorf("request to another host: %v", err)
		}
	}
	if len(leaked) != 0 {
		t.Errorf("the other host received %q", leaked)
	}

	rec := &recorder{}
	s := client.NewSigner("u", []byte("s"), client.KongScheme, client.WithTransport(rec), client.WithHosts("API.example.com", "other.example.com:8443"))
	for _, tt := range []struct {
		url, host string
		ok        bool
	}{
		{"https://api.example.com/", "", true},
		{"https://api.example.com:443/", "", true},
		{"http://api.example.com/", "", true},
		{"https://other.example.com:8443/", "", true},
		{"https://other.example.com/", "", false},
		{"https://evil.example.com/", "", false},
		{"https://api.example.com:8443/", "", false},
		{"https://10.0.0.1/", "api.example.com", false},         // the connection goes elsewhere
		{"https://api.example.com/", "evil.example.com", false}, // signed for another host
	} {
		req, _ := http.NewRequest("GET", tt.url, nil)
		req.Host = tt.host
		_, err := s.RoundTrip(req)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, client.ErrHostNotAllowed) {
			t.Errorf("%s (Host %q): %v", tt.url, tt.host, err)
		}
	}
}

// The default Kong headers sign the host, so that a signature cannot be
// replayed to another host of the gateway.
func TestSignerSignsHost(t *testing.T) {
	srv := gateway(t, func(c *keygate.HMACAuthConfig) { c.EnforceHeaders = []string{"host", "@request-target"} })
	hc := &http.Client{Transport: client.NewSigner("acme-signer", []byte("s3cr3t"), client.KongScheme, client.WithTransport(srv.Client().Transport))}
	if status, got := send(t, hc, "GET", srv.URL+"/v1/x", ""); status != 200 {
		t.Errorf("%d %s", status, got)
	}
	// Custom headers without a date get one: the gateway trusts only a
	// signed date.
	hc.Transport = client.NewSigner("acme-signer", []byte("s3cr3t"), client.KongScheme, client.WithTransport(srv.Client().Transport),
		client.WithHeaders("host", "@request-target"))
	if status, got := send(t, hc, "GET", srv.URL+"/v1/x", ""); status != 200 {
		t.Errorf("custom headers: %d %s", status, got)
	}
}

// An empty POST, PUT or PATCH goes out with Content-Length: 0, which the
// signer signs as the gateway then sees it.
func TestSignerEmptyBodyContentLength(t *testing.T) {
	srv := gateway(t, func(c *keygate.HMACAuthConfig) { c.ValidateRequestBody = false })
	for _, digest := range []bool{false, true} {
		opts := []client.SignerOption{client.WithTransport(srv.Client().Transport), client.WithHeaders("date", "@request-target", "content-length")}
		if digest {
			opts = append(opts, client.WithBodyDigest(0))
		}
		hc := &http.Client{Transport: client.NewSigner("acme-signer", []byte("s3cr3t"), client.KongScheme, opts...)}
		for _, method := range []string{"POST", "PUT", "PATCH", "GET", "DELETE"} {
			for _, body := range []io.Reader{nil, strings.NewReader(""), bytes.NewReader(nil), strings.NewReader("abc")} {
				req, _ := http.NewRequest(method, srv.URL+"/x", body)
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("%s, body %T, digest %v: %d %s", method, body, digest, resp.StatusCode, b)
				}
			}
		}
	}
}
