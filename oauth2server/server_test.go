package oauth2server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/oauth2server"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

// clock is a settable clock for the store, the server and the denylist.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// events records what the server publishes.
type events struct {
	mu  sync.Mutex
	got []keygate.Event
}

func (e *events) Publish(_ context.Context, ev keygate.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	return nil
}

type counts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counts) OAuth2Token(result string) { c.mu.Lock(); c.n[result]++; c.mu.Unlock() }

var policy = accesstoken.RotationPolicy{Alg: accesstoken.ES256, SignFor: 2 * time.Hour, PublishBefore: time.Hour, KeepAfter: 25 * time.Hour}

type env struct {
	db       *sqlite.DB
	clock    *clock
	hasher   *apikey.Hasher
	deny     *accesstoken.Denylist
	srv      *oauth2server.Server
	ts       *httptest.Server
	events   *events
	counts   *counts
	consumer *keygate.Consumer
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{clock: &clock{t: time.Now().Truncate(time.Second)}, events: &events{}, counts: &counts{n: map[string]int{}}}
	e.deny = accesstoken.NewDenylist(nil, e.clock.Now)
	db, err := sqlite.Open(tb.Context(), sqlitetest.Path(tb), sqlite.Options{Now: e.clock.Now, OnChange: e.deny.Apply})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e.db = db
	if e.hasher, err = apikey.NewHasher(make([]byte, 32)); err != nil {
		tb.Fatal(err)
	}
	e.srv, err = oauth2server.New(oauth2server.Config{Store: db, Hasher: e.hasher, Denylist: e.deny, Now: e.clock.Now,
		Replay: hmacauth.NewReplayCache(hmacauth.ReplayOptions{Now: e.clock.Now}), Events: e.events, Metrics: e.counts})
	if err != nil {
		tb.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv)
	tb.Cleanup(e.ts.Close)
	if err := e.srv.SetIssuer(e.ts.URL); err != nil {
		tb.Fatal(err)
	}
	set, _, err := accesstoken.Rotate(&accesstoken.KeySet{}, policy, e.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	e.srv.SetKeys(set)
	e.consumer = &keygate.Consumer{Username: "acme"}
	if err := db.CreateConsumer(tb.Context(), e.consumer); err != nil {
		tb.Fatal(err)
	}
	return e
}

// client registers a client with scopes orders:read and orders:write and
// returns its client_id and secret.
func (e *env) client(tb testing.TB, name string, edit func(*keygate.OAuthClient)) (string, string) {
	tb.Helper()
	id, secret := keygate.OAuthClientIDPrefix+name, "secret-of-"+name
	sum := e.hasher.HashSecret(id, secret)
	c := &keygate.OAuthClient{ClientID: id, Consumer: keygate.Ref{ID: e.consumer.ID}, Name: name, Scopes: []string{"orders:read", "orders:write"},
		TokenLifetime: 600, AuthMethods: []string{keygate.ClientSecretBasic, keygate.ClientSecretPost}, SecretHash: sum[:]}
	if edit != nil {
		edit(c)
	}
	if err := e.db.CreateOAuthClient(tb.Context(), c); err != nil {
		tb.Fatal(err)
	}
	return id, secret
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// post sends form to path, with Basic credentials when user is not empty.
func (e *env) post(tb testing.TB, path string, form url.Values, user, pass string) answer {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return do(tb, req)
}

func do(tb testing.TB, req *http.Request) answer {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		tb.Fatalf("%s %s: %d, body %q is not JSON", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return a
}

func (e *env) token(tb testing.TB, id, secret string, extra url.Values) string {
	tb.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		form[k] = v
	}
	a := e.post(tb, accesstoken.TokenPath, form, id, secret)
	if a.status != http.StatusOK {
		tb.Fatalf("token: %d %v", a.status, a.body)
	}
	return a.body["access_token"].(string)
}

func (e *env) verifier(tb testing.TB) *accesstoken.Verifier {
	tb.Helper()
	resp, err := http.Get(e.ts.URL + accesstoken.JWKSPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	keys, err := accesstoken.ParseJWKS(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return &accesstoken.Verifier{Issuer: e.ts.URL, Audience: e.ts.URL, Keys: keys, Now: e.clock.Now}
}

func TestTokenIssued(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, "ci", nil)
	a := e.post(t, accesstoken.TokenPath, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}, id, secret)
	if a.status != http.StatusOK || a.body["token_type"] != "Bearer" || a.body["expires_in"] != 600.0 || a.body["scope"] != "orders:read" {
		t.Fatalf("token: %d %v", a.status, a.body)
	}
	if a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", a.header.Get("Cache-Control"))
	}
	claims, err := e.verifier(t).Verify(a.body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != e.consumer.ID || claims.ClientID != id || len(claims.Scopes) != 1 || claims.Scopes[0] != "orders:read" ||
		!claims.Expiry.Equal(e.clock.Now().Add(600*time.Second)) || claims.ID == "" {
		t.Errorf("claims %+v", claims)
	}
	tok, _ := jose.ParseSigned(a.body["access_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	if h := tok.Signatures[0].Protected; h.KeyID != e.srv.Keys().Current().ID || h.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("header %+v", h)
	}

	t.Run("no scope asked: every scope of the client", func(t *testing.T) {
		claims, err := e.verifier(t).Verify(e.token(t, id, secret, nil))
		if err != nil || strings.Join(claims.Scopes, " ") != "orders:read orders:write" {
			t.Errorf("scopes %v, %v", claims.Scopes, err)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		a := e.post(t, accesstoken.TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, "", "")
		if a.status != http.StatusOK {
			t.Errorf("%d %v", a.status, a.body)
		}
	})
	if e.counts.n["issued"] != 3 {
		t.Errorf("counted %v", e.counts.n)
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, "ci", nil)
	basicOnly, basicSecret := e.client(t, "basic", func(c *keygate.OAuthClient) { c.AuthMethods = []string{keygate.ClientSecretBasic} })
	revoked, revokedSecret := e.client(t, "gone", nil)
	if _, err := e.db.RevokeOAuthClient(t.Context(), revoked); err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name        string
		form        url.Values
		user, pass  string
		edit        func(*http.Request)
		status      int
		code        string
		wwwAuth     bool
		description string
	}{
		{name: "no grant_type", form: url.Values{}, user: id, pass: secret, status: 400, code: "invalid_request", description: "grant_type is required"},
		{name: "grant_type twice", form: with(cc, "grant_type", "client_credentials"), user: id, pass: secret, status: 400, code: "invalid_request"},
		{name: "not a form", form: cc, user: id, pass: secret, edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, status: 400, code: "invalid_request"},
		{name: "GET", form: cc, user: id, pass: secret, edit: func(r *http.Request) { r.Method = http.MethodGet }, status: 405, code: "invalid_request"},
		{name: "secret in the URL", form: with(cc, "client_id", id), edit: func(r *http.Request) { r.URL.RawQuery = "client_secret=" + secret }, status: 400, code: "invalid_request"},
		{name: "two auth methods", form: with(cc, "client_id", id, "client_secret", secret), user: id, pass: secret, status: 400, code: "invalid_request"},
		{name: "Bearer instead of Basic", form: cc, edit: func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, status: 400, code: "invalid_request"},
		{name: "client_id differs from Basic", form: with(cc, "client_id", basicOnly), user: id, pass: secret, status: 400, code: "invalid_request"},
		{name: "bad assertion type", form: with(cc, "client_assertion_type", "jwt", "client_assertion", "x.y.z"), status: 400, code: "invalid_request"},
		{name: "no client authentication", form: cc, status: 401, code: "invalid_client"},
		{name: "Basic not base64", form: cc, edit: func(r *http.Request) { r.Header.Set("Authorization", "Basic %%%") }, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "unknown client (Basic)", form: cc, user: "kgc_nobody", pass: secret, status: 401, code: "invalid_client", wwwAuth: true, description: "client authentication failed"},
		{name: "wrong secret (Basic)", form: cc, user: id, pass: "wrong", status: 401, code: "invalid_client", wwwAuth: true, description: "client authentication failed"},
		{name: "wrong secret (post)", form: with(cc, "client_id", id, "client_secret", "wrong"), status: 401, code: "invalid_client"},
		{name: "not a client_id", form: cc, user: "admin", pass: "admin", status: 401, code: "invalid_client", wwwAuth: true},
		{name: "revoked client", form: cc, user: revoked, pass: revokedSecret, status: 401, code: "invalid_client", wwwAuth: true},
		{name: "auth method not registered", form: with(cc, "client_id", basicOnly, "client_secret", basicSecret), status: 401, code: "invalid_client"},
		{name: "garbage assertion", form: with(cc, "client_assertion_type", oauth2server.AssertionType, "client_assertion", "x.y.z"), status: 401, code: "invalid_client"},
		{name: "password grant", form: url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}, user: id, pass: secret, status: 400, code: "unsupported_grant_type"},
		{name: "authorization_code grant", form: url.Values{"grant_type": {"authorization_code"}, "code": {"c"}}, user: id, pass: secret, status: 400, code: "unsupported_grant_type"},
		{name: "scope not allowed", form: with(cc, "scope", "orders:read admin"), user: id, pass: secret, status: 400, code: "invalid_scope"},
		{name: "scope with a quote", form: with(cc, "scope", `orders"read`), user: id, pass: secret, status: 400, code: "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+accesstoken.TokenPath, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			if tt.edit != nil {
				tt.edit(req)
			}
			a := do(t, req)
			if a.status != tt.status || a.body["error"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", a.status, a.body, tt.status, tt.code)
			}
			if tt.description != "" && a.body["error_description"] != tt.description {
				t.Errorf("error_description %q, want %q", a.body["error_description"], tt.description)
			}
			if got := a.header.Get("WWW-Authenticate") != ""; got != tt.wwwAuth {
				t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
			}
			if a.header.Get("Cache-Control") != "no-store" || a.header.Get("Pragma") != "no-cache" {
				t.Errorf("Cache-Control %q, Pragma %q", a.header.Get("Cache-Control"), a.header.Get("Pragma"))
			}
			if _, ok := a.body["access_token"]; ok {
				t.Error("a token with an error")
			}
			for _, v := range a.body {
				if s, _ := v.(string); strings.Contains(s, secret) || strings.Contains(s, "wrong") {
					t.Errorf("the answer repeats a secret: %v", a.body)
				}
			}
		})
	}
	if e.counts.n["invalid_client"] == 0 || e.counts.n["invalid_scope"] != 2 || e.counts.n["issued"] != 0 {
		t.Errorf("counted %v", e.counts.n)
	}
}

// assertion signs a client assertion for id with key.
func assertion(tb testing.TB, key *ecdsa.PrivateKey, kid string, claims jwt.Claims) string {
	tb.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	id, _ := e.client(t, "signer", func(c *keygate.OAuthClient) {
		c.AuthMethods, c.JWKS = []string{keygate.PrivateKeyJWT}, jwks
	})
	// A client whose keys are at an https jwks_uri.
	keysServer := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	defer keysServer.Close()
	uriID, _ := e.client(t, "remote", func(c *keygate.OAuthClient) {
		c.AuthMethods, c.JWKSURL = []string{keygate.PrivateKeyJWT}, keysServer.URL+"/jwks.json"
	})
	srv, err := oauth2server.New(oauth2server.Config{Store: e.db, Hasher: e.hasher, Denylist: e.deny, Now: e.clock.Now, Issuer: e.ts.URL,
		Replay: hmacauth.NewReplayCache(hmacauth.ReplayOptions{Now: e.clock.Now}), HTTPClient: keysServer.Client()})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetKeys(e.srv.Keys())
	e.ts.Config.Handler = srv

	now := e.clock.Now()
	good := func(id string) jwt.Claims {
		return jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{e.ts.URL + accesstoken.TokenPath},
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: rand.Text()}
	}
	send := func(a string) answer {
		return e.post(t, accesstoken.TokenPath, url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {oauth2server.AssertionType}, "client_assertion": {a}}, "", "")
	}
	t.Run("accepted, once", func(t *testing.T) {
		a := assertion(t, key, "k1", good(id))
		if got := send(a); got.status != http.StatusOK {
			t.Fatalf("%d %v", got.status, got.body)
		}
		if got := send(a); got.status != http.StatusUnauthorized || got.body["error"] != "invalid_client" {
			t.Errorf("replayed: %d %v", got.status, got.body)
		}
	})
	t.Run("issuer as audience, key from jwks_uri", func(t *testing.T) {
		c := good(uriID)
		c.Audience = jwt.Audience{e.ts.URL}
		if got := send(assertion(t, key, "k1", c)); got.status != http.StatusOK {
			t.Fatalf("%d %v", got.status, got.body)
		}
	})
	refused := map[string]func(*jwt.Claims) (*ecdsa.PrivateKey, string){
		"another key": func(*jwt.Claims) (*ecdsa.PrivateKey, string) { return other, "k1" },
		"unknown kid": func(*jwt.Claims) (*ecdsa.PrivateKey, string) { return key, "k9" },
		"wrong audience": func(c *jwt.Claims) (*ecdsa.PrivateKey, string) {
			c.Audience = jwt.Audience{"https://else.example"}
			return key, "k1"
		},
		"expired": func(c *jwt.Claims) (*ecdsa.PrivateKey, string) {
			c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour))
			return key, "k1"
		},
		"lives too long": func(c *jwt.Claims) (*ecdsa.PrivateKey, string) {
			c.Expiry = jwt.NewNumericDate(now.Add(time.Hour))
			return key, "k1"
		},
		"no exp":               func(c *jwt.Claims) (*ecdsa.PrivateKey, string) { c.Expiry = nil; return key, "k1" },
		"no jti":               func(c *jwt.Claims) (*ecdsa.PrivateKey, string) { c.ID = ""; return key, "k1" },
		"issuer is not client": func(c *jwt.Claims) (*ecdsa.PrivateKey, string) { c.Issuer = "kgc_else"; return key, "k1" },
		"unknown client": func(c *jwt.Claims) (*ecdsa.PrivateKey, string) {
			c.Issuer, c.Subject = "kgc_else", "kgc_else"
			return key, "k1"
		},
	}
	for name, edit := range refused {
		t.Run(name, func(t *testing.T) {
			c := good(id)
			k, kid := edit(&c)
			if got := send(assertion(t, k, kid, c)); got.status != http.StatusUnauthorized || got.body["error"] != "invalid_client" ||
				got.header.Get("WWW-Authenticate") != "" {
				t.Errorf("%d %v", got.status, got.body)
			}
		})
	}
}

func TestIntrospectAndRevoke(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, "ci", nil)
	rs, rsSecret := e.client(t, "resource-server", nil)
	tok := e.token(t, id, secret, nil)
	introspect := func(token string) answer {
		return e.post(t, accesstoken.IntrospectionPath, url.Values{"token": {token}}, rs, rsSecret)
	}
	a := introspect(tok)
	if a.status != http.StatusOK || a.body["active"] != true || a.body["client_id"] != id || a.body["sub"] != e.consumer.ID ||
		a.body["scope"] != "orders:read orders:write" || a.body["token_type"] != "Bearer" || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("introspect: %d %v", a.status, a.body)
	}
	for name, token := range map[string]string{"garbage": "not.a.token", "empty-ish": "x"} {
		if a := introspect(token); a.status != http.StatusOK || len(a.body) != 1 || a.body["active"] != false {
			t.Errorf("%s: %d %v", name, a.status, a.body)
		}
	}
	if a := e.post(t, accesstoken.IntrospectionPath, url.Values{"token": {tok}}, rs, "wrong"); a.status != 401 || a.body["error"] != "invalid_client" {
		t.Errorf("unauthenticated introspection: %d %v", a.status, a.body)
	}
	if a := e.post(t, accesstoken.IntrospectionPath, url.Values{}, rs, rsSecret); a.status != 400 || a.body["error"] != "invalid_request" {
		t.Errorf("no token: %d %v", a.status, a.body)
	}

	t.Run("another client cannot revoke it", func(t *testing.T) {
		a := e.post(t, accesstoken.RevocationPath, url.Values{"token": {tok}}, rs, rsSecret)
		if a.status != 400 || a.body["error"] != "unauthorized_client" {
			t.Errorf("%d %v", a.status, a.body)
		}
		if a := introspect(tok); a.body["active"] != true {
			t.Errorf("revoked by another client")
		}
	})
	t.Run("its client revokes it", func(t *testing.T) {
		a := e.post(t, accesstoken.RevocationPath, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, id, secret)
		if a.status != http.StatusOK {
			t.Fatalf("%d %v", a.status, a.body)
		}
		claims, _ := e.verifier(t).Verify(tok)
		if !e.deny.Revoked(claims.ID) {
			t.Error("not in the denylist")
		}
		if a := introspect(tok); a.status != http.StatusOK || len(a.body) != 1 || a.body["active"] != false {
			t.Errorf("after revocation: %d %v", a.status, a.body)
		}
		if len(e.events.got) != 1 || e.events.got[0].Type != keygate.EventAccessTokenRevoked || e.events.got[0].Data["jti"] != claims.ID ||
			e.events.got[0].ConsumerID != e.consumer.ID {
			t.Errorf("events %+v", e.events.got)
		}
		audit, _, err := e.db.ListAudit(t.Context(), keygate.AuditFilter{Action: "access_token.revoked"}, keygate.Page{})
		if err != nil || len(audit) != 1 || audit[0].TargetID != claims.ID || audit[0].Actor != "oauth_client:"+id {
			t.Errorf("audit %+v, %v", audit, err)
		}
		// Again, and an unknown token: 200, nothing more.
		for _, token := range []string{tok, "not.a.token"} {
			if a := e.post(t, accesstoken.RevocationPath, url.Values{"token": {token}}, id, secret); a.status != http.StatusOK {
				t.Errorf("%d %v", a.status, a.body)
			}
		}
		if len(e.events.got) != 1 {
			t.Errorf("%d events", len(e.events.got))
		}
	})
	t.Run("a revoked client's tokens are inactive", func(t *testing.T) {
		tok := e.token(t, id, secret, nil)
		if _, err := e.db.RevokeOAuthClient(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if a := introspect(tok); a.body["active"] != false {
			t.Errorf("%v", a.body)
		}
	})
	t.Run("expired tokens are inactive", func(t *testing.T) {
		tok := e.token(t, rs, rsSecret, nil)
		e.clock.Advance(600*time.Second + time.Minute)
		if a := introspect(tok); a.body["active"] != false {
			t.Errorf("%v", a.body)
		}
	})
}

// A token signed before a rotation verifies after it: the old key stays
// published (retiring) as long as a token it signed can live.
func TestRotationInFlight(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, "ci", nil)
	rs, rsSecret := e.client(t, "rs", func(c *keygate.OAuthClient) { c.TokenLifetime = 24 * 60 * 60 })
	before := e.token(t, id, secret, nil)
	longBefore := e.token(t, rs, rsSecret, nil)
	oldKey := e.srv.Keys().Current().ID

	// The next key is published an hour before the term ends, then takes over.
	set := e.srv.Keys()
	for _, step := range []time.Duration{time.Hour + time.Minute, time.Hour} {
		e.clock.Advance(step)
		next, changed, err := accesstoken.Rotate(set, policy, e.clock.Now())
		if err != nil || !changed {
			t.Fatalf("rotate: changed %v, %v", changed, err)
		}
		set = next
		e.srv.SetKeys(set)
	}
	if set.Current().ID == oldKey || len(set.Keys) != 2 {
		t.Fatalf("after rotation: %v", set.Keys)
	}
	after := e.token(t, id, secret, nil)
	v := e.verifier(t)
	for name, tok := range map[string]string{"signed by the new key": after, "issued before, long-lived": longBefore} {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if a := e.post(t, accesstoken.IntrospectionPath, url.Values{"token": {tok}}, rs, rsSecret); a.body["active"] != true {
			t.Errorf("%s: introspected %v", name, a.body)
		}
	}
	if _, err := v.Verify(before); err == nil {
		t.Error("a 10-minute token verifies two hours later")
	}
	// The old key goes once every token it signed has expired.
	e.clock.Advance(policy.KeepAfter)
	set, _, _ = accesstoken.Rotate(set, policy, e.clock.Now())
	for _, k := range set.Keys {
		if k.ID == oldKey {
			t.Errorf("old key kept after keep_after")
		}
	}
}

func TestDocuments(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.ts.URL + accesstoken.MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	var meta accesstoken.Metadata
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta.Issuer != e.ts.URL || meta.TokenEndpoint != e.ts.URL+accesstoken.TokenPath || meta.JWKSURI != e.ts.URL+accesstoken.JWKSPath {
		t.Errorf("metadata %+v", meta)
	}
	resp, err = http.Get(e.ts.URL + accesstoken.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/jwk-set+json" || strings.Contains(string(raw), `"d"`) {
		t.Errorf("jwks %s %s", resp.Header.Get("Content-Type"), raw)
	}
	if a := e.post(t, accesstoken.JWKSPath, url.Values{}, "", ""); a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST jwks: %d", a.status)
	}
}

func TestNoKeysYet(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, "ci", nil)
	e.srv.SetKeys(&accesstoken.KeySet{})
	a := e.post(t, accesstoken.TokenPath, url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if a.status != http.StatusServiceUnavailable || a.body["error"] != "temporarily_unavailable" {
		t.Errorf("%d %v", a.status, a.body)
	}
}
