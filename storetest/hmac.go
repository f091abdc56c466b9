package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// sealHMAC returns a seal function, as the admin API passes one, that seals
// for the id it is given with a data key wrapped by keyring version
// version, and records the ids it was called with.
func sealHMAC(version int, calls *[]string) func(id string) (*keygate.Sealed, error) {
	return func(id string) (*keygate.Sealed, error) {
		if calls != nil {
			*calls = append(*calls, id)
		}
		return sealedHMAC(id, version), nil
	}
}

// sealedHMAC is the sealed secret sealHMAC makes for id: binary bytes, a
// NUL and high bytes among them.
func sealedHMAC(id string, version int) *keygate.Sealed {
	return &keygate.Sealed{
		Kind:       keygate.SealedHMACSecret,
		ID:         id,
		DataKey:    keygate.DataKey{Version: version, Wrapped: wrappedBytes(keygate.SealedHMACSecret, id, version)},
		Ciphertext: fmt.Appendf(nil, "hmac-ciphertext-%s\x00\xff\x80", id),
	}
}

func newHMACCredential(consumer keygate.Ref, username string) *keygate.HMACCredential {
	return &keygate.HMACCredential{Consumer: consumer, Username: username, Tags: []string{"ci", "eu"}}
}

// hmacCredential stores a credential of consumer whose data key keyring
// version 1 wraps (the caller adds the version).
func (e *env) hmacCredential(tb testing.TB, consumer *keygate.Consumer, username string) *keygate.HMACCredential {
	tb.Helper()
	c := newHMACCredential(keygate.Ref{ID: consumer.ID}, username)
	check(tb, e.store.CreateHMACCredential(e.ctx, c, sealHMAC(1, nil)))
	e.changes.take()
	return c
}

func (e *env) hmacCredentials(f keygate.HMACCredentialFilter) func(keygate.Page) ([]*keygate.HMACCredential, string, error) {
	return func(p keygate.Page) ([]*keygate.HMACCredential, string, error) {
		return e.store.ListHMACCredentials(e.ctx, f, p)
	}
}

func hmacID(c *keygate.HMACCredential) string { return c.ID }

// wantNoHMACCredential checks that the credential is gone for every read.
func (e *env) wantNoHMACCredential(tb testing.TB, c *keygate.HMACCredential) {
	tb.Helper()
	_, err := e.store.FindHMACCredential(e.ctx, c.ID)
	wantError(tb, err, keygate.ENOTFOUND, "")
	_, _, err = e.store.LookupHMACCredential(e.ctx, c.Username)
	wantError(tb, err, keygate.ENOTFOUND, "")
}

func testHMACCredentials(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice := e.consumer(t, "alice")
	tests := []struct {
		name     string
		consumer keygate.Ref
		edit     func(*keygate.HMACCredential)
	}{
		{"consumer by id", keygate.Ref{ID: alice.ID}, func(*keygate.HMACCredential) {}},
		{"consumer by username", keygate.Ref{Name: "alice"}, func(*keygate.HMACCredential) {}},
		{"no tags", keygate.Ref{ID: alice.ID}, func(c *keygate.HMACCredential) { c.Tags = nil }},
		{"the store's fields given are ignored", keygate.Ref{ID: alice.ID}, func(c *keygate.HMACCredential) {
			revoked := start.Add(-time.Hour)
			c.ID, c.Status, c.RevokedAt, c.CreatedAt = missingID, keygate.KeyRevoked, &revoked, revoked
			c.Secret = sealedHMAC(missingID, 1)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(time.Minute)
			c := newHMACCredential(tt.consumer, fmt.Sprintf("signer-%d", i))
			tt.edit(c)
			var calls []string
			check(t, e.store.CreateHMACCredential(e.ctx, c, sealHMAC(1, &calls)))
			e.wantChanges(t, keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Created, ID: c.ID, Username: c.Username})

			if !slices.Equal(calls, []string{c.ID}) {
				t.Errorf("seal called with %v, want once with the new id %s", calls, c.ID)
			}
			if !keygate.LooksLikeID(c.ID) || c.ID == missingID {
				t.Errorf("created credential has id %q", c.ID)
			}
			want := &keygate.HMACCredential{ID: c.ID, Consumer: keygate.Ref{ID: alice.ID}, Username: fmt.Sprintf("signer-%d", i),
				Status: keygate.KeyActive, Tags: []string{"ci", "eu"}, CreatedAt: e.now()}
			if c.Tags != nil && len(c.Tags) == 0 {
				want.Tags = []string{}
			}
			wantEqual(t, c, want)

			found, err := e.store.FindHMACCredential(e.ctx, c.ID)
			check(t, err)
			wantEqual(t, found, want)

			looked, consumer, err := e.store.LookupHMACCredential(e.ctx, c.Username)
			check(t, err)
			withSecret := *want
			withSecret.Secret = sealedHMAC(c.ID, 1)
			wantEqual(t, looked, &withSecret)
			wantEqual(t, consumer, alice)
		})
	}

	t.Run("usernames are case-sensitive", func(t *testing.T) {
		_, _, err := e.store.LookupHMACCredential(e.ctx, "SIGNER-0")
		wantError(t, err, keygate.ENOTFOUND, "")
	})
	t.Run("a list has no secrets", func(t *testing.T) {
		creds, _, err := e.store.ListHMACCredentials(e.ctx, keygate.HMACCredentialFilter{}, keygate.Page{})
		check(t, err)
		if len(creds) != len(tests) {
			t.Fatalf("%d credentials listed, want %d", len(creds), len(tests))
		}
		for _, c := range creds {
			if c.Secret != nil {
				t.Errorf("%s listed with its secret", c.Username)
			}
			if c.Tags == nil {
				t.Errorf("%s listed with tags nil, want []", c.Username)
			}
		}
	})
	t.Run("ciphertexts of every byte value round-trip", func(t *testing.T) {
		secret := make([]byte, 256)
		for i := range secret {
			secret[i] = byte(255 - i)
		}
		c := newHMACCredential(keygate.Ref{ID: alice.ID}, "every-byte")
		check(t, e.store.CreateHMACCredential(e.ctx, c, func(id string) (*keygate.Sealed, error) {
			s := sealedHMAC(id, 1)
			s.Ciphertext, s.Wrapped = slices.Clone(secret), slices.Clone(secret[:64])
			return s, nil
		}))
		looked, _, err := e.store.LookupHMACCredential(e.ctx, "every-byte")
		check(t, err)
		if !slices.Equal(looked.Secret.Ciphertext, secret) || !slices.Equal(looked.Secret.Wrapped, secret[:64]) {
			t.Errorf("sealed secret %+v, want the bytes stored", looked.Secret)
		}
	})
}

func testHMACCredentialErrors(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 2)
	alice := e.consumer(t, "alice")
	taken := e.hmacCredential(t, alice, "taken")
	errSeal := errors.New("the root key is out of reach")
	sealWith := func(edit func(id string, s *keygate.Sealed) *keygate.Sealed) func(string) (*keygate.Sealed, error) {
		return func(id string) (*keygate.Sealed, error) { return edit(id, sealedHMAC(id, 1)), nil }
	}
	tests := []struct {
		name     string
		consumer keygate.Ref
		username string
		seal     func(string) (*keygate.Sealed, error)
		code     string
		field    string
	}{
		{"unknown consumer id", keygate.Ref{ID: missingID}, "fresh", sealHMAC(1, nil), keygate.ENOTFOUND, "consumer"},
		{"unknown consumer username", keygate.Ref{Name: "nobody"}, "fresh", sealHMAC(1, nil), keygate.ENOTFOUND, "consumer"},
		{"no consumer", keygate.Ref{}, "fresh", sealHMAC(1, nil), keygate.ENOTFOUND, "consumer"},
		{"taken username", keygate.Ref{ID: alice.ID}, "taken", sealHMAC(1, nil), keygate.ECONFLICT, "username"},
		{"no username", keygate.Ref{ID: alice.ID}, "", sealHMAC(1, nil), keygate.EINVALID, "username"},
		{"sealing fails", keygate.Ref{ID: alice.ID}, "fresh",
			func(string) (*keygate.Sealed, error) { return nil, errSeal }, keygate.EINTERNAL, ""},
		{"sealing is unavailable", keygate.Ref{ID: alice.ID}, "fresh",
			func(string) (*keygate.Sealed, error) { return nil, keygate.Unavailable(errSeal, "kms unavailable") }, keygate.EUNAVAILABLE, ""},
		{"seal returns nothing", keygate.Ref{ID: alice.ID}, "fresh",
			func(string) (*keygate.Sealed, error) { return nil, nil }, keygate.EINTERNAL, ""},
		{"sealed for another kind", keygate.Ref{ID: alice.ID}, "fresh",
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { s.Kind = "pepper"; return s }), keygate.EINTERNAL, ""},
		{"sealed for another id", keygate.Ref{ID: alice.ID}, "fresh",
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { s.ID = missingID; return s }), keygate.EINTERNAL, ""},
		{"sealed for another credential", keygate.Ref{ID: alice.ID}, "fresh",
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { return sealedHMAC(taken.ID, 1) }), keygate.EINTERNAL, ""},
		{"a data key version not in the keyring", keygate.Ref{ID: alice.ID}, "fresh",
			sealWith(func(id string, s *keygate.Sealed) *keygate.Sealed { return sealedHMAC(id, 3) }), keygate.ECONFLICT, "version"},
		{"no data key version", keygate.Ref{ID: alice.ID}, "fresh",
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { s.Version = 0; return s }), keygate.EINVALID, "version"},
		{"no wrapped data key", keygate.Ref{ID: alice.ID}, "fresh",
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { s.Wrapped = nil; return s }), keygate.EINVALID, "wrapped"},
		{"no ciphertext", keygate.Ref{ID: alice.ID}, "fresh",
			sealWith(func(_ string, s *keygate.Sealed) *keygate.Sealed { s.Ciphertext = nil; return s }), keygate.EINVALID, "ciphertext"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" stores nothing", func(t *testing.T) {
			c := newHMACCredential(tt.consumer, tt.username)
			before := *c
			err := e.store.CreateHMACCredential(e.ctx, c, tt.seal)
			wantError(t, err, tt.code, tt.field)
			if tt.code == keygate.EINTERNAL && errors.Is(err, errSeal) != (tt.name == "sealing fails") {
				t.Errorf("error = %v: the seal function's error must be kept (errors.Is) and only then", err)
			}
			wantEqual(t, c, &before)
			e.wantChanges(t)
			if ids := walk(t, e.hmacCredentials(keygate.HMACCredentialFilter{}), 100, hmacID); !slices.Equal(ids, []string{taken.ID}) {
				t.Errorf("credentials stored %v, want only %s", ids, taken.ID)
			}
			e.wantCounts(t, map[int]int{1: 1})
			_, _, err = e.store.LookupHMACCredential(e.ctx, "fresh")
			wantError(t, err, keygate.ENOTFOUND, "")
		})
	}
	looked, _, err := e.store.LookupHMACCredential(e.ctx, "taken")
	check(t, err)
	wantEqual(t, looked.Secret, sealedHMAC(taken.ID, 1))

	t.Run("a missing credential is NOT_FOUND", func(t *testing.T) {
		for _, id := range []string{missingID, "not-an-id", ""} {
			_, err := e.store.FindHMACCredential(e.ctx, id)
			wantError(t, err, keygate.ENOTFOUND, "")
			_, err = e.store.RevokeHMACCredential(e.ctx, id)
			wantError(t, err, keygate.ENOTFOUND, "")
			wantError(t, e.store.DeleteHMACCredential(e.ctx, id), keygate.ENOTFOUND, "")
		}
		for _, username := range []string{"nobody", "", taken.ID} {
			_, _, err := e.store.LookupHMACCredential(e.ctx, username)
			wantError(t, err, keygate.ENOTFOUND, "")
		}
		e.wantChanges(t)
	})

	t.Run("usernames are unique across consumers", func(t *testing.T) {
		bob := e.consumer(t, "bob")
		wantError(t, e.store.CreateHMACCredential(e.ctx, newHMACCredential(keygate.Ref{ID: bob.ID}, "taken"), sealHMAC(1, nil)),
			keygate.ECONFLICT, "username")
		// A consumer's username is no HMAC username.
		c := e.hmacCredential(t, bob, "alice")
		if c.Consumer.ID != bob.ID {
			t.Errorf("consumer %+v, want bob", c.Consumer)
		}
	})
}

func testHMACCredentialRevoke(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	c := e.hmacCredential(t, e.consumer(t, "alice"), "signer")
	first := e.clock.Advance(time.Hour).UTC().Truncate(time.Microsecond)

	revoked, err := e.store.RevokeHMACCredential(e.ctx, c.ID)
	check(t, err)
	want := *c
	want.Status, want.RevokedAt = keygate.KeyRevoked, &first
	wantEqual(t, revoked, &want)
	change := keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, Action: "revoked", ID: c.ID, Username: "signer"}
	e.wantChanges(t, change)

	// Revoking again changes nothing stored, but is still reported, so a
	// repeated revoke always reaches every cache.
	e.clock.Advance(time.Hour)
	again, err := e.store.RevokeHMACCredential(e.ctx, c.ID)
	check(t, err)
	wantEqual(t, again, &want)
	e.wantChanges(t, change)

	found, err := e.store.FindHMACCredential(e.ctx, c.ID)
	check(t, err)
	wantEqual(t, found, &want)
	// The gateway still finds a revoked credential, to say why it is refused.
	looked, _, err := e.store.LookupHMACCredential(e.ctx, "signer")
	check(t, err)
	want.Secret = sealedHMAC(c.ID, 1)
	wantEqual(t, looked, &want)
}

func testHMACCredentialDelete(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice := e.consumer(t, "alice")
	doomed, kept := e.hmacCredential(t, alice, "doomed"), e.hmacCredential(t, alice, "kept")
	e.wantCounts(t, map[int]int{1: 2})

	check(t, e.store.DeleteHMACCredential(e.ctx, doomed.ID))
	e.wantChanges(t, keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, ID: doomed.ID, Username: "doomed"})
	e.wantNoHMACCredential(t, doomed)
	// Its data key went with it: the ciphertext, wherever a copy of it is
	// (a backup), can never be opened again.
	e.wantCounts(t, map[int]int{1: 1})
	sealed, err := e.store.SealedBefore(e.ctx, 2, 10)
	check(t, err)
	if len(sealed) != 1 || sealed[0].ID != kept.ID {
		t.Errorf("SealedBefore lists %+v, want only the kept credential's data key", sealed)
	}
	if _, _, err := e.store.LookupHMACCredential(e.ctx, "kept"); err != nil {
		t.Errorf("the other credential: %v", err)
	}
	if _, err := e.store.FindConsumer(e.ctx, alice.ID); err != nil {
		t.Errorf("the credential's consumer: %v", err)
	}
	wantError(t, e.store.DeleteHMACCredential(e.ctx, doomed.ID), keygate.ENOTFOUND, "")
	e.wantChanges(t)

	t.Run("the username can be used again, with a new id and secret", func(t *testing.T) {
		again := e.hmacCredential(t, alice, "doomed")
		if again.ID == doomed.ID {
			t.Error("the new credential has the deleted one's id")
		}
		looked, _, err := e.store.LookupHMACCredential(e.ctx, "doomed")
		check(t, err)
		wantEqual(t, looked.Secret, sealedHMAC(again.ID, 1))
	})
}

func testHMACCredentialList(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	var all, ofAlice, weak, strong, weakOfAlice []string
	for i := range 7 {
		c := alice
		if i%3 == 1 {
			c = bob
		}
		// Usernames in the reverse of creation order: the list is not by username.
		cred := newHMACCredential(keygate.Ref{ID: c.ID}, fmt.Sprintf("signer-%02d", 10-i))
		cred.Weak = i%2 == 0
		check(t, e.store.CreateHMACCredential(e.ctx, cred, sealHMAC(1, nil)))
		all = append(all, cred.ID)
		if c == alice {
			ofAlice = append(ofAlice, cred.ID)
		}
		if cred.Weak {
			weak = append(weak, cred.ID)
			if c == alice {
				weakOfAlice = append(weakOfAlice, cred.ID)
			}
		} else {
			strong = append(strong, cred.ID)
		}
	}
	yes, no := true, false
	tests := []struct {
		name   string
		filter keygate.HMACCredentialFilter
		want   []string
	}{
		{"all", keygate.HMACCredentialFilter{}, all},
		{"one consumer's", keygate.HMACCredentialFilter{ConsumerID: alice.ID}, ofAlice},
		{"unknown consumer's", keygate.HMACCredentialFilter{ConsumerID: missingID}, nil},
		{"weak", keygate.HMACCredentialFilter{Weak: &yes}, weak},
		{"not weak", keygate.HMACCredentialFilter{Weak: &no}, strong},
		{"one consumer's weak", keygate.HMACCredentialFilter{ConsumerID: alice.ID, Weak: &yes}, weakOfAlice},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 3, 100} {
			t.Run(fmt.Sprintf("%s/limit %d", tt.name, limit), func(t *testing.T) {
				if got := walk(t, e.hmacCredentials(tt.filter), limit, hmacID); !slices.Equal(got, tt.want) {
					t.Errorf("ids\n got %v\nwant %v", got, tt.want)
				}
			})
		}
	}
}

// testHMACCredentialWeak: a credential created weak (an imported short
// secret) is weak for every read, the gateway's lookup, the lifecycle jobs
// and after a revoke; one created otherwise is not.
func testHMACCredentialWeak(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	ctx := keygate.WithActor(e.ctx, "system:lifecycle")
	alice := e.consumer(t, "alice")
	for _, weak := range []bool{true, false} {
		t.Run(fmt.Sprintf("weak %v", weak), func(t *testing.T) {
			at := e.now().Add(time.Hour)
			c := newHMACCredential(keygate.Ref{ID: alice.ID}, fmt.Sprintf("imported-%v", weak))
			c.Weak, c.ExpiresAt = weak, &at
			check(t, e.store.CreateHMACCredential(e.ctx, c, sealHMAC(1, nil)))
			e.changes.take()
			if c.Weak != weak {
				t.Errorf("created: weak %v, want %v", c.Weak, weak)
			}
			found, err := e.store.FindHMACCredential(e.ctx, c.ID)
			check(t, err)
			looked, _, err := e.store.LookupHMACCredential(e.ctx, c.Username)
			check(t, err)
			listed, _, err := e.store.ListHMACCredentials(e.ctx, keygate.HMACCredentialFilter{ConsumerID: alice.ID}, keygate.Page{Limit: 100})
			check(t, err)
			noticed, err := e.store.NoticeExpiringHMACCredentials(ctx, at, 100)
			check(t, err)
			revoked, err := e.store.RevokeHMACCredential(e.ctx, c.ID)
			check(t, err)
			e.clock.Advance(time.Minute)
			archived, err := e.store.ArchiveHMACCredentials(ctx, e.now(), 100)
			check(t, err)
			e.changes.take()
			reads := map[string]*keygate.HMACCredential{"find": found, "lookup": looked, "revoke": revoked}
			for name, got := range map[string][]*keygate.HMACCredential{"list": listed, "notice": noticed, "archive": archived} {
				for _, cred := range got {
					if cred.ID == c.ID {
						reads[name] = cred
					}
				}
			}
			for _, name := range []string{"find", "lookup", "list", "notice", "revoke", "archive"} {
				if got := reads[name]; got == nil || got.Weak != weak {
					t.Errorf("%s: %+v, want weak %v", name, got, weak)
				}
			}
		})
	}
}

func testHMACCredentialConsumerCascade(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	doomed, kept := e.consumer(t, "doomed"), e.consumer(t, "kept")
	key := e.key(t, doomed, "doomedkey1")
	c1, c2 := e.hmacCredential(t, doomed, "doomed-1"), e.hmacCredential(t, doomed, "doomed-2")
	other := e.hmacCredential(t, kept, "kept-1")
	e.wantCounts(t, map[int]int{1: 3})

	check(t, e.store.DeleteConsumer(e.ctx, "doomed"))
	e.wantChanges(t,
		keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Deleted, ID: doomed.ID},
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: key.ID, KeyIdentifier: key.Identifier},
		keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, ID: c1.ID, Username: "doomed-1"},
		keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, ID: c2.ID, Username: "doomed-2"})
	for _, c := range []*keygate.HMACCredential{c1, c2} {
		e.wantNoHMACCredential(t, c)
	}
	// Their data keys went too (crypto-shredding).
	e.wantCounts(t, map[int]int{1: 1})
	if _, _, err := e.store.LookupHMACCredential(e.ctx, other.Username); err != nil {
		t.Errorf("another consumer's credential: %v", err)
	}
	if ids := walk(t, e.hmacCredentials(keygate.HMACCredentialFilter{ConsumerID: doomed.ID}), 10, hmacID); len(ids) != 0 {
		t.Errorf("the deleted consumer still lists %v", ids)
	}
}

// testHMACCredentialRewrap checks that a credential's data key is one the
// keyring's rewrap moves like any other, and that it is shredded with the
// credential.
func testHMACCredentialRewrap(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 2)
	c := e.hmacCredential(t, e.consumer(t, "alice"), "signer")
	pepper := e.putSecret(t, "pepper", "default", 2)

	sealed, err := e.store.SealedBefore(e.ctx, 2, 10)
	check(t, err)
	want := sealedHMAC(c.ID, 1)
	want.Ciphertext = nil
	if len(sealed) != 1 {
		t.Fatalf("SealedBefore lists %+v, want the credential's data key", sealed)
	}
	wantEqual(t, sealed[0], want)
	wantError(t, e.store.DeleteKeyringVersion(e.ctx, 1), keygate.ECONFLICT, "version")

	rewrapped := keygate.DataKey{Version: 2, Wrapped: wrappedBytes(keygate.SealedHMACSecret, c.ID, 2)}
	n, err := e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{{Kind: sealed[0].Kind, ID: sealed[0].ID,
		FromVersion: sealed[0].Version, FromWrapped: sealed[0].Wrapped, To: rewrapped}})
	check(t, err)
	if n != 1 {
		t.Fatalf("RewrapDataKeys applied %d, want 1", n)
	}
	looked, _, err := e.store.LookupHMACCredential(e.ctx, "signer")
	check(t, err)
	moved := sealedHMAC(c.ID, 1) // the same ciphertext, its data key moved
	moved.DataKey = rewrapped
	wantEqual(t, looked.Secret, moved)
	e.wantCounts(t, map[int]int{2: 2})
	check(t, e.store.DeleteKeyringVersion(e.ctx, 1))

	check(t, e.store.DeleteHMACCredential(e.ctx, c.ID))
	e.wantCounts(t, map[int]int{2: 1})
	n, err = e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{{Kind: keygate.SealedHMACSecret, ID: c.ID, FromVersion: 2,
		To: keygate.DataKey{Version: 3, Wrapped: []byte("resurrected")}}})
	if keygate.ErrorCode(err) != keygate.ECONFLICT { // version 3 is not in the keyring
		t.Errorf("RewrapDataKeys to an absent version: %v, want CONFLICT", err)
	}
	check(t, e.store.AddKeyringVersion(e.ctx, &keygate.KeyringVersion{Version: 3, Sealed: sealedBytes(3)}))
	n, err = e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{{Kind: keygate.SealedHMACSecret, ID: c.ID, FromVersion: 2,
		To: keygate.DataKey{Version: 3, Wrapped: []byte("resurrected")}}})
	check(t, err)
	if n != 0 {
		t.Errorf("a rewrap of a shredded data key applied")
	}
	e.wantCounts(t, map[int]int{2: 1})
	// A plain secret's data key is untouched by all this.
	e.wantSecret(t, pepper)
	// Nor does DestroySecret reach a credential's data key: the credential
	// keeps its own ciphertext.
	c2 := newHMACCredential(keygate.Ref{Name: "alice"}, "signer-2")
	check(t, e.store.CreateHMACCredential(e.ctx, c2, sealHMAC(3, nil)))
	wantError(t, e.store.DestroySecret(e.ctx, keygate.SealedHMACSecret, c2.ID), keygate.ENOTFOUND, "")
	if _, _, err := e.store.LookupHMACCredential(e.ctx, "signer-2"); err != nil {
		t.Errorf("after DestroySecret of its kind and id: %v", err)
	}
}

// testRouteHMACAuth checks that hmac_auth round-trips as key_auth does, and
// that a PATCH can remove it.
func testRouteHMACAuth(t *testing.T, s suite) {
	e := s.env(t)
	svc := e.service(t, "billing")
	custom := &keygate.HMACAuthConfig{ClockSkew: 30, EnforceHeaders: []string{"date", "@request-target", "digest"},
		Algorithms: []string{keygate.HMACSHA256, keygate.HMACSHA512}, ValidateRequestBody: true, HideCredentials: true,
		Anonymous: "guest", Realm: "billing", ReplayProtection: false, MaxBodySize: 4096}
	tests := []struct {
		name     string
		hmacAuth *keygate.HMACAuthConfig
		keyAuth  *keygate.KeyAuthConfig
	}{
		{"defaults", keygate.NewHMACAuthConfig(), nil},
		{"every setting", custom, nil},
		{"with key auth", keygate.NewHMACAuthConfig(), keygate.NewKeyAuthConfig()},
		{"none", nil, keygate.NewKeyAuthConfig()},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRoute(fmt.Sprintf("route-%d", i), keygate.Ref{ID: svc.ID})
			r.HMACAuth, r.KeyAuth = tt.hmacAuth, tt.keyAuth
			check(t, e.store.CreateRoute(e.ctx, r))
			got, err := e.store.FindRoute(e.ctx, r.ID)
			check(t, err)
			wantEqual(t, got, r)
			if (got.HMACAuth == nil) != (tt.hmacAuth == nil) {
				t.Errorf("hmac_auth = %+v, want %+v", got.HMACAuth, tt.hmacAuth)
			}
		})
	}

	t.Run("nil lists are stored as []", func(t *testing.T) {
		r := newRoute("bare-hmac", keygate.Ref{ID: svc.ID})
		r.HMACAuth = &keygate.HMACAuthConfig{ClockSkew: 10, Algorithms: []string{keygate.HMACSHA256}, MaxBodySize: 1}
		check(t, e.store.CreateRoute(e.ctx, r))
		got, err := e.store.FindRoute(e.ctx, r.ID)
		check(t, err)
		for name, hmac := range map[string]*keygate.HMACAuthConfig{"created": r.HMACAuth, "found": got.HMACAuth} {
			if hmac.EnforceHeaders == nil {
				t.Errorf("%s: enforce_headers nil, want []", name)
			}
		}
	})

	t.Run("PATCH sets and then removes hmac_auth", func(t *testing.T) {
		r := e.route(t, "patched", svc)
		patch := func(doc string) *keygate.Route {
			t.Helper()
			e.clock.Advance(time.Minute)
			updated, err := e.store.UpdateRoute(e.ctx, r.ID, func(r *keygate.Route) error { return json.Unmarshal([]byte(doc), r) })
			check(t, err)
			e.wantChanges(t, keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Updated, ID: r.ID})
			got, err := e.store.FindRoute(e.ctx, r.ID)
			check(t, err)
			wantEqual(t, got, updated)
			return got
		}
		got := patch(`{"hmac_auth": {"clock_skew": 60, "enforce_headers": ["date"]}}`)
		want := keygate.NewHMACAuthConfig()
		want.ClockSkew, want.EnforceHeaders = 60, []string{"date"}
		wantEqual(t, got.HMACAuth, want)

		got = patch(`{"tags": ["still-signed"]}`)
		wantEqual(t, got.HMACAuth, want)

		got = patch(`{"hmac_auth": null}`)
		if got.HMACAuth != nil {
			t.Errorf("hmac_auth = %+v after a PATCH to null, want nil", got.HMACAuth)
		}
	})
}
