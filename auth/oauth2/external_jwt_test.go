package oauth2_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
)

// rsaIdP serves a JWKS as many providers do: an RSA signing key without
// "alg", an encryption key, a key too small to trust.
func rsaIdP(tb testing.TB, signing *rsa.PrivateKey) *httptest.Server {
	tb.Helper()
	enc, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &signing.PublicKey, KeyID: "rsa-1"},
		{Key: &enc.PublicKey, KeyID: "enc-1", Use: "enc"},
		{Key: &small.PublicKey, KeyID: "small-1", Algorithm: "RS256", Use: "sig"},
	}}
	b, _ := json.Marshal(set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(b) }))
	tb.Cleanup(srv.Close)
	return srv
}

func signRSA(tb testing.TB, k *rsa.PrivateKey, alg jose.SignatureAlgorithm, kid, typ string, claims map[string]any) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// TestExternalProviderTokens: what providers send beyond keygate's own
// format — RS256 and PS256, keys without alg beside encryption keys, no
// client_id, scopes as "scp", typ JWT when allowed — and the refusals that
// hold for them too.
func TestExternalProviderTokens(t *testing.T) {
	w := newWorld(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	srv := rsaIdP(t, key)
	cfg := func(plain bool) func(*keygate.OAuth2AuthConfig) {
		return func(c *keygate.OAuth2AuthConfig) {
			c.Scopes = []string{"orders:read"}
			c.Issuers = []keygate.OAuth2Issuer{{Issuer: idpIssuer, JWKSURI: srv.URL, Audience: "orders-api",
				ConsumerClaim: keygate.ClaimSub, ConsumerBy: keygate.ConsumerByUsername, AllowPlainJWT: plain}}
		}
	}
	strict, plain := w.authenticator(t, cfg(false)), w.authenticator(t, cfg(true))
	claims := func(edit func(map[string]any)) map[string]any {
		now := w.clock.Now()
		c := map[string]any{"iss": idpIssuer, "sub": "acme", "aud": []string{"orders-api", "other"}, "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "scp": []string{"orders:read", "profile"}}
		if edit != nil {
			edit(c)
		}
		return c
	}
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	hs256 := func() string { // keyed with the published RSA key in PEM, the classic confusion
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		signing := b64(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": "rsa-1"}) + "." + b64(claims(nil))
		m := hmac.New(sha256.New, pemKey)
		m.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)

	tests := []struct {
		name    string
		token   string
		strict  auth.Verdict
		plain   auth.Verdict
		message string
	}{
		{"RS256 at+jwt, scp list, no client_id", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(nil)), auth.Granted, auth.Granted, ""},
		{"PS256", signRSA(t, key, jose.PS256, "rsa-1", "at+jwt", claims(nil)), auth.Granted, auth.Granted, ""},
		{"scope string", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(func(c map[string]any) {
			delete(c, "scp")
			c["scope"] = "orders:read"
		})), auth.Granted, auth.Granted, ""},
		{"typ JWT", signRSA(t, key, jose.RS256, "rsa-1", "JWT", claims(nil)), auth.Unauthenticated, auth.Granted, "typ"},
		{"no typ", signRSA(t, key, jose.RS256, "rsa-1", "", claims(nil)), auth.Unauthenticated, auth.Granted, "typ"},
		{"typ of another kind", signRSA(t, key, jose.RS256, "rsa-1", "dpop+jwt", claims(nil)), auth.Unauthenticated, auth.Unauthenticated, "typ"},
		{"missing scope", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(func(c map[string]any) { c["scp"] = "profile" })),
			auth.Forbidden, auth.Forbidden, "scope"},
		{"expired", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(func(c map[string]any) { c["exp"] = t0.Add(-time.Hour).Unix() })),
			auth.Unauthenticated, auth.Unauthenticated, "expired"},
		{"no exp", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(func(c map[string]any) { delete(c, "exp") })),
			auth.Unauthenticated, auth.Unauthenticated, "claim"},
		{"no sub", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(func(c map[string]any) { delete(c, "sub") })),
			auth.Unauthenticated, auth.Unauthenticated, "claim"},
		{"wrong audience", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(func(c map[string]any) { c["aud"] = "billing" })),
			auth.Unauthenticated, auth.Unauthenticated, "aud"},
		{"wrong issuer", signRSA(t, key, jose.RS256, "rsa-1", "at+jwt", claims(func(c map[string]any) { c["iss"] = "https://evil" })),
			auth.Unauthenticated, auth.Unauthenticated, "issuer"},
		{"signed by the 1024-bit key the JWKS lists", signRSA(t, small, jose.RS256, "small-1", "at+jwt", claims(nil)),
			auth.Unauthenticated, auth.Unauthenticated, "unknown"},
		{"kid of the encryption key", signRSA(t, key, jose.RS256, "enc-1", "at+jwt", claims(nil)),
			auth.Unauthenticated, auth.Unauthenticated, "unknown"},
		{"HS256 keyed with the RSA public key", hs256(), auth.Unauthenticated, auth.Unauthenticated, "algorithm"},
		{"alg none", b64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": "rsa-1"}) + "." + b64(claims(nil)) + ".",
			auth.Unauthenticated, auth.Unauthenticated, "algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				a    interface{ Challenge() string }
				want auth.Verdict
				name string
			}{{strict, tt.strict, "strict"}, {plain, tt.plain, "allow_plain_jwt"}} {
				a := strict
				if c.name != "strict" {
					a = plain
				}
				res := authenticate(t, a, request("GET", "Bearer "+tt.token))
				if res.Verdict != c.want {
					t.Errorf("%s: verdict %d (%s), want %d", c.name, res.Verdict, res.Message, c.want)
					continue
				}
				if res.Verdict == auth.Granted && (res.Consumer.ID != w.consumer.ID || res.CredentialID != "acme") {
					t.Errorf("%s: consumer %s credential %q", c.name, res.Consumer.ID, res.CredentialID)
				}
				if res.Verdict != auth.Granted && c.want == tt.strict && !strings.Contains(res.Message, tt.message) {
					t.Errorf("%s: message %q, want it to say %q", c.name, res.Message, tt.message)
				}
			}
		})
	}
}
