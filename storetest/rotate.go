package storetest

import (
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// successorOf is the key a rotation of k stores: what the caller builds.
func successorOf(k *keygate.APIKey, identifier string) *keygate.APIKey {
	s := newKey(k.Consumer.ID, identifier)
	s.Name, s.AllowedCIDRs = k.Name, k.AllowedCIDRs
	return s
}

func testKeyRotate(t *testing.T, s suite) {
	e := s.env(t)
	k := e.key(t, e.consumer(t, "alice"), "old-ident") // expires 90 days after start
	now := e.clock.Advance(time.Hour).UTC().Truncate(time.Microsecond)
	graceEnd := now.Add(24 * time.Hour)

	next := successorOf(k, "new-ident")
	old, err := e.store.RotateKey(e.ctx, k.ID, next, graceEnd)
	check(t, err)
	if next.ID == "" || next.RotatedFrom != k.ID || next.SuccessorID != "" || next.Status != keygate.KeyActive || !next.CreatedAt.Equal(now) {
		t.Fatalf("successor %+v", next)
	}
	want := *k
	want.ExpiresAt, want.SuccessorID, want.UpdatedAt = &graceEnd, next.ID, now
	wantEqual(t, old, &want)
	e.wantChanges(t,
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "rotated", ID: k.ID, KeyIdentifier: k.Identifier},
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, ID: next.ID, KeyIdentifier: next.Identifier})
	stored, err := e.store.FindKey(e.ctx, next.ID)
	check(t, err)
	wantEqual(t, stored, next)

	t.Run("a key in its grace period cannot start a second chain", func(t *testing.T) {
		_, err := e.store.RotateKey(e.ctx, k.ID, successorOf(k, "third-ident"), graceEnd)
		wantError(t, err, keygate.ECONFLICT, "")
		e.wantChanges(t)
	})
	t.Run("the successor can be rotated in turn", func(t *testing.T) {
		third := successorOf(next, "third-ident")
		_, err := e.store.RotateKey(e.ctx, next.ID, third, now.Add(time.Hour))
		check(t, err)
		e.changes.take()
	})
	t.Run("the grace period never lengthens a key's life", func(t *testing.T) {
		short := e.key(t, e.consumer(t, "bob"), "short-ident")
		old, err := e.store.RotateKey(e.ctx, short.ID, successorOf(short, "short-next"), now.Add(10*365*24*time.Hour))
		check(t, err)
		if !old.ExpiresAt.Equal(*short.ExpiresAt) {
			t.Errorf("expires_at %v, want the original %v", old.ExpiresAt, short.ExpiresAt)
		}
		e.changes.take()
	})
	t.Run("revoked, expired and missing keys are refused, and nothing is stored", func(t *testing.T) {
		carol := e.consumer(t, "carol")
		revoked := e.key(t, carol, "revoked-ident")
		_, err := e.store.RevokeKey(e.ctx, revoked.ID)
		check(t, err)
		expired := e.key(t, carol, "expired-ident")
		e.changes.take()
		e.clock.Advance(100 * 24 * time.Hour) // past every key's 90 days
		for name, id := range map[string]string{"revoked": revoked.ID, "expired": expired.ID} {
			_, err := e.store.RotateKey(e.ctx, id, successorOf(revoked, "never-"+name), graceEnd)
			wantError(t, err, keygate.ECONFLICT, "")
		}
		_, err = e.store.RotateKey(e.ctx, missingID, successorOf(revoked, "never-missing"), graceEnd)
		wantError(t, err, keygate.ENOTFOUND, "")
		e.wantChanges(t)
		for _, ident := range []string{"never-revoked", "never-expired", "never-missing"} {
			_, _, err := e.store.LookupKey(e.ctx, ident)
			wantError(t, err, keygate.ENOTFOUND, "")
		}
	})
	t.Run("a successor whose identifier is taken leaves the old key as it was", func(t *testing.T) {
		k := newKey(e.consumer(t, "dave").ID, "dave-ident")
		k.ExpiresAt = nil // never expires, so only the identifier can be the conflict
		check(t, e.store.CreateKey(e.ctx, k))
		e.changes.take()
		_, err := e.store.RotateKey(e.ctx, k.ID, successorOf(k, "dave-ident"), e.clock.Now().Add(time.Hour))
		wantError(t, err, keygate.ECONFLICT, "identifier")
		after, err := e.store.FindKey(e.ctx, k.ID)
		check(t, err)
		wantEqual(t, after, k)
		e.wantChanges(t)
	})
}
