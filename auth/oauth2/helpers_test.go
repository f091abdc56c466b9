package oauth2_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/oauth2"
	"github.com/valyala/fasthttp"
)

const localIssuer = "https://keygate.example"

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(t0.UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// store is an in-memory Store that counts its reads.
type store struct {
	mu        sync.Mutex
	clients   map[string]*keygate.OAuthClient // by client_id
	consumers map[string]*keygate.Consumer    // by id
	reads     atomic.Int64
	fail      atomic.Bool
}

func newStore() *store {
	return &store{clients: map[string]*keygate.OAuthClient{}, consumers: map[string]*keygate.Consumer{}}
}

func (s *store) FindOAuthClient(_ context.Context, ref string) (*keygate.OAuthClient, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return nil, context.DeadlineExceeded
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		if c.ClientID == ref || c.ID == ref {
			cp := *c
			return &cp, nil
		}
	}
	return nil, keygate.Errorf(keygate.ENOTFOUND, "no client")
}

func (s *store) FindConsumer(_ context.Context, ref string) (*keygate.Consumer, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return nil, context.DeadlineExceeded
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.consumers {
		if c.ID == ref || c.Username == ref {
			cp := *c
			return &cp, nil
		}
	}
	return nil, keygate.Errorf(keygate.ENOTFOUND, "no consumer")
}

// world is a consumer with an OAuth client, keygate's key set, and a
// provider over them.
type world struct {
	clock    *clock
	store    *store
	consumer *keygate.Consumer
	client   *keygate.OAuthClient
	set      atomic.Pointer[accesstoken.KeySet]
	extra    []jose.JSONWebKey // published besides the set's keys
	loads    atomic.Int64
	denied   map[string]bool
	provider *oauth2.Provider
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	w := &world{clock: newClock(), store: newStore(), denied: map[string]bool{}}
	w.consumer = &keygate.Consumer{ID: "11111111-1111-4111-8111-111111111111", Username: "acme", Groups: []string{"partners"},
		Plan: &keygate.Ref{ID: "22222222-2222-4222-8222-222222222222"}}
	w.client = &keygate.OAuthClient{ID: "33333333-3333-4333-8333-333333333333", ClientID: "kgc_abc",
		Consumer: keygate.Ref{ID: w.consumer.ID}, Status: keygate.KeyActive}
	w.store.consumers[w.consumer.ID] = w.consumer
	w.store.clients[w.client.ClientID] = w.client
	k := currentKey(tb, accesstoken.ES256, w.clock.Now())
	w.set.Store(&accesstoken.KeySet{Keys: []*accesstoken.SigningKey{k}})
	w.provider = oauth2.NewProvider(w.store, oauth2.Options{
		Local:    &oauth2.Local{Issuer: localIssuer, Audience: localIssuer, Keys: w.loadKeys},
		Denylist: denylist(w.denied),
		Now:      w.clock.Now,
	})
	return w
}

type denylist map[string]bool

func (d denylist) Revoked(jti string) bool { return d[jti] }

func (w *world) loadKeys(context.Context) (*accesstoken.PublicKeys, error) {
	w.loads.Add(1)
	set := w.set.Load().JWKS()
	set.Keys = append(set.Keys, w.extra...)
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return accesstoken.ParseJWKS(b)
}

func currentKey(tb testing.TB, alg string, now time.Time) *accesstoken.SigningKey {
	tb.Helper()
	k, err := accesstoken.GenerateKey(alg, now)
	if err != nil {
		tb.Fatal(err)
	}
	k.State, k.ActivatedAt = accesstoken.Current, now
	return k
}

// grant is a token of w's client, issued now for lifetime.
func (w *world) claims(tb testing.TB, scopes ...string) *accesstoken.Claims {
	tb.Helper()
	c, err := accesstoken.NewClaims(accesstoken.Grant{Issuer: localIssuer, Subject: w.consumer.ID, ClientID: w.client.ClientID,
		Audience: []string{localIssuer}, Scopes: scopes, Lifetime: time.Hour}, w.clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func (w *world) token(tb testing.TB, scopes ...string) string {
	tb.Helper()
	return issue(tb, w.set.Load().Current(), w.claims(tb, scopes...))
}

func issue(tb testing.TB, k *accesstoken.SigningKey, c *accesstoken.Claims) string {
	tb.Helper()
	tok, err := accesstoken.Issue(k, c)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (w *world) authenticator(tb testing.TB, edit func(*keygate.OAuth2AuthConfig)) *oauth2.Authenticator {
	tb.Helper()
	cfg := keygate.NewOAuth2AuthConfig()
	if edit != nil {
		edit(cfg)
	}
	a, err := w.provider.New(*cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func request(method string, authorization ...string) *fasthttp.Request {
	r := &fasthttp.Request{}
	r.Header.SetMethod(method)
	r.SetRequestURI("/orders")
	for _, a := range authorization {
		r.Header.Add("Authorization", a)
	}
	return r
}

func authenticate(tb testing.TB, a *oauth2.Authenticator, r *fasthttp.Request) auth.Result {
	tb.Helper()
	res, err := a.Authenticate(context.Background(), r, keygate.Target{})
	if err != nil {
		tb.Fatalf("Authenticate: %v", err)
	}
	return res
}

// ecKey is a P-256 key of our own (an identity provider's, or a forger's).
type ecKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newECKey(tb testing.TB, kid string) ecKey {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return ecKey{priv, kid}
}

func (k ecKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: "ES256", Use: "sig"}
}

// sign makes a compact JWS of claims with header typ.
func (k ecKey) sign(tb testing.TB, typ string, claims map[string]any) string {
	tb.Helper()
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), k.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// idp is an external identity provider serving a JWKS.
type idp struct {
	srv     *httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int64
	down    atomic.Bool
	cc      string // Cache-Control of the answers
}

func newIDP(tb testing.TB, keys ...ecKey) *idp {
	tb.Helper()
	p := &idp{cc: "max-age=300"}
	for _, k := range keys {
		p.keys = append(p.keys, k.public())
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: p.keys})
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", p.cc)
		w.Write(b)
	}))
	tb.Cleanup(p.srv.Close)
	return p
}

func (p *idp) publish(k ecKey) {
	p.mu.Lock()
	p.keys = append(p.keys, k.public())
	p.mu.Unlock()
}

func (p *idp) jwksURI() string { return p.srv.URL + "/jwks" }

const idpIssuer = "https://idp.example"

// idpClaims are an external provider's access token claims.
func idpClaims(now time.Time, sub string) map[string]any {
	return map[string]any{"iss": idpIssuer, "sub": sub, "aud": "orders-api", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "jti": "jti-" + sub, "client_id": "partner-app", "scope": "orders:read"}
}
