package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func testKeys(t *testing.T, s suite) {
	e := s.env(t)
	c := e.consumer(t, "alice")
	expires := time.Date(2032, 1, 2, 3, 4, 5, 678_901_234, time.FixedZone("UTC-5", -5*60*60))
	tests := []struct {
		name string
		edit func(*keygate.APIKey)
	}{
		{"every field set", func(k *keygate.APIKey) {
			k.ExpiresAt = &expires
			k.AllowedServices, k.AllowedRoutes = []string{missingID}, []string{missingID, missingID}
		}},
		{"no expiry", func(k *keygate.APIKey) { k.ExpiresAt = nil }},
		{"a hash of every byte value", func(k *keygate.APIKey) {
			k.SecretHash = make([]byte, 256)
			for i := range k.SecretHash {
				k.SecretHash[i] = byte(255 - i)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(c.ID, fmt.Sprintf("ident%03d", i))
			tt.edit(k)
			in := *k
			in.SecretHash = slices.Clone(k.SecretHash)
			check(t, e.store.CreateKey(e.ctx, k))
			e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, ID: k.ID, KeyIdentifier: k.Identifier})

			if !keygate.LooksLikeID(k.ID) || k.Consumer != (keygate.Ref{ID: c.ID}) {
				t.Errorf("created key has id %q, consumer %+v", k.ID, k.Consumer)
			}
			if !k.CreatedAt.Equal(e.now()) || !k.UpdatedAt.Equal(e.now()) {
				t.Errorf("created_at %v, updated_at %v, want %v", k.CreatedAt, k.UpdatedAt, e.now())
			}
			if in.ExpiresAt != nil && !k.ExpiresAt.Equal(in.ExpiresAt.Truncate(time.Microsecond)) {
				t.Errorf("expires_at = %v, want %v to the microsecond", k.ExpiresAt, in.ExpiresAt)
			}
			found, err := e.store.FindKey(e.ctx, k.ID)
			check(t, err)
			wantEqual(t, found, k)
			if !slices.Equal(found.SecretHash, in.SecretHash) {
				t.Errorf("secret hash = %x, want %x", found.SecretHash, in.SecretHash)
			}

			looked, consumer, err := e.store.LookupKey(e.ctx, k.Identifier)
			check(t, err)
			wantEqual(t, looked, k)
			wantEqual(t, consumer, c)
		})
	}
}

func testKeyErrors(t *testing.T, s suite) {
	e := s.env(t)
	c := e.consumer(t, "alice")
	e.key(t, c, "taken")
	tests := []struct {
		name  string
		key   *keygate.APIKey
		code  string
		field string
	}{
		{"unknown consumer", newKey(missingID, "fresh"), keygate.ENOTFOUND, "consumer"},
		{"no consumer", newKey("", "fresh"), keygate.ENOTFOUND, "consumer"},
		{"taken identifier", newKey(c.ID, "taken"), keygate.ECONFLICT, "identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.store.CreateKey(e.ctx, tt.key), tt.code, tt.field)
			e.wantChanges(t)
		})
	}
	if ids := walk(t, e.keys(keygate.KeyFilter{}), 100, keyID); len(ids) != 1 {
		t.Errorf("%d keys stored, want 1", len(ids))
	}

	t.Run("a missing key is NOT_FOUND", func(t *testing.T) {
		for _, id := range []string{missingID, "not-an-id"} {
			_, err := e.store.FindKey(e.ctx, id)
			wantError(t, err, keygate.ENOTFOUND, "")
			_, err = e.store.RevokeKey(e.ctx, id)
			wantError(t, err, keygate.ENOTFOUND, "")
			wantError(t, e.store.DeleteKey(e.ctx, id), keygate.ENOTFOUND, "")
		}
		_, _, err := e.store.LookupKey(e.ctx, "nosuchidentifier")
		wantError(t, err, keygate.ENOTFOUND, "")
		e.wantChanges(t)
	})
}

func testKeyRevoke(t *testing.T, s suite) {
	e := s.env(t)
	k := e.key(t, e.consumer(t, "alice"), "ident")
	first := e.clock.Advance(time.Hour).UTC().Truncate(time.Microsecond)

	revoked, err := e.store.RevokeKey(e.ctx, k.ID)
	check(t, err)
	want := *k
	want.Status, want.RevokedAt, want.UpdatedAt = keygate.KeyRevoked, &first, first
	wantEqual(t, revoked, &want)
	change := keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "revoked", ID: k.ID, KeyIdentifier: k.Identifier}
	e.wantChanges(t, change)

	// Revoking again changes nothing stored, but is still reported, so a
	// repeated revoke always reaches every cache.
	e.clock.Advance(time.Hour)
	again, err := e.store.RevokeKey(e.ctx, k.ID)
	check(t, err)
	wantEqual(t, again, &want)
	e.wantChanges(t, change)

	looked, _, err := e.store.LookupKey(e.ctx, k.Identifier)
	check(t, err)
	wantEqual(t, looked, &want)
	if looked.State(e.clock.Now()) != keygate.CodeRevoked {
		t.Errorf("state = %s, want %s", looked.State(e.clock.Now()), keygate.CodeRevoked)
	}
}

func testKeyDelete(t *testing.T, s suite) {
	e := s.env(t)
	c := e.consumer(t, "alice")
	k, kept := e.key(t, c, "doomed"), e.key(t, c, "kept")
	check(t, e.store.DeleteKey(e.ctx, k.ID))
	e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: k.ID, KeyIdentifier: k.Identifier})
	_, err := e.store.FindKey(e.ctx, k.ID)
	wantError(t, err, keygate.ENOTFOUND, "")
	_, _, err = e.store.LookupKey(e.ctx, k.Identifier)
	wantError(t, err, keygate.ENOTFOUND, "")
	if _, err := e.store.FindKey(e.ctx, kept.ID); err != nil {
		t.Errorf("the other key: %v", err)
	}
	if _, err := e.store.FindConsumer(e.ctx, c.ID); err != nil {
		t.Errorf("the key's consumer: %v", err)
	}
}

func testKeyList(t *testing.T, s suite) {
	e := s.env(t)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	var all, ofAlice []string
	for i := range 7 {
		c := alice
		if i%3 == 1 {
			c = bob
		}
		k := e.key(t, c, fmt.Sprintf("ident%02d", i))
		all = append(all, k.ID)
		if c == alice {
			ofAlice = append(ofAlice, k.ID)
		}
	}
	tests := []struct {
		name   string
		filter keygate.KeyFilter
		want   []string
	}{
		{"all", keygate.KeyFilter{}, all},
		{"one consumer's", keygate.KeyFilter{ConsumerID: alice.ID}, ofAlice},
		{"unknown consumer's", keygate.KeyFilter{ConsumerID: missingID}, nil},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 3, 100} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				if got := walk(t, e.keys(tt.filter), limit, keyID); !slices.Equal(got, tt.want) {
					t.Errorf("ids\n got %v\nwant %v", got, tt.want)
				}
			})
		}
	}
}

func testKeyIdentifiers(t *testing.T, s suite) {
	e := s.env(t)
	t.Run("an empty store has none", func(t *testing.T) {
		ids, err := e.store.ListKeyIdentifiers(e.ctx, "", 10)
		check(t, err)
		if len(ids) != 0 {
			t.Errorf("identifiers = %v, want none", ids)
		}
	})
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	var want []string
	for i, ident := range []string{"Zeta01", "alpha02", "Alpha03", "beta04", "0digit05", "gamma06", "delta07"} {
		c := alice
		if i%2 == 1 {
			c = bob
		}
		want = append(want, e.key(t, c, ident).Identifier)
	}
	// Every stored key is listed, whatever its status: a revoked key must
	// still be found (and refused as revoked), not taken for one never issued.
	_, err := e.store.RevokeKey(e.ctx, e.key(t, alice, "revoked08").ID)
	check(t, err)
	want = append(want, "revoked08")
	doomed := e.key(t, bob, "deleted09")
	check(t, e.store.DeleteKey(e.ctx, doomed.ID))
	slices.Sort(want)
	e.changes.take()

	for _, limit := range []int{-1, 0, 1, 2, 3, 100, keygate.MaxIdentifierPage + 1} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				ids, err := e.store.ListKeyIdentifiers(e.ctx, after, limit)
				check(t, err)
				if len(ids) > max(limit, 1) {
					t.Fatalf("page of %d identifiers, limit %d", len(ids), limit)
				}
				if len(ids) == 0 || pages > len(want) {
					break
				}
				got = append(got, ids...)
				after = ids[len(ids)-1]
			}
			slices.Sort(got) // the store's order is its collation's; a duplicate shows here
			if !slices.Equal(got, want) {
				t.Errorf("identifiers\n got %v\nwant %v", got, want)
			}
		})
	}
	e.wantChanges(t)
}

func (e *env) keys(f keygate.KeyFilter) func(keygate.Page) ([]*keygate.APIKey, string, error) {
	return func(p keygate.Page) ([]*keygate.APIKey, string, error) { return e.store.ListKeys(e.ctx, f, p) }
}

func keyID(k *keygate.APIKey) string { return k.ID }
