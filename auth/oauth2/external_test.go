package oauth2_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/oauth2"
)

func newProviderWithoutLocal(w *world) *oauth2.Provider {
	return oauth2.NewProvider(w.store, oauth2.Options{Now: w.clock.Now})
}

func external(p *idp, claim, by string) keygate.OAuth2Issuer {
	return keygate.OAuth2Issuer{Issuer: idpIssuer, JWKSURI: p.jwksURI(), Audience: "orders-api", ConsumerClaim: claim, ConsumerBy: by}
}

func TestExternalIssuer(t *testing.T) {
	w := newWorld(t)
	key := newECKey(t, "idp-1")
	p := newIDP(t, key)
	w.store.clients["partner"] = &keygate.OAuthClient{ID: "44444444-4444-4444-8444-444444444444", ClientID: "partner-app",
		Consumer: keygate.Ref{ID: w.consumer.ID}, Status: keygate.KeyActive}
	tests := []struct {
		name    string
		issuer  keygate.OAuth2Issuer
		sub     string
		granted bool
	}{
		{"sub is a consumer id", external(p, keygate.ClaimSub, keygate.ConsumerByID), w.consumer.ID, true},
		{"sub is a username", external(p, keygate.ClaimSub, keygate.ConsumerByUsername), "acme", true},
		{"a username is not an id", external(p, keygate.ClaimSub, keygate.ConsumerByID), "acme", false},
		{"an id is not a username", external(p, keygate.ClaimSub, keygate.ConsumerByUsername), w.consumer.ID, false},
		{"unknown consumer", external(p, keygate.ClaimSub, keygate.ConsumerByID), "nobody", false},
		{"client_id names an OAuth client", external(p, keygate.ClaimClientID, keygate.ConsumerByOAuthClient), "whoever", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.provider.Apply(keygate.Change{Kind: keygate.ConsumerChanged}) // no cached absences between cases
			a := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) { c.Issuers = []keygate.OAuth2Issuer{tt.issuer} })
			res := authenticate(t, a, request("GET", "Bearer "+key.sign(t, "at+jwt", idpClaims(w.clock.Now(), tt.sub))))
			if got := res.Verdict == auth.Granted; got != tt.granted {
				t.Fatalf("verdict %d (%s), want granted %v", res.Verdict, res.Message, tt.granted)
			}
			if tt.granted && (res.Consumer.ID != w.consumer.ID || res.CredentialID != "partner-app") {
				t.Errorf("consumer %s credential %s", res.Consumer.ID, res.CredentialID)
			}
		})
	}

	t.Run("wrong audience and another issuer's key", func(t *testing.T) {
		a := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) {
			c.Issuers = []keygate.OAuth2Issuer{external(p, keygate.ClaimSub, keygate.ConsumerByID)}
		})
		c := idpClaims(w.clock.Now(), w.consumer.ID)
		c["aud"] = "billing-api"
		if res := authenticate(t, a, request("GET", "Bearer "+key.sign(t, "at+jwt", c))); res.Verdict != auth.Unauthenticated {
			t.Errorf("wrong audience: verdict %d", res.Verdict)
		}
		// keygate's own token, on a route that takes only the IdP's.
		if res := authenticate(t, a, request("GET", "Bearer "+w.token(t))); res.Verdict != auth.Unauthenticated {
			t.Errorf("local token on an external-only route: verdict %d", res.Verdict)
		}
	})
}

// TestTwoIssuers: a route taking keygate's tokens and an IdP's picks the
// issuer by "iss".
func TestTwoIssuers(t *testing.T) {
	w := newWorld(t)
	key := newECKey(t, "idp-1")
	p := newIDP(t, key)
	a := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) {
		c.Issuers = append(c.Issuers, external(p, keygate.ClaimSub, keygate.ConsumerByID))
	})
	for name, tok := range map[string]string{
		"local": w.token(t), "external": key.sign(t, "at+jwt", idpClaims(w.clock.Now(), w.consumer.ID)),
	} {
		if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Granted {
			t.Errorf("%s: %s", name, res.Message)
		}
	}
	c := idpClaims(w.clock.Now(), w.consumer.ID)
	c["iss"] = "https://stranger.example"
	if res := authenticate(t, a, request("GET", "Bearer "+key.sign(t, "at+jwt", c))); res.Verdict != auth.Unauthenticated ||
		!strings.Contains(res.Message, "issuer") {
		t.Errorf("unknown issuer: %d %s", res.Verdict, res.Message)
	}
}

// TestExternalRotation: a key the IdP starts signing with is fetched once;
// a flood of unknown kids fetches no more than the rate limit allows; the
// JWKS is fetched again after its max-age.
func TestExternalRotation(t *testing.T) {
	w := newWorld(t)
	k1, k2 := newECKey(t, "idp-1"), newECKey(t, "idp-2")
	p := newIDP(t, k1)
	a := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) {
		c.Issuers = []keygate.OAuth2Issuer{external(p, keygate.ClaimSub, keygate.ConsumerByID)}
	})
	call := func(k ecKey) auth.Verdict {
		return authenticate(t, a, request("GET", "Bearer "+k.sign(t, "at+jwt", idpClaims(w.clock.Now(), w.consumer.ID)))).Verdict
	}
	if v := call(k1); v != auth.Granted || p.fetches.Load() != 1 {
		t.Fatalf("first token: verdict %d, %d fetches", v, p.fetches.Load())
	}
	for range 10 {
		call(k1)
	}
	if p.fetches.Load() != 1 {
		t.Errorf("%d fetches for known keys, want 1 (cached)", p.fetches.Load())
	}
	w.clock.Add(oauth2RefreshInterval) // the last fetch is long enough ago
	p.publish(k2)
	if v := call(k2); v != auth.Granted {
		t.Errorf("the IdP's new key: verdict %d", v)
	}
	if p.fetches.Load() != 2 {
		t.Errorf("%d fetches after the new kid, want 2", p.fetches.Load())
	}
	// A flood of kids nobody published, at once.
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := newECKey(t, "made-up-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
			if v := call(k); v != auth.Unauthenticated {
				t.Errorf("made-up kid: verdict %d", v)
			}
		}()
	}
	wg.Wait()
	if p.fetches.Load() != 2 {
		t.Errorf("%d fetches after 100 made-up kids within the interval, want still 2", p.fetches.Load())
	}
	// max-age=300: the JWKS is fetched again, in the background.
	w.clock.Add(301 * time.Second)
	call(k1)
	deadline := time.Now().Add(5 * time.Second)
	for p.fetches.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.fetches.Load() != 3 {
		t.Errorf("%d fetches after max-age, want 3", p.fetches.Load())
	}
}

// TestExternalDown: an IdP that cannot be reached before any key was
// loaded is a failure (503 at the gateway), not a denial; once keys are
// loaded, an outage leaves them verifying, and an unknown kid is a 401.
func TestExternalDown(t *testing.T) {
	w := newWorld(t)
	k1 := newECKey(t, "idp-1")
	p := newIDP(t, k1)
	p.down.Store(true)
	a := w.authenticator(t, func(c *keygate.OAuth2AuthConfig) {
		c.Issuers = []keygate.OAuth2Issuer{external(p, keygate.ClaimSub, keygate.ConsumerByID)}
	})
	tok := k1.sign(t, "at+jwt", idpClaims(w.clock.Now(), w.consumer.ID))
	if _, err := a.Authenticate(context.Background(), request("GET", "Bearer "+tok), keygate.Target{}); err == nil {
		t.Fatal("no error while the IdP was never reached")
	}
	p.down.Store(false)
	w.clock.Add(oauth2RefreshInterval)
	if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Granted {
		t.Fatalf("IdP back: %s", res.Message)
	}
	p.down.Store(true)
	w.clock.Add(time.Hour - time.Minute) // past max-age: the background fetch fails
	if res := authenticate(t, a, request("GET", "Bearer "+tok)); res.Verdict != auth.Granted {
		t.Errorf("cached keys during the outage: %s", res.Message)
	}
	other := newECKey(t, "idp-2")
	w.clock.Add(oauth2RefreshInterval)
	res, err := a.Authenticate(context.Background(), request("GET", "Bearer "+other.sign(t, "at+jwt", idpClaims(w.clock.Now(), w.consumer.ID))), keygate.Target{})
	if err != nil || res.Verdict != auth.Unauthenticated {
		t.Errorf("unknown kid during the outage: %v, %v; want a 401", res.Verdict, err)
	}
}
