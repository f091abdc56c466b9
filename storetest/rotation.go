package storetest

import (
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// publicKey is a valid X25519 public key, as a consumer's public_key.
var publicKey = func() string {
	k, err := ecdh.X25519().NewPrivateKey([]byte("storetest consumer private key 1"))
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(k.PublicKey().Bytes())
}()

const day = 24 * 60 * 60 // seconds

func (e *env) consumerWithPolicy(tb testing.TB, username string, p *keygate.RotationPolicy) *keygate.Consumer {
	tb.Helper()
	c := newConsumer(username)
	c.RotationPolicy = p
	check(tb, e.store.CreateConsumer(e.ctx, c))
	e.changes.take()
	return c
}

func testConsumerRotationPolicy(t *testing.T, s suite) {
	e := s.env(t)
	c := newConsumer("alice")
	c.RotationPolicy = &keygate.RotationPolicy{Every: 30 * day, Overlap: 7 * day, Notice: 14 * day, Auto: true}
	c.PublicKey = publicKey
	check(t, e.store.CreateConsumer(e.ctx, c))
	found, err := e.store.FindConsumer(e.ctx, "alice")
	check(t, err)
	wantEqual(t, found, c)
	listed, _, err := e.store.ListConsumers(e.ctx, keygate.Page{Limit: 10})
	check(t, err)
	if len(listed) != 1 {
		t.Fatalf("listed %d consumers", len(listed))
	}
	wantEqual(t, listed[0], c)

	t.Run("the gateway's read carries them", func(t *testing.T) {
		k := e.key(t, c, "policy-key")
		_, got, err := e.store.LookupKey(e.ctx, k.Identifier)
		check(t, err)
		wantEqual(t, got, c)
	})

	t.Run("update changes and removes them", func(t *testing.T) {
		got, err := e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error {
			c.RotationPolicy.Overlap, c.RotationPolicy.Auto = day, false
			c.PublicKey = ""
			return nil
		})
		check(t, err)
		found, err := e.store.FindConsumer(e.ctx, c.ID)
		check(t, err)
		wantEqual(t, found, got)
		if p := found.RotationPolicy; p == nil || *p != (keygate.RotationPolicy{Every: 30 * day, Overlap: day, Notice: 14 * day}) || found.PublicKey != "" {
			t.Errorf("updated policy %+v, public key %q", p, found.PublicKey)
		}
		_, err = e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error { c.RotationPolicy = nil; return nil })
		check(t, err)
		found, err = e.store.FindConsumer(e.ctx, c.ID)
		check(t, err)
		if found.RotationPolicy != nil {
			t.Errorf("policy %+v after removal", found.RotationPolicy)
		}
	})

	t.Run("a policy out of bounds is never stored", func(t *testing.T) {
		// The jobs compute due times from it: every 0 would rotate at once, again and again.
		bad := newConsumer("bob")
		bad.RotationPolicy = &keygate.RotationPolicy{Every: 0}
		wantError(t, e.store.CreateConsumer(e.ctx, bad), keygate.EINVALID, "rotation_policy.every")
		_, err := e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error {
			c.RotationPolicy = &keygate.RotationPolicy{Every: day, Notice: day}
			return nil
		})
		wantError(t, err, keygate.EINVALID, "rotation_policy.notice")
		found, err := e.store.FindConsumer(e.ctx, c.ID)
		check(t, err)
		if found.RotationPolicy != nil {
			t.Errorf("a refused update stored %+v", found.RotationPolicy)
		}
	})
}

func dueIDs(due []*keygate.DueRotation) []string {
	out := make([]string, len(due))
	for i, d := range due {
		out[i] = d.Key.Identifier
	}
	slices.Sort(out)
	return out
}

func testRotationSchedule(t *testing.T, s suite) {
	e := s.env(t)
	d := 24 * time.Hour
	auto := e.consumerWithPolicy(t, "auto", &keygate.RotationPolicy{Every: 30 * day, Overlap: 7 * day, Notice: 14 * day, Auto: true})
	manual := e.consumerWithPolicy(t, "manual", &keygate.RotationPolicy{Every: 10 * day, Notice: 2 * day})
	none := e.consumer(t, "none")
	created := e.now()
	autoKey := e.keyExpiring(t, auto, "auto-key", 0)
	manualKey := e.keyExpiring(t, manual, "manual-key", 0)
	e.keyExpiring(t, none, "none-key", 0)
	e.keyExpiring(t, auto, "expires-first", 10*d) // gone before its notice
	revoked := e.keyExpiring(t, auto, "revoked-key", 0)
	_, err := e.store.RevokeKey(e.ctx, revoked.ID)
	check(t, err)
	rotated := e.keyExpiring(t, auto, "rotated-key", 0)
	e.clock.Advance(d)
	_, err = e.store.RotateKey(e.ctx, rotated.ID, successorOf(rotated, "rotated-next"), e.clock.Now().Add(d))
	check(t, err)
	e.changes.take()

	notice := func(t *testing.T) []*keygate.DueRotation {
		t.Helper()
		due, err := e.store.NoticeRotationDue(e.ctx, e.clock.Now(), 100)
		check(t, err)
		return due
	}
	dueNow := func(t *testing.T) []*keygate.DueRotation {
		t.Helper()
		due, err := e.store.DueRotations(e.ctx, e.clock.Now(), 100)
		check(t, err)
		return due
	}
	wantDue := func(t *testing.T, got []*keygate.DueRotation, want ...string) {
		t.Helper()
		if !slices.Equal(dueIDs(got), want) {
			t.Errorf("due %v, want %v", dueIDs(got), want)
		}
	}

	t.Run("nothing before the notice", func(t *testing.T) {
		wantDue(t, notice(t))
		wantDue(t, dueNow(t))
	})

	t.Run("a notice goes out once, the notice period ahead", func(t *testing.T) {
		e.clock.Set(created.Add(8 * d)) // manual-key is due in 2 days
		got := notice(t)
		wantDue(t, got, "manual-key")
		if len(got) == 1 {
			g := got[0]
			if !g.DueAt.Equal(created.Add(10*d)) || g.Key.ID != manualKey.ID || g.Consumer.ID != manual.ID || g.Consumer.RotationPolicy.Auto {
				t.Errorf("noticed %+v (consumer %+v), want due at %v", g, g.Consumer, created.Add(10*d))
			}
		}
		wantDue(t, notice(t))
		wantDue(t, dueNow(t)) // manual-key is not due yet, auto-key not nearly
		e.wantChanges(t)
	})

	t.Run("only active, unexpired keys without a successor", func(t *testing.T) {
		e.clock.Set(created.Add(16 * d))
		wantDue(t, notice(t), "auto-key")
		e.clock.Set(created.Add(17 * d)) // rotated-next was issued a day after the others
		wantDue(t, notice(t), "rotated-next")
	})

	t.Run("due rotations: automatic policies only, earliest first", func(t *testing.T) {
		wantDue(t, dueNow(t)) // manual-key is due, but its policy is not automatic
		e.clock.Set(created.Add(30 * d))
		got := dueNow(t)
		wantDue(t, got, "auto-key")
		if len(got) == 1 {
			if g := got[0]; !g.DueAt.Equal(created.Add(30*d)) || g.Key.ID != autoKey.ID || g.Consumer.ID != auto.ID ||
				g.Consumer.RotationPolicy == nil || *g.Consumer.RotationPolicy != *auto.RotationPolicy {
				t.Errorf("due %+v (consumer %+v)", g, g.Consumer)
			}
		}
		e.clock.Set(created.Add(31 * d))
		got = dueNow(t)
		var order []string
		for _, g := range got {
			order = append(order, g.Key.Identifier)
		}
		if !slices.Equal(order, []string{"auto-key", "rotated-next"}) {
			t.Errorf("due %v, want auto-key then rotated-next", order)
		}
		_, err := e.store.RotateKey(e.ctx, autoKey.ID, successorOf(autoKey, "auto-next"), e.clock.Now().Add(d))
		check(t, err)
		wantDue(t, dueNow(t), "rotated-next") // a rotated key is not due; its successor not yet
		e.changes.take()
	})

	t.Run("removing the policy ends the schedule", func(t *testing.T) {
		_, err := e.store.UpdateConsumer(e.ctx, auto.ID, func(c *keygate.Consumer) error { c.RotationPolicy = nil; return nil })
		check(t, err)
		wantDue(t, dueNow(t))
		e.clock.Set(created.Add(60 * d))
		wantDue(t, notice(t)) // auto-next would be noticed by now, with the policy
		e.changes.take()
	})
}

// sealedRotation is what RotateKeyForPickup stores for old key id, its data
// key wrapped by keyring version version.
func sealedRotation(id string, version int) *keygate.Sealed {
	return &keygate.Sealed{
		Kind:       keygate.SealedRotationPickup,
		ID:         id,
		DataKey:    keygate.DataKey{Version: version, Wrapped: wrappedBytes(keygate.SealedRotationPickup, id, version)},
		Ciphertext: fmt.Appendf(nil, "rotated-key-%s\x00\xff", id),
	}
}

func sealRotation(calls *int) func(id string) (*keygate.Sealed, error) {
	return func(id string) (*keygate.Sealed, error) {
		if calls != nil {
			*calls++
		}
		return sealedRotation(id, 1), nil
	}
}

// rotateForPickup rotates k for pickup with a day's grace.
func (e *env) rotateForPickup(tb testing.TB, k *keygate.APIKey, identifier string) *keygate.APIKey {
	tb.Helper()
	next := successorOf(k, identifier)
	_, err := e.store.RotateKeyForPickup(e.ctx, k.ID, next, e.clock.Now().Add(24*time.Hour), sealRotation(nil))
	check(tb, err)
	e.changes.take()
	return next
}

func testRotationPickup(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice := e.consumer(t, "alice")
	k := e.keyExpiring(t, alice, "pickup-old", 0)
	now := e.clock.Advance(time.Minute).UTC().Truncate(time.Microsecond)

	_, err := e.store.RotateKeyForPickup(e.ctx, k.ID, successorOf(k, "never"), now.Add(time.Hour), nil)
	wantError(t, err, keygate.EINVALID, "seal")
	seals := 0
	next := successorOf(k, "pickup-new")
	old, err := e.store.RotateKeyForPickup(e.ctx, k.ID, next, now.Add(time.Hour), sealRotation(&seals))
	check(t, err)
	if seals != 1 || old.SuccessorID != next.ID || !old.ExpiresAt.Equal(now.Add(time.Hour)) || next.RotatedFrom != k.ID {
		t.Fatalf("seal called %d times; old %+v; successor %+v", seals, old, next)
	}
	e.wantChanges(t,
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "rotated", ID: k.ID, KeyIdentifier: k.Identifier},
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, ID: next.ID, KeyIdentifier: next.Identifier})
	e.wantCounts(t, map[int]int{1: 1})

	_, err = e.store.RotateKeyForPickup(e.ctx, k.ID, successorOf(k, "second"), now.Add(time.Hour), sealRotation(&seals))
	wantError(t, err, keygate.ECONFLICT, "key")
	if seals != 1 {
		t.Errorf("a rotation that lost sealed a key (%d calls)", seals)
	}

	// An open that fails changes nothing: the key can still be picked up.
	_, _, err = e.store.PickUpRotatedKey(e.ctx, k.ID, func(*keygate.Sealed) error {
		return keygate.Errorf(keygate.EUNAVAILABLE, "keyring: not loaded")
	})
	wantError(t, err, keygate.EUNAVAILABLE, "keyring")
	e.wantCounts(t, map[int]int{1: 1})

	opened := 0
	open := func(got *keygate.Sealed) error {
		opened++
		wantEqual(t, got, sealedRotation(k.ID, 1))
		return nil
	}
	gotOld, gotNext, err := e.store.PickUpRotatedKey(e.ctx, k.ID, open)
	check(t, err)
	wantEqual(t, gotOld, old)
	wantEqual(t, gotNext, next)
	e.wantCounts(t, map[int]int{}) // crypto-shredded
	e.wantChanges(t)
	_, _, err = e.store.PickUpRotatedKey(e.ctx, k.ID, open)
	wantError(t, err, keygate.ENOTFOUND, "key")
	_, _, err = e.store.PickUpRotatedKey(e.ctx, next.ID, open)
	wantError(t, err, keygate.ENOTFOUND, "key")
	if opened != 1 {
		t.Errorf("opened %d times, want 1", opened)
	}
	audit, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: next.ID, Action: "key.picked_up"}, keygate.Page{Limit: 10})
	check(t, err)
	if len(audit) != 1 {
		t.Errorf("audit of the pickup: %+v", audit)
	}

	t.Run("concurrent pickups open it once", func(t *testing.T) {
		k := e.keyExpiring(t, alice, "race-old", 0)
		e.rotateForPickup(t, k, "race-new")
		var wg sync.WaitGroup
		var mu sync.Mutex
		opened, ok := 0, 0
		for range 8 {
			wg.Go(func() {
				_, _, err := e.store.PickUpRotatedKey(e.ctx, k.ID, func(*keygate.Sealed) error {
					mu.Lock()
					opened++
					mu.Unlock()
					return nil
				})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if keygate.ErrorCode(err) != keygate.ENOTFOUND {
					t.Errorf("pickup: %v, want NOT_FOUND", err)
				}
			})
		}
		wg.Wait()
		if opened != 1 || ok != 1 {
			t.Errorf("opened %d times, %d pickups succeeded; want 1 and 1", opened, ok)
		}
	})

	// Once nobody can use it, the kept key goes, with its data key.
	for i, tt := range []struct {
		name string
		end  func(t *testing.T, old, next *keygate.APIKey)
	}{
		{"the successor revoked", func(t *testing.T, _, next *keygate.APIKey) {
			_, err := e.store.RevokeKey(e.ctx, next.ID)
			check(t, err)
		}},
		{"the old key revoked", func(t *testing.T, old, _ *keygate.APIKey) {
			_, err := e.store.RevokeKey(e.ctx, old.ID)
			check(t, err)
		}},
		{"the successor deleted", func(t *testing.T, _, next *keygate.APIKey) { check(t, e.store.DeleteKey(e.ctx, next.ID)) }},
		{"the old key deleted", func(t *testing.T, old, _ *keygate.APIKey) { check(t, e.store.DeleteKey(e.ctx, old.ID)) }},
		{"the old key archived after its grace period", func(t *testing.T, _, _ *keygate.APIKey) {
			e.clock.Advance(25 * time.Hour)
			_, err := e.store.ArchiveKeys(e.ctx, e.clock.Now(), 100)
			check(t, err)
		}},
		{"the consumer deleted", func(t *testing.T, old, _ *keygate.APIKey) {
			check(t, e.store.DeleteConsumer(e.ctx, old.Consumer.ID))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.consumer(t, fmt.Sprintf("ended-%d", i))
			old := e.keyExpiring(t, c, "ended-old-"+c.Username, 0)
			next := e.rotateForPickup(t, old, "ended-new-"+c.Username)
			e.wantCounts(t, map[int]int{1: 1})
			tt.end(t, old, next)
			e.changes.take()
			e.wantCounts(t, map[int]int{})
			_, _, err := e.store.PickUpRotatedKey(e.ctx, old.ID, func(*keygate.Sealed) error {
				t.Error("open called for a dropped pickup")
				return nil
			})
			wantError(t, err, keygate.ENOTFOUND, "")
		})
	}
}

// testRotationConcurrent runs the scheduled rotation's claims from several
// nodes at once: each key is noticed once and rotated once, and one sealed
// key is kept a rotation. (A rotation that loses seals nothing, see
// testRotationPickup; but a transaction PostgreSQL aborts after sealing and
// runs again has sealed in vain, so the seals may outnumber the keys.)
func testRotationConcurrent(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	c := e.consumerWithPolicy(t, "many", &keygate.RotationPolicy{Every: 30 * day, Overlap: day, Notice: 7 * day, Auto: true})
	const keys = 20
	for i := range keys {
		e.keyExpiring(t, c, fmt.Sprintf("many-%02d", i), 0)
	}
	e.clock.Advance(30 * 24 * time.Hour)

	var mu sync.Mutex
	noticed := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				due, err := e.store.NoticeRotationDue(e.ctx, e.clock.Now(), 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(due) == 0 {
					return
				}
				mu.Lock()
				for _, d := range due {
					noticed[d.Key.Identifier]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(noticed) != keys {
		t.Errorf("noticed %d keys, want %d", len(noticed), keys)
	}
	for id, n := range noticed {
		if n != 1 {
			t.Errorf("%s noticed %d times", id, n)
		}
	}

	rotated, seals := map[string]int{}, 0
	for node := range 4 {
		wg.Go(func() {
			due, err := e.store.DueRotations(e.ctx, e.clock.Now(), 100)
			if err != nil {
				t.Error(err)
				return
			}
			for i, d := range due {
				next := successorOf(d.Key, fmt.Sprintf("next-%d-%02d", node, i))
				_, err := e.store.RotateKeyForPickup(e.ctx, d.Key.ID, next, e.clock.Now().Add(time.Hour), func(id string) (*keygate.Sealed, error) {
					mu.Lock()
					seals++
					mu.Unlock()
					return sealedRotation(id, 1), nil
				})
				mu.Lock()
				switch keygate.ErrorCode(err) {
				case "":
					rotated[d.Key.Identifier]++
				case keygate.ECONFLICT:
				default:
					t.Errorf("rotate %s: %v", d.Key.Identifier, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(rotated) != keys || seals < keys {
		t.Errorf("rotated %d keys with %d seals, want %d and at least as many", len(rotated), seals, keys)
	} else if seals > keys {
		t.Logf("%d seals for %d rotations: transactions run again after they failed", seals, keys)
	}
	for id, n := range rotated {
		if n != 1 {
			t.Errorf("%s rotated %d times", id, n)
		}
	}
	e.wantCounts(t, map[int]int{1: keys})
}
