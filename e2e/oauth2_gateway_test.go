package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// testIdP is an external identity provider: it publishes a JWKS and signs
// RFC 9068 access tokens.
type testIdP struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey
	pub  []jose.JSONWebKey
}

const e2eIdPIssuer = "https://idp.e2e.example"

func newTestIdP(tb testing.TB) *testIdP {
	tb.Helper()
	p := &testIdP{keys: map[string]*ecdsa.PrivateKey{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: p.pub})
		p.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=600")
		w.Write(b)
	}))
	tb.Cleanup(p.srv.Close)
	return p
}

func (p *testIdP) addKey(tb testing.TB, kid string) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[kid] = k
	p.pub = append(p.pub, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
}

// token signs claims with kid's key (a kid the IdP does not know: a fresh
// key nobody published).
func (p *testIdP) token(tb testing.TB, kid string, claims map[string]any) string {
	tb.Helper()
	p.mu.Lock()
	k := p.keys[kid]
	p.mu.Unlock()
	if k == nil {
		k, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), kid))
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

func e2eClaims(now time.Time, clientID, sub string, scope string) map[string]any {
	return map[string]any{"iss": e2eIdPIssuer, "sub": sub, "aud": "orders-api", "exp": now.Add(10 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": "j-" + now.Format(time.RFC3339Nano), "client_id": clientID, "scope": scope}
}

// TestOAuth2Gateway: routes with oauth2 through the running binary. An
// external IdP's tokens name an OAuth client registered through the admin
// API; the consumer's headers and ACL groups apply; scopes per method;
// refusals per RFC 6750; the IdP's new key is fetched; a revoked client's
// tokens stop working; oauth2 and key_auth share a route; a route taking
// keygate's own tokens refuses a token of an unknown key with 401.
func TestOAuth2Gateway(t *testing.T) {
	clock := newFileClock(t, time.Now())
	idp := newTestIdP(t)
	idp.addKey(t, "idp-1")
	g := startGatewayWith(t, clock.flags()...)
	ctx := context.Background()
	g.service(t, "orders", g.upstream.URL, nil)
	acme := g.consumer(t, "acme", "partners")
	g.consumer(t, "outsider")
	oc, err := g.admin.CreateOAuthClient(ctx, "acme", keygate.OAuthClientRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	external := keygate.OAuth2Issuer{Issuer: e2eIdPIssuer, JWKSURI: idp.srv.URL + "/jwks", Audience: "orders-api",
		ConsumerClaim: keygate.ClaimClientID, ConsumerBy: keygate.ConsumerByOAuthClient}
	g.route(t, "orders", "orders", func(r *keygate.Route) {
		r.OAuth2 = keygate.NewOAuth2AuthConfig()
		r.OAuth2.Issuers = []keygate.OAuth2Issuer{external}
		r.OAuth2.Scopes = []string{"orders:read"}
		r.OAuth2.MethodScopes = map[string][]string{"POST": {"orders:write"}}
		r.ACL = &keygate.ACLConfig{Allow: []string{"partners"}}
	})
	byUsername := external
	byUsername.ConsumerClaim, byUsername.ConsumerBy = keygate.ClaimSub, keygate.ConsumerByUsername
	g.route(t, "mixed", "orders", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.OAuth2 = keygate.NewOAuth2AuthConfig()
		r.OAuth2.Issuers = []keygate.OAuth2Issuer{byUsername}
		r.OAuth2.HideCredentials = true
	})
	g.route(t, "local", "orders", func(r *keygate.Route) { r.OAuth2 = keygate.NewOAuth2AuthConfig() })
	bearer := func(tok string) http.Header { return hdr("Authorization", "Bearer "+tok) }
	read := idp.token(t, "idp-1", e2eClaims(clock.Now(), oc.ClientID, "anyone", "orders:read"))

	t.Run("granted: the client's consumer reaches the upstream", func(t *testing.T) {
		status, _, body := g.call(t, "GET", "/orders", bearer(read))
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		e := decodeEcho(t, body)
		for name, want := range map[string]string{"X-Consumer-Id": acme.ID, "X-Consumer-Username": "acme",
			"X-Credential-Identifier": oc.ClientID, "X-Consumer-Groups": "partners"} {
			if got := strings.Join(e.Headers[name], ","); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if len(e.Headers["Authorization"]) != 1 {
			t.Errorf("Authorization not forwarded without hide_credentials")
		}
	})

	t.Run("refusals per RFC 6750", func(t *testing.T) {
		expired := e2eClaims(clock.Now().Add(-time.Hour), oc.ClientID, "x", "orders:read")
		wrongAud := e2eClaims(clock.Now(), oc.ClientID, "x", "orders:read")
		wrongAud["aud"] = "billing-api"
		tests := []struct {
			name      string
			method    string
			header    http.Header
			status    int
			challenge string
		}{
			{"no token", "GET", nil, 401, `Bearer realm="keygate"`},
			{"expired", "GET", bearer(idp.token(t, "idp-1", expired)), 401, `error="invalid_token"`},
			{"wrong audience", "GET", bearer(idp.token(t, "idp-1", wrongAud)), 401, `error="invalid_token"`},
			{"unpublished key", "GET", bearer(idp.token(t, "nobody", e2eClaims(clock.Now(), oc.ClientID, "x", "orders:read"))), 401, `error="invalid_token"`},
			{"not a JWT", "GET", bearer("kg_test_whatever"), 401, `error="invalid_token"`},
			{"POST without orders:write", "POST", bearer(read), 403, `error="insufficient_scope", scope="orders:write"`},
			{"GET without orders:read", "GET", bearer(idp.token(t, "idp-1", e2eClaims(clock.Now(), oc.ClientID, "x", "orders:write"))), 403, `scope="orders:read"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, h, body := g.call(t, tt.method, "/orders", tt.header)
				if status != tt.status {
					t.Fatalf("status %d, want %d: %s", status, tt.status, body)
				}
				if c := h.Get("WWW-Authenticate"); !strings.Contains(c, tt.challenge) {
					t.Errorf("WWW-Authenticate %q, want %q in it", c, tt.challenge)
				}
				decodeMessage(t, body)
			})
		}
		status, _, _ := g.call(t, "POST", "/orders", bearer(idp.token(t, "idp-1",
			e2eClaims(clock.Now(), oc.ClientID, "x", "orders:read orders:write"))))
		if status != http.StatusOK {
			t.Errorf("POST with both scopes: %d", status)
		}
	})

	t.Run("the IdP's new key is fetched on its first token", func(t *testing.T) {
		idp.addKey(t, "idp-2")
		clock.Advance(11 * time.Second) // past the refresh rate limit since the last fetch
		status, _, body := g.call(t, "GET", "/orders", bearer(idp.token(t, "idp-2", e2eClaims(clock.Now(), oc.ClientID, "x", "orders:read"))))
		if status != http.StatusOK {
			t.Errorf("token of the new key: %d %s", status, body)
		}
	})

	t.Run("oauth2 beside key_auth, and hide_credentials", func(t *testing.T) {
		key := g.key(t, "outsider", keygate.KeyRequest{})
		status, _, body := g.call(t, "GET", "/mixed", bearer(key.Key))
		if status != http.StatusOK || decodeEcho(t, body).Headers["X-Consumer-Username"][0] != "outsider" {
			t.Fatalf("API key as bearer on a route with both: %d %s", status, body)
		}
		status, _, body = g.call(t, "GET", "/mixed", bearer(idp.token(t, "idp-1", e2eClaims(clock.Now(), "whatever", "acme", ""))))
		if status != http.StatusOK {
			t.Fatalf("JWT on a route with both: %d %s", status, body)
		}
		e := decodeEcho(t, body)
		if e.Headers["X-Consumer-Username"][0] != "acme" || len(e.Headers["Authorization"]) != 0 {
			t.Errorf("consumer %v, Authorization %v (hidden?)", e.Headers["X-Consumer-Username"], e.Headers["Authorization"])
		}
	})

	t.Run("a route taking keygate's own tokens", func(t *testing.T) {
		status, h, body := g.call(t, "GET", "/local", bearer(read))
		if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("an IdP's token on the local route: %d %q %s", status, h.Get("WWW-Authenticate"), body)
		}
	})

	t.Run("a revoked client's tokens are refused", func(t *testing.T) {
		if _, err := g.admin.RevokeOAuthClient(ctx, oc.ID); err != nil {
			t.Fatal(err)
		}
		status, h, _ := g.call(t, "GET", "/orders", bearer(read))
		if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("after revocation: %d %q", status, h.Get("WWW-Authenticate"))
		}
	})

	t.Run("bad oauth2 config is a 400 naming the field", func(t *testing.T) {
		r := keygate.NewRoute()
		r.Name, r.Service, r.Paths = "bad", keygate.Ref{Name: "orders"}, []string{"/bad"}
		r.OAuth2 = keygate.NewOAuth2AuthConfig()
		r.OAuth2.Issuers = []keygate.OAuth2Issuer{{Issuer: e2eIdPIssuer, JWKSURI: "http://idp.example/jwks", Audience: "x",
			ConsumerClaim: "sub", ConsumerBy: "id"}}
		_, err := g.admin.CreateRoute(ctx, r)
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest ||
			!strings.HasPrefix(apiErr.Message, "oauth2.issuers[0].jwks_uri: must be an https URL") {
			t.Errorf("error %v", err)
		}
	})
}

// keygate routes create/update --oauth2...: the kind's settings from flags,
// the issuers kept or replaced, --oauth2=false removing it.
func TestCLIRoutesOAuth2(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	admin(t, "services", "create", "--name", "orders", "--url", "http://127.0.0.1:9")
	route := adminJSON[keygate.Route](t, "routes", "create", "--name", "jwt", "--service", "orders", "--path", "/jwt",
		"--oauth2", "--oauth2-scope", "orders", "--oauth2-method-scope", "POST=orders:write", "--oauth2-method-scope", "post=orders:admin")
	o := route.OAuth2
	if o == nil || strings.Join(o.Scopes, " ") != "orders" || strings.Join(o.MethodScopes["POST"], " ") != "orders:write orders:admin" ||
		len(o.Issuers) != 1 || !o.Issuers[0].Local || o.Leeway != keygate.DefaultOAuth2Leeway {
		t.Fatalf("created oauth2 %+v", o)
	}
	route = adminJSON[keygate.Route](t, "routes", "update", "jwt", "--oauth2-external-issuer", "https://idp.example",
		"--oauth2-jwks-uri", "https://idp.example/jwks", "--oauth2-audience", "orders-api", "--oauth2-consumer-by", "username",
		"--oauth2-allow-plain-jwt")
	o = route.OAuth2
	if o == nil || len(o.Issuers) != 2 || !o.Issuers[0].Local || o.Issuers[1].JWKSURI != "https://idp.example/jwks" || !o.Issuers[1].AllowPlainJWT ||
		o.Issuers[1].ConsumerBy != "username" || o.Issuers[1].ConsumerClaim != "sub" || strings.Join(o.Scopes, " ") != "orders" {
		t.Fatalf("after adding an external issuer %+v", o)
	}
	route = adminJSON[keygate.Route](t, "routes", "update", "jwt", "--oauth2-local=false")
	if o = route.OAuth2; o == nil || len(o.Issuers) != 1 || o.Issuers[0].Issuer != "https://idp.example" {
		t.Fatalf("after --oauth2-local=false %+v", o)
	}
	if _, errOut, err := runAdmin(t, "", "routes", "update", "jwt", "--oauth2-jwks-uri", "http://idp.example/jwks"); !reported(err) ||
		!strings.Contains(errOut, "oauth2.issuers[0].jwks_uri") {
		t.Errorf("plain http JWKS URL: %v %s", err, errOut)
	}
	wantTable(t, admin(t, "routes", "get", "jwt"), []string{"ID", "NAME", "SERVICE", "HOSTS", "PATHS", "METHODS", "AUTH", "ACL"}, []string{"jwt", "oauth2"})
	if route = adminJSON[keygate.Route](t, "routes", "update", "jwt", "--oauth2=false", "--key-auth"); route.OAuth2 != nil || route.KeyAuth == nil {
		t.Fatalf("after --oauth2=false %+v", route.OAuth2)
	}
}
