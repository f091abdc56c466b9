package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// oauthHash stands for the hash of a secret: the store keeps what it is given.
func oauthHash(secret string) []byte { return fmt.Appendf(nil, "hash-of-%s\x00\xff", secret) }

func newOAuthClient(consumer keygate.Ref, clientID, name string) *keygate.OAuthClient {
	return &keygate.OAuthClient{ClientID: clientID, Consumer: consumer, Name: name, Scopes: []string{"orders:read", "orders:write"},
		TokenLifetime: 600, AuthMethods: []string{keygate.ClientSecretBasic}, SecretHash: oauthHash(clientID + "-1")}
}

// oauthClient stores a client of consumer named name, its client_id "kgc_"+name.
func (e *env) oauthClient(tb testing.TB, consumer *keygate.Consumer, name string) *keygate.OAuthClient {
	tb.Helper()
	c := newOAuthClient(keygate.Ref{ID: consumer.ID}, "kgc_"+name, name)
	check(tb, e.store.CreateOAuthClient(e.ctx, c))
	e.changes.take()
	return c
}

func testOAuthClients(t *testing.T, s suite) {
	e := s.env(t)
	alice := e.consumer(t, "alice")
	tests := []struct {
		name     string
		consumer keygate.Ref
		edit     func(*keygate.OAuthClient)
	}{
		{"consumer by id", keygate.Ref{ID: alice.ID}, func(*keygate.OAuthClient) {}},
		{"consumer by username", keygate.Ref{Name: "alice"}, func(*keygate.OAuthClient) {}},
		{"no scopes", keygate.Ref{ID: alice.ID}, func(c *keygate.OAuthClient) { c.Scopes = nil }},
		{"private_key_jwt with a jwks", keygate.Ref{ID: alice.ID}, func(c *keygate.OAuthClient) {
			c.AuthMethods = []string{keygate.PrivateKeyJWT}
			c.JWKS = json.RawMessage(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
		}},
		{"private_key_jwt with a jwks_uri", keygate.Ref{ID: alice.ID}, func(c *keygate.OAuthClient) {
			c.AuthMethods = []string{keygate.PrivateKeyJWT}
			c.JWKSURL = "https://ci.example/jwks.json"
		}},
		{"the store's fields given are ignored", keygate.Ref{ID: alice.ID}, func(c *keygate.OAuthClient) {
			past := start.Add(-time.Hour)
			c.ID, c.Status, c.CreatedAt, c.RevokedAt = "x", keygate.KeyRevoked, past, &past
			c.PreviousSecretHash, c.PreviousSecretExpiresAt, c.SecretRotatedAt = []byte("old"), &past, &past
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newOAuthClient(tt.consumer, fmt.Sprintf("kgc_client%d", i), fmt.Sprintf("client-%d", i))
			tt.edit(c)
			check(t, e.store.CreateOAuthClient(e.ctx, c))
			if c.ID == "" || c.ID == "x" || c.Status != keygate.KeyActive || !c.CreatedAt.Equal(e.now()) || c.RevokedAt != nil ||
				c.PreviousSecretHash != nil || c.PreviousSecretExpiresAt != nil || c.SecretRotatedAt != nil {
				t.Errorf("created %+v: want a new id, active, created now, never rotated", c)
			}
			if c.Consumer != (keygate.Ref{ID: alice.ID}) {
				t.Errorf("consumer = %+v, want alice's id", c.Consumer)
			}
			e.wantChanges(t, keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Created, ID: c.ID})
			for _, ref := range []string{c.ID, c.ClientID} {
				got, err := e.store.FindOAuthClient(e.ctx, ref)
				check(t, err)
				wantEqual(t, got, c)
			}
		})
	}
}

func testOAuthClientErrors(t *testing.T, s suite) {
	e := s.env(t)
	alice := e.consumer(t, "alice")
	taken := e.oauthClient(t, alice, "taken")
	tests := []struct {
		name        string
		client      *keygate.OAuthClient
		code, field string
	}{
		{"no client", nil, keygate.EINVALID, "oauth client"},
		{"client_id without its prefix", newOAuthClient(keygate.Ref{ID: alice.ID}, "abc", "a"), keygate.EINVALID, "client_id"},
		{"no secret", func() *keygate.OAuthClient {
			c := newOAuthClient(keygate.Ref{ID: alice.ID}, "kgc_a", "a")
			c.SecretHash = nil
			return c
		}(), keygate.EINVALID, "secret"},
		{"no consumer", newOAuthClient(keygate.Ref{}, "kgc_a", "a"), keygate.ENOTFOUND, "consumer"},
		{"unknown consumer", newOAuthClient(keygate.Ref{Name: "bob"}, "kgc_a", "a"), keygate.ENOTFOUND, "consumer"},
		{"name taken by the consumer", newOAuthClient(keygate.Ref{ID: alice.ID}, "kgc_a", taken.Name), keygate.ECONFLICT, "name"},
		{"client_id taken", newOAuthClient(keygate.Ref{ID: alice.ID}, taken.ClientID, "other"), keygate.ECONFLICT, "client_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.store.CreateOAuthClient(e.ctx, tt.client), tt.code, tt.field)
			e.wantChanges(t)
		})
	}
	list, _, err := e.store.ListOAuthClients(e.ctx, "", keygate.Page{})
	check(t, err)
	if len(list) != 1 {
		t.Errorf("%d clients stored, want only the first", len(list))
	}
	for _, ref := range []string{"kgc_nope", "01890000-0000-7000-8000-000000000000"} {
		_, err := e.store.FindOAuthClient(e.ctx, ref)
		wantError(t, err, keygate.ENOTFOUND, "")
		_, err = e.store.RevokeOAuthClient(e.ctx, ref)
		wantError(t, err, keygate.ENOTFOUND, "")
		_, err = e.store.RotateOAuthClientSecret(e.ctx, ref, oauthHash("x"), e.now())
		wantError(t, err, keygate.ENOTFOUND, "")
		wantError(t, e.store.DeleteOAuthClient(e.ctx, ref), keygate.ENOTFOUND, "")
	}
	_, err = e.store.RotateOAuthClientSecret(e.ctx, taken.ClientID, nil, e.now())
	wantError(t, err, keygate.EINVALID, "secret")
}

func testOAuthClientList(t *testing.T, s suite) {
	e := s.env(t)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	var all, alices []string
	for i := range 5 {
		owner := alice
		if i%2 == 1 {
			owner = bob
		}
		c := e.oauthClient(t, owner, fmt.Sprintf("c%d", i))
		all = append(all, c.ID)
		if owner == alice {
			alices = append(alices, c.ID)
		}
	}
	id := func(c *keygate.OAuthClient) string { return c.ID }
	list := func(consumerID string) func(keygate.Page) ([]*keygate.OAuthClient, string, error) {
		return func(p keygate.Page) ([]*keygate.OAuthClient, string, error) {
			return e.store.ListOAuthClients(e.ctx, consumerID, p)
		}
	}
	if got := walk(t, list(""), 2, id); !slices.Equal(got, all) {
		t.Errorf("all clients = %v, want %v", got, all)
	}
	if got := walk(t, list(alice.ID), 2, id); !slices.Equal(got, alices) {
		t.Errorf("alice's clients = %v, want %v", got, alices)
	}
}

// testOAuthClientRotate: the new secret works at once; the old one until the
// overlap ends, then never; a second rotation replaces the previous one.
func testOAuthClientRotate(t *testing.T, s suite) {
	e := s.env(t)
	c := e.oauthClient(t, e.consumer(t, "alice"), "ci")
	first := c.SecretHash
	until := e.now().Add(time.Hour)
	e.clock.Advance(time.Minute)
	got, err := e.store.RotateOAuthClientSecret(e.ctx, c.ClientID, oauthHash("second"), until)
	check(t, err)
	e.wantChanges(t, keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Updated, Action: "secret_rotated", ID: c.ID})
	if got.SecretRotatedAt == nil || !got.SecretRotatedAt.Equal(e.now()) || got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(until) {
		t.Errorf("rotated %+v: want rotated now, previous until %v", got, until)
	}
	stored, err := e.store.FindOAuthClient(e.ctx, c.ID)
	check(t, err)
	wantEqual(t, stored, got)
	tests := []struct {
		name   string
		secret []byte
		at     time.Time
		want   bool
	}{
		{"new secret", oauthHash("second"), e.now(), true},
		{"old secret in the overlap", first, until.Add(-time.Microsecond), true},
		{"old secret when the overlap ends", first, until, false},
		{"new secret after the overlap", oauthHash("second"), until.Add(time.Hour), true},
		{"another secret", oauthHash("other"), e.now(), false},
		{"empty", nil, e.now(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stored.VerifySecret(tt.secret, tt.at); got != tt.want {
				t.Errorf("VerifySecret = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("a second rotation ends the first secret", func(t *testing.T) {
		third, err := e.store.RotateOAuthClientSecret(e.ctx, c.ID, oauthHash("third"), until.Add(time.Hour))
		check(t, err)
		if third.VerifySecret(first, e.now()) || !third.VerifySecret(oauthHash("second"), e.now()) || !third.VerifySecret(oauthHash("third"), e.now()) {
			t.Error("after a second rotation: want the second and third secrets, not the first")
		}
	})
	t.Run("no overlap", func(t *testing.T) {
		fourth, err := e.store.RotateOAuthClientSecret(e.ctx, c.ID, oauthHash("fourth"), e.now())
		check(t, err)
		if fourth.PreviousSecretHash != nil || fourth.PreviousSecretExpiresAt != nil || fourth.VerifySecret(oauthHash("third"), e.now()) {
			t.Errorf("rotated without overlap: %+v keeps the previous secret", fourth)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		_, err := e.store.RevokeOAuthClient(e.ctx, c.ID)
		check(t, err)
		e.changes.take()
		_, err = e.store.RotateOAuthClientSecret(e.ctx, c.ID, oauthHash("fifth"), e.now())
		wantError(t, err, keygate.ECONFLICT, "")
		e.wantChanges(t)
	})
}

func testOAuthClientRevoke(t *testing.T, s suite) {
	e := s.env(t)
	c := e.oauthClient(t, e.consumer(t, "alice"), "ci")
	revokedAt := e.now()
	got, err := e.store.RevokeOAuthClient(e.ctx, c.ClientID)
	check(t, err)
	if got.Status != keygate.KeyRevoked || got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
		t.Errorf("revoked %+v: want revoked now", got)
	}
	if got.VerifySecret(c.SecretHash, e.now()) {
		t.Error("a revoked client's secret still verifies")
	}
	e.wantChanges(t, keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Updated, Action: "revoked", ID: c.ID})
	e.clock.Advance(time.Hour)
	again, err := e.store.RevokeOAuthClient(e.ctx, c.ID)
	check(t, err)
	if !again.RevokedAt.Equal(revokedAt) {
		t.Errorf("revoked again: revoked_at %v, want the first %v", again.RevokedAt, revokedAt)
	}
	e.wantChanges(t, keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Updated, Action: "revoked", ID: c.ID})
	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: c.ID}, keygate.Page{})
	check(t, err)
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	if want := []string{"oauth_client.created", "oauth_client.revoked", "oauth_client.revoked"}; !slices.Equal(actions, want) {
		t.Errorf("audit = %v, want %v", actions, want)
	}
}

func testOAuthClientDelete(t *testing.T, s suite) {
	e := s.env(t)
	alice := e.consumer(t, "alice")
	c, other := e.oauthClient(t, alice, "ci"), e.oauthClient(t, alice, "other")
	check(t, e.store.DeleteOAuthClient(e.ctx, c.ClientID))
	e.wantChanges(t, keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Deleted, ID: c.ID})
	_, err := e.store.FindOAuthClient(e.ctx, c.ID)
	wantError(t, err, keygate.ENOTFOUND, "")
	_, err = e.store.FindOAuthClient(e.ctx, other.ID)
	check(t, err)
}

func testOAuthClientConsumerCascade(t *testing.T, s suite) {
	e := s.env(t)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	a1, a2, b := e.oauthClient(t, alice, "a1"), e.oauthClient(t, alice, "a2"), e.oauthClient(t, bob, "b")
	check(t, e.store.DeleteConsumer(e.ctx, alice.ID))
	e.wantChanges(t,
		keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Deleted, ID: alice.ID},
		keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Deleted, ID: a1.ID},
		keygate.Change{Kind: keygate.OAuthClientChanged, Op: keygate.Deleted, ID: a2.ID})
	for _, c := range []*keygate.OAuthClient{a1, a2} {
		_, err := e.store.FindOAuthClient(e.ctx, c.ClientID)
		wantError(t, err, keygate.ENOTFOUND, "")
	}
	_, err := e.store.FindOAuthClient(e.ctx, b.ClientID)
	check(t, err)
}
