package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// revokedJTIs lists the jtis ListRevokedAccessTokens returns at now, page
// after page of two.
func (e *env) revokedJTIs(tb testing.TB, now time.Time) []string {
	tb.Helper()
	var jtis []string
	p := keygate.Page{Limit: 2}
	for {
		tokens, next, err := e.store.ListRevokedAccessTokens(e.ctx, now, p)
		check(tb, err)
		for _, t := range tokens {
			jtis = append(jtis, t.JTI)
		}
		if next == "" {
			return jtis
		}
		p.After = next
	}
}

func testRevokedAccessTokens(t *testing.T, s suite) {
	e := s.env(t)
	now := e.now()
	revoke := func(jti string, lifetime time.Duration) *keygate.RevokedToken {
		t.Helper()
		tok := &keygate.RevokedToken{JTI: jti, ClientID: "kgc_ci", ExpiresAt: now.Add(lifetime)}
		check(t, e.store.RevokeAccessToken(e.ctx, tok))
		return tok
	}
	a := revoke("jti-a", time.Hour)
	if !a.RevokedAt.Equal(now) || a.ClientID != "kgc_ci" || !a.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("revoked token = %+v", a)
	}
	e.wantChanges(t, keygate.Change{Kind: keygate.AccessTokenChanged, Op: keygate.Updated, Action: "revoked", ID: "jti-a"})
	revoke("jti-c", 10*time.Minute)
	revoke("jti-b", 2*time.Hour)
	revoke("jti-d", time.Minute)
	e.changes.take()

	if got, want := e.revokedJTIs(t, now), []string{"jti-a", "jti-b", "jti-c", "jti-d"}; !slices.Equal(got, want) {
		t.Errorf("revoked now = %v, want %v", got, want)
	}
	// A token that expired is no longer listed (it is refused for its
	// expiry), even before it is purged.
	if got, want := e.revokedJTIs(t, now.Add(10*time.Minute)), []string{"jti-a", "jti-b"}; !slices.Equal(got, want) {
		t.Errorf("revoked in 10 minutes = %v, want %v", got, want)
	}

	t.Run("revoking again keeps the first record and reports the change", func(t *testing.T) {
		e.clock.Advance(time.Second)
		again := &keygate.RevokedToken{JTI: "jti-a", ClientID: "kgc_ci", ExpiresAt: now.Add(5 * time.Hour)}
		check(t, e.store.RevokeAccessToken(e.ctx, again))
		wantEqual(t, again, a)
		e.wantChanges(t, keygate.Change{Kind: keygate.AccessTokenChanged, Op: keygate.Updated, Action: "revoked", ID: "jti-a"})
	})

	t.Run("audited", func(t *testing.T) {
		events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{Action: "access_token.revoked"}, keygate.Page{})
		check(t, err)
		var got []string
		for _, ev := range events {
			got = append(got, ev.TargetID)
		}
		slices.Sort(got)
		if want := []string{"jti-a", "jti-a", "jti-b", "jti-c", "jti-d"}; !slices.Equal(got, want) {
			t.Errorf("audited %v, want %v", got, want)
		}
	})

	t.Run("in the change log", func(t *testing.T) {
		n := 0
		for _, c := range e.logged(t) {
			if c.Kind == keygate.AccessTokenChanged {
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d access_token changes logged, want 5", n)
		}
	})

	t.Run("purge deletes the expired ones only", func(t *testing.T) {
		n, err := e.store.PurgeRevokedAccessTokens(e.ctx, now.Add(10*time.Minute).Add(time.Microsecond))
		check(t, err)
		if n != 2 {
			t.Errorf("purged %d, want 2", n)
		}
		e.wantChanges(t)
		if got, want := e.revokedJTIs(t, now.Add(-time.Hour)), []string{"jti-a", "jti-b"}; !slices.Equal(got, want) {
			t.Errorf("left %v, want %v", got, want)
		}
		if n, err := e.store.PurgeRevokedAccessTokens(e.ctx, now.Add(10*time.Minute)); err != nil || n != 0 {
			t.Errorf("purging again = %d, %v; want 0", n, err)
		}
	})
}

func testRevokedAccessTokenErrors(t *testing.T, s suite) {
	e := s.env(t)
	exp := e.now().Add(time.Hour)
	tests := []struct {
		name  string
		tok   *keygate.RevokedToken
		field string
	}{
		{"nil", nil, "jti"},
		{"no jti", &keygate.RevokedToken{ClientID: "c", ExpiresAt: exp}, "jti"},
		{"jti too long", &keygate.RevokedToken{JTI: strings.Repeat("j", keygate.MaxJTILen+1), ClientID: "c", ExpiresAt: exp}, "jti"},
		{"no client_id", &keygate.RevokedToken{JTI: "j", ExpiresAt: exp}, "client_id"},
		{"no expiry", &keygate.RevokedToken{JTI: "j", ClientID: "c"}, "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.store.RevokeAccessToken(e.ctx, tt.tok), keygate.EINVALID, tt.field)
		})
	}
	e.wantChanges(t)
	if got := e.revokedJTIs(t, e.now()); len(got) != 0 {
		t.Errorf("stored %v", got)
	}
}
