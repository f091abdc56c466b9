package oauth2_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/auth"
)

// TestLocalTokens: every refusal the issue names, and what a valid token
// grants, for keygate's own tokens.
func TestLocalTokens(t *testing.T) {
	w := newWorld(t)
	forger := newECKey(t, "forged")
	published := newECKey(t, "published") // in the JWKS, for hand-made tokens
	w.extra = append(w.extra, published.public())
	cur := w.set.Load().Current()

	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	localClaims := func() map[string]any {
		now := w.clock.Now()
		return map[string]any{"iss": localIssuer, "sub": w.consumer.ID, "aud": localIssuer, "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "jti": "hand-made", "client_id": w.client.ClientID, "scope": "orders"}
	}
	// HS256 keyed with the published public key: the algorithm confusion.
	hs256 := func() string {
		der, _ := x509.MarshalPKIXPublicKey(&published.priv.PublicKey)
		signing := b64(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": published.kid}) + "." + b64(localClaims())
		m := hmac.New(sha256.New, der)
		m.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	withClaims := func(edit func(c *accesstoken.Claims)) string {
		c := w.claims(t, "orders")
		edit(c)
		return issue(t, cur, c)
	}

	tests := []struct {
		name    string
		header  []string
		verdict auth.Verdict
		errCode string // RFC 6750 error in the challenge
		message string
	}{
		{"valid", []string{"Bearer " + w.token(t, "orders")}, auth.Granted, "", ""},
		{"scheme in any case", []string{"bearer " + w.token(t, "orders")}, auth.Granted, "", ""},
		{"valid hand-made (typ at+jwt)", []string{"Bearer " + published.sign(t, "at+jwt", localClaims())}, auth.Granted, "", ""},
		{"no header", nil, auth.Absent, "", msgNoToken},
		{"basic auth", []string{"Basic YTpi"}, auth.Absent, "", msgNoToken},
		{"not a JWT (an API key?)", []string{"Bearer kg_live_abc"}, auth.Absent, "invalid_token", "malformed"},
		{"over 8 KiB", []string{"Bearer " + strings.Repeat("a", 8<<10) + ".b.c"}, auth.Absent, "invalid_token", "malformed"},
		{"two Authorization headers", []string{"Bearer " + w.token(t), "Bearer " + w.token(t)}, auth.Unauthenticated, "invalid_request", "More than one"},
		{"expired", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) {
			c.IssuedAt, c.Expiry = t0.Add(-2*time.Hour), t0.Add(-time.Hour)
		})}, auth.Unauthenticated, "invalid_token", "expired"},
		{"not valid yet", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) { c.NotBefore = t0.Add(time.Hour) })},
			auth.Unauthenticated, "invalid_token", "not valid yet"},
		{"wrong audience", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) { c.Audience = []string{"https://other"} })},
			auth.Unauthenticated, "invalid_token", "aud"},
		{"wrong issuer", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) { c.Issuer = "https://evil.example" })},
			auth.Unauthenticated, "invalid_token", "issuer"},
		{"wrong typ (JWT)", []string{"Bearer " + published.sign(t, "JWT", localClaims())}, auth.Unauthenticated, "invalid_token", "typ"},
		{"no typ", []string{"Bearer " + published.sign(t, "", localClaims())}, auth.Unauthenticated, "invalid_token", "typ"},
		{"unknown kid", []string{"Bearer " + forger.sign(t, "at+jwt", localClaims())}, auth.Unauthenticated, "invalid_token", "key is unknown"},
		{"alg none", []string{"Bearer " + b64(map[string]string{"alg": "none", "typ": "at+jwt", "kid": cur.ID}) + "." + b64(localClaims()) + "."},
			auth.Unauthenticated, "invalid_token", "algorithm"},
		{"HS256 with the public key", []string{"Bearer " + hs256()}, auth.Unauthenticated, "invalid_token", "algorithm"},
		{"bad signature", []string{"Bearer " + func() string {
			tok := w.token(t, "orders")
			i := strings.LastIndexByte(tok, '.')
			return tok[:i+1] + strings.Repeat("A", len(tok)-i-1)
		}()}, auth.Unauthenticated, "invalid_token", "signature"},
		{"missing client_id", []string{"Bearer " + func() string {
			c := localClaims()
			delete(c, "client_id")
			return published.sign(t, "at+jwt", c)
		}()}, auth.Unauthenticated, "invalid_token", "claim"},
		{"unknown client", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) { c.ClientID = "kgc_nobody" })},
			auth.Unauthenticated, "invalid_token", "unknown or revoked"},
		{"client given by its record id", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) { c.ClientID = w.client.ID })},
			auth.Unauthenticated, "invalid_token", "unknown or revoked"},
		{"sub is not the client's consumer", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) { c.Subject = "someone-else" })},
			auth.Unauthenticated, "invalid_token", "unknown or revoked"},
		{"revoked token (denylist)", []string{"Bearer " + withClaims(func(c *accesstoken.Claims) { c.ID = "revoked-jti" })},
			auth.Unauthenticated, "invalid_token", "revoked"},
	}
	w.denied["revoked-jti"] = true
	a := w.authenticator(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := authenticate(t, a, request("GET", tt.header...))
			if res.Verdict != tt.verdict {
				t.Fatalf("verdict %d (%s), want %d", res.Verdict, res.Message, tt.verdict)
			}
			if tt.message != "" && !strings.Contains(res.Message, tt.message) {
				t.Errorf("message %q, want it to say %q", res.Message, tt.message)
			}
			if tt.errCode != "" && !strings.Contains(res.WWWAuthenticate, `error="`+tt.errCode+`"`) {
				t.Errorf("challenge %q, want error %q", res.WWWAuthenticate, tt.errCode)
			}
			if tt.verdict != auth.Granted {
				if res.Verdict != auth.Forbidden && res.Consumer != nil {
					t.Errorf("refused, but with consumer %v", res.Consumer)
				}
				for _, h := range tt.header {
					if tok := strings.TrimPrefix(h, "Bearer "); len(tok) > 20 && strings.Contains(res.Message+res.WWWAuthenticate, tok[len(tok)-20:]) {
						t.Errorf("the refusal quotes the token")
					}
				}
				return
			}
			if res.Consumer == nil || res.Consumer.ID != w.consumer.ID {
				t.Fatalf("consumer %v, want %s", res.Consumer, w.consumer.ID)
			}
			if res.CredentialID != w.client.ClientID || res.CredentialRecord != w.client.ID || res.Lineage != w.client.ID {
				t.Errorf("credential %q record %q lineage %q, want the client's", res.CredentialID, res.CredentialRecord, res.Lineage)
			}
			if res.PlanID != w.consumer.Plan.ID {
				t.Errorf("plan %q, want the consumer's %q", res.PlanID, w.consumer.Plan.ID)
			}
		})
	}
	if n := w.loads.Load(); n > 2 {
		t.Errorf("the local keys were loaded %d times; unknown kids must reload at most once per interval", n)
	}
}

const msgNoToken = "No bearer token"

func TestScopes(t *testing.T) {
	w := newWorld(t)
	a := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) {
		c.Scopes = []string{"orders"}
		c.MethodScopes = map[string][]string{"POST": {"orders:write"}, "DELETE": {"orders:write", "orders:admin"}}
	})
	tests := []struct {
		method  string
		scopes  []string
		granted bool
		missing string
	}{
		{"GET", []string{"orders"}, true, ""},
		{"GET", []string{"orders:read"}, false, "orders"},
		{"GET", nil, false, "orders"},
		{"POST", []string{"orders"}, false, "orders:write"},
		{"POST", []string{"orders", "orders:write"}, true, ""},
		{"DELETE", []string{"orders", "orders:write"}, false, "orders:admin"},
		{"DELETE", []string{"orders:admin"}, false, "orders orders:write"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+strings.Join(tt.scopes, ","), func(t *testing.T) {
			res := authenticate(t, a, request(tt.method, "Bearer "+w.token(t, tt.scopes...)))
			if tt.granted {
				if res.Verdict != auth.Granted {
					t.Fatalf("verdict %d (%s), want granted", res.Verdict, res.Message)
				}
				return
			}
			if res.Verdict != auth.Forbidden {
				t.Fatalf("verdict %d, want forbidden", res.Verdict)
			}
			want := `Bearer realm="keygate", error="insufficient_scope", scope="` + tt.missing + `"`
			if res.WWWAuthenticate != want {
				t.Errorf("challenge %q, want %q", res.WWWAuthenticate, want)
			}
			if res.Consumer == nil || res.CredentialRecord != w.client.ID {
				t.Errorf("a 403 must name who was refused (for metering): %+v", res)
			}
		})
	}
}

// TestRotationInFlight: a token signed by the key that was current keeps
// verifying after a rotation made it retiring, and a token of the new key
// verifies on a node that had cached the old set (reload on unknown kid).
func TestRotationInFlight(t *testing.T) {
	w := newWorld(t)
	a := w.authenticator(t, nil)
	old := w.token(t)
	if res := authenticate(t, a, request("GET", "Bearer "+old)); res.Verdict != auth.Granted {
		t.Fatalf("before rotation: %s", res.Message)
	}
	policy := accesstoken.RotationPolicy{Alg: accesstoken.ES256, SignFor: 24 * time.Hour, PublishBefore: time.Hour, KeepAfter: 2 * time.Hour}
	set := w.set.Load()
	// The next key is made an hour before the term ends; at the end it
	// takes over. This node does not reload in between (its cache is
	// younger than LocalKeysMaxAge when the first new token arrives).
	for _, at := range []time.Duration{23 * time.Hour, 24 * time.Hour} {
		var err error
		if set, _, err = accesstoken.Rotate(set, policy, t0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	w.set.Store(set)
	w.clock.Add(30 * time.Minute) // both tokens valid (an hour's lifetime), cache still fresh
	loads := w.loads.Load()
	fresh := w.token(t)
	for name, tok := range map[string]string{"old key's token": old, "new key's token": fresh} {
		if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Granted {
			t.Errorf("%s after rotation: %s", name, res.Message)
		}
	}
	if got := w.loads.Load() - loads; got != 1 {
		t.Errorf("keys loaded %d times for the new kid, want 1", got)
	}
}

// TestUnknownKidFlood: made-up kids reload the keys at most once per
// refresh interval, however many arrive at once.
func TestUnknownKidFlood(t *testing.T) {
	w := newWorld(t)
	a := w.authenticator(t, nil)
	authenticate(t, a, request("GET", "Bearer "+w.token(t))) // first load
	before := w.loads.Load()
	forger := newECKey(t, "x")
	claims := map[string]any{"iss": localIssuer, "sub": w.consumer.ID, "aud": localIssuer, "exp": t0.Add(time.Hour).Unix(),
		"iat": t0.Unix(), "jti": "j", "client_id": w.client.ClientID}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := forger
			k.kid = "kid-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			res := authenticate(t, a, request("GET", "Bearer "+k.sign(t, "at+jwt", claims)))
			if res.Verdict != auth.Unauthenticated {
				t.Errorf("verdict %d", res.Verdict)
			}
		}()
	}
	wg.Wait()
	if got := w.loads.Load() - before; got > 1 {
		t.Errorf("200 unknown kids loaded the keys %d times, want at most 1", got)
	}
	w.clock.Add(oauth2RefreshInterval)
	authenticate(t, a, request("GET", "Bearer "+forger.sign(t, "at+jwt", claims)))
	if got := w.loads.Load() - before; got > 2 {
		t.Errorf("after the interval: %d loads, want at most 2", got)
	}
}

const oauth2RefreshInterval = 10 * time.Second

// TestClientChanges: a revoked client's tokens are refused once the
// change arrives, though the client was cached.
func TestClientChanges(t *testing.T) {
	w := newWorld(t)
	a := w.authenticator(t, nil)
	tok := w.token(t)
	if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Granted {
		t.Fatal(res.Message)
	}
	reads := w.store.reads.Load()
	authenticate(t, a, request("GET", "Bearer "+tok))
	if w.store.reads.Load() != reads {
		t.Errorf("a second request read the store: client and consumer must be cached")
	}
	w.store.mu.Lock()
	w.client.Status = keygate.KeyRevoked
	w.store.mu.Unlock()
	w.provider.Apply(keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Updated, ID: w.client.ID})
	if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Unauthenticated {
		t.Errorf("revoked client: verdict %d, want unauthenticated", res.Verdict)
	}

	t.Run("consumer changes reach the result", func(t *testing.T) {
		w := newWorld(t)
		a := w.authenticator(t, nil)
		tok := w.token(t)
		authenticate(t, a, request("GET", "Bearer "+tok))
		w.store.mu.Lock()
		w.consumer.Groups = []string{"gold"}
		w.store.mu.Unlock()
		w.provider.Apply(keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Updated, ID: w.consumer.ID})
		if res := authenticate(t, a, request("GET", "Bearer "+tok)); len(res.Consumer.Groups) != 1 || res.Consumer.Groups[0] != "gold" {
			t.Errorf("groups %v after the change, want [gold]", res.Consumer.Groups)
		}
	})

	t.Run("store down is a failure, not a denial", func(t *testing.T) {
		w := newWorld(t)
		a := w.authenticator(t, nil)
		w.store.fail.Store(true)
		if _, err := a.Authenticate(context.Background(), request("GET", "Bearer "+w.token(t)), keygate.Target{}); err == nil {
			t.Error("no error with the store down")
		}
	})
}

func TestHideCredentials(t *testing.T) {
	w := newWorld(t)
	for _, hide := range []bool{false, true} {
		a := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) { c.HideCredentials = hide })
		for _, tok := range []string{w.token(t), "kg_live_notajwt"} {
			r := request("GET", "Bearer "+tok)
			authenticate(t, a, r)
			kept := len(r.Header.Peek("Authorization")) > 0
			jwt := strings.Count(tok, ".") == 2
			if want := !hide || !jwt; kept != want {
				t.Errorf("hide %v, jwt %v: Authorization kept %v, want %v", hide, jwt, kept, want)
			}
		}
	}
}

func TestNoLocalIssuer(t *testing.T) {
	w := newWorld(t)
	p := newProviderWithoutLocal(w)
	if _, err := p.New(*keygate.NewOAuth2AuthConfig()); err == nil || !strings.Contains(err.Error(), "local") {
		t.Errorf("error %v, want one about the local issuer", err)
	}
}

// TestTokenCache: a token verified once is taken on its hash, but the
// denylist, the client's state and the token's exp still hold.
func TestTokenCache(t *testing.T) {
	w := newWorld(t)
	a := w.authenticator(t, nil)
	c := w.claims(t)
	c.Expiry = w.clock.Now().Add(10 * time.Second)
	tok := issue(t, w.set.Load().Current(), c)
	if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Granted {
		t.Fatal(res.Message)
	}
	w.denied[c.ID] = true
	if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Unauthenticated || !strings.Contains(res.Message, "revoked") {
		t.Errorf("revoked after it was cached: %d %s", res.Verdict, res.Message)
	}
	delete(w.denied, c.ID)
	w.clock.Add(10 * time.Second)
	// The verifier's leeway would still take it; the cache does not keep it past exp.
	a.Authenticate(context.Background(), request("GET", "Bearer "+tok), keygate.Target{})
	w.clock.Add(40 * time.Second)
	if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Unauthenticated || !strings.Contains(res.Message, "expired") {
		t.Errorf("past exp and leeway: %d %s", res.Verdict, res.Message)
	}

	t.Run("a token of another route's audience is not taken from the cache", func(t *testing.T) {
		other := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) { c.Audience = "https://elsewhere" })
		tok := w.token(t)
		authenticate(t, a, request("GET", "Bearer "+tok))
		if res := authenticate(t, other, request("GET", "Bearer "+tok)); res.Verdict != auth.Unauthenticated {
			t.Errorf("verdict %d on a route of another audience", res.Verdict)
		}
	})
}
