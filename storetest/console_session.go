package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testConsoleSessions checks that a console session is found by its token
// hash until it expires or is deleted, that expired ones are cleared when
// another is created, and that sessions emit no change.
func testConsoleSessions(t *testing.T, s suite) {
	e := s.env(t)
	hash := func(token string) []byte { h := sha256.Sum256([]byte(token)); return h[:] }
	create := func(token, user string, ttl time.Duration) *keygate.ConsoleSession {
		t.Helper()
		cs := &keygate.ConsoleSession{TokenHash: hash(token), User: user, Role: keygate.RoleAuditor, Method: "oidc",
			ExpiresAt: e.now().Add(ttl)}
		check(t, e.store.CreateConsoleSession(e.ctx, cs))
		if !cs.CreatedAt.Equal(e.now()) {
			t.Fatalf("CreatedAt = %v, want %v", cs.CreatedAt, e.now())
		}
		return cs
	}
	a := create("a", "ada@example.com", time.Hour)
	got, err := e.store.FindConsoleSession(e.ctx, hash("a"))
	check(t, err)
	if !bytes.Equal(got.TokenHash, a.TokenHash) || got.User != a.User || got.Role != a.Role || got.Method != a.Method ||
		!got.CreatedAt.Equal(a.CreatedAt) || !got.ExpiresAt.Equal(a.ExpiresAt) {
		t.Fatalf("FindConsoleSession = %+v, want %+v", got, a)
	}
	_, err = e.store.FindConsoleSession(e.ctx, hash("unknown"))
	wantError(t, err, keygate.ENOTFOUND, "")

	err = e.store.CreateConsoleSession(e.ctx, &keygate.ConsoleSession{TokenHash: hash("a"), User: "x", Role: keygate.RoleAdmin, Method: "local", ExpiresAt: e.now().Add(time.Hour)})
	wantError(t, err, keygate.ECONFLICT, "token_hash")

	// Expiry is exact: found a microsecond before, not at it.
	e.clock.Advance(time.Hour - time.Microsecond)
	_, err = e.store.FindConsoleSession(e.ctx, hash("a"))
	check(t, err)
	e.clock.Advance(time.Microsecond)
	_, err = e.store.FindConsoleSession(e.ctx, hash("a"))
	wantError(t, err, keygate.ENOTFOUND, "")

	// Creating a session clears the expired ones: the expired token can be
	// used again (it never would be: tokens are random).
	create("a", "grace@example.com", time.Minute)
	create("b", "ada@example.com", time.Minute)
	check(t, e.store.DeleteConsoleSession(e.ctx, hash("b")))
	_, err = e.store.FindConsoleSession(e.ctx, hash("b"))
	wantError(t, err, keygate.ENOTFOUND, "")
	check(t, e.store.DeleteConsoleSession(e.ctx, hash("b"))) // signing out twice
	if got, err := e.store.FindConsoleSession(e.ctx, hash("a")); err != nil || got.User != "grace@example.com" {
		t.Fatalf("other session after a delete: %+v, %v", got, err)
	}
	e.wantChanges(t)

	for _, tt := range []struct {
		name  string
		cs    keygate.ConsoleSession
		field string
	}{
		{"no hash", keygate.ConsoleSession{User: "u", Role: "admin", Method: "local", ExpiresAt: e.now()}, "token_hash"},
		{"no user", keygate.ConsoleSession{TokenHash: hash("c"), Role: "admin", Method: "local", ExpiresAt: e.now()}, "user"},
		{"no role", keygate.ConsoleSession{TokenHash: hash("c"), User: "u", Method: "local", ExpiresAt: e.now()}, "role"},
		{"no method", keygate.ConsoleSession{TokenHash: hash("c"), User: "u", Role: "admin", ExpiresAt: e.now()}, "method"},
		{"no expiry", keygate.ConsoleSession{TokenHash: hash("c"), User: "u", Role: "admin", Method: "local"}, "expires_at"},
	} {
		err := e.store.CreateConsoleSession(e.ctx, &tt.cs)
		wantError(t, err, keygate.EINVALID, tt.field)
	}
}
