package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Access requests and rules: the store's part of approval, which is above
// all that a request is decided once and its key picked up once, however
// many callers race.

func newAccessRequest(consumer keygate.Ref, services, routes []string) *keygate.AccessRequest {
	return &keygate.AccessRequest{Consumer: consumer, Services: services, Routes: routes, Plan: "internal",
		Reason: "nightly reports\nfor finance", RequestedBy: "ops", PickupTokenHash: []byte{0x00, 0xff, 't', 'o', 'k', 0x00}}
}

// accessRequest stores a pending request of consumer for the shared service.
func (e *env) accessRequest(tb testing.TB, consumer *keygate.Consumer) *keygate.AccessRequest {
	tb.Helper()
	r := newAccessRequest(keygate.Ref{ID: consumer.ID}, []string{e.sharedService(tb).ID}, nil)
	check(tb, e.store.CreateAccessRequest(e.ctx, r))
	e.changes.take()
	return r
}

// sealedPickup is the sealed key an approval of request id stores, its data
// key wrapped by keyring version version.
func sealedPickup(id string, version int) *keygate.Sealed {
	return &keygate.Sealed{
		Kind:       keygate.SealedAccessPickup,
		ID:         id,
		DataKey:    keygate.DataKey{Version: version, Wrapped: wrappedBytes(keygate.SealedAccessPickup, id, version)},
		Ciphertext: fmt.Appendf(nil, "pickup-ciphertext-%s\x00\xff", id),
	}
}

func sealPickup(version int, calls *[]string) func(id string) (*keygate.Sealed, error) {
	return func(id string) (*keygate.Sealed, error) {
		if calls != nil {
			*calls = append(*calls, id)
		}
		return sealedPickup(id, version), nil
	}
}

// issuedKey is the key an approval issues; its restrictions are the store's
// to set from the request.
func issuedKey(identifier string) *keygate.APIKey {
	return &keygate.APIKey{Name: "access", Prefix: "kg_test", Start: "kg_test_" + identifier[:4], Identifier: identifier,
		SecretHash: []byte{1, 2, 3}, Status: keygate.KeyActive, AllowedServices: []string{missingID}, AllowedCIDRs: []string{}, Tags: []string{}}
}

func (e *env) approve(tb testing.TB, r *keygate.AccessRequest, identifier string) *keygate.APIKey {
	tb.Helper()
	k := issuedKey(identifier)
	_, err := e.store.ApproveAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: "ops"}, k, sealPickup(1, nil))
	check(tb, err)
	e.changes.take()
	return k
}

func (e *env) accessRequests(f keygate.AccessRequestFilter) func(keygate.Page) ([]*keygate.AccessRequest, string, error) {
	return func(p keygate.Page) ([]*keygate.AccessRequest, string, error) {
		return e.store.ListAccessRequests(e.ctx, f, p)
	}
}

func accessRequestID(r *keygate.AccessRequest) string { return r.ID }

func testAccessRequests(t *testing.T, s suite) {
	e := s.env(t)
	alice := e.consumer(t, "alice")
	svc := e.sharedService(t)
	rt := e.route(t, "reports", svc)

	tests := []struct {
		name     string
		consumer keygate.Ref
		edit     func(*keygate.AccessRequest)
	}{
		{"consumer by id", keygate.Ref{ID: alice.ID}, func(*keygate.AccessRequest) {}},
		{"consumer by username", keygate.Ref{Name: "alice"}, func(*keygate.AccessRequest) {}},
		{"routes only, no plan or reason", keygate.Ref{ID: alice.ID}, func(r *keygate.AccessRequest) {
			r.Services, r.Routes, r.Plan, r.Reason = nil, []string{rt.ID}, "", ""
		}},
		{"the store's fields given are ignored", keygate.Ref{ID: alice.ID}, func(r *keygate.AccessRequest) {
			decided := start.Add(-time.Hour)
			r.ID, r.Status, r.DecidedBy, r.DecisionReason, r.KeyID = missingID, keygate.AccessApproved, "mallory", "because", missingID
			r.CreatedAt, r.DecidedAt, r.PickedUpAt = decided, &decided, &decided
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(time.Minute)
			r := newAccessRequest(tt.consumer, []string{svc.ID}, nil)
			tt.edit(r)
			want := *r
			check(t, e.store.CreateAccessRequest(e.ctx, r))
			e.wantChanges(t) // no cache holds requests

			if !keygate.LooksLikeID(r.ID) || r.ID == missingID {
				t.Errorf("created request has id %q", r.ID)
			}
			want.ID, want.Consumer, want.Status, want.CreatedAt = r.ID, keygate.Ref{ID: alice.ID}, keygate.AccessPending, e.now()
			want.DecidedBy, want.DecisionReason, want.KeyID, want.DecidedAt, want.PickedUpAt = "", "", "", nil, nil
			want.Normalize()
			wantEqual(t, r, &want)
			found, err := e.store.FindAccessRequest(e.ctx, r.ID)
			check(t, err)
			wantEqual(t, found, &want)
		})
	}

	t.Run("errors", func(t *testing.T) {
		errs := []struct {
			name        string
			edit        func(*keygate.AccessRequest)
			code, field string
		}{
			{"unknown consumer", func(r *keygate.AccessRequest) { r.Consumer = keygate.Ref{Name: "nobody"} }, keygate.ENOTFOUND, "consumer"},
			{"unknown consumer id", func(r *keygate.AccessRequest) { r.Consumer = keygate.Ref{ID: missingID} }, keygate.ENOTFOUND, "consumer"},
			{"no consumer", func(r *keygate.AccessRequest) { r.Consumer = keygate.Ref{} }, keygate.EINVALID, "consumer"},
			{"nothing requested", func(r *keygate.AccessRequest) { r.Services, r.Routes = nil, nil }, keygate.EINVALID, "services"},
			{"no pickup token", func(r *keygate.AccessRequest) { r.PickupTokenHash = nil }, keygate.EINVALID, "pickup_token_hash"},
			{"reason too long", func(r *keygate.AccessRequest) { r.Reason = string(make([]byte, keygate.MaxAccessReasonLen+1)) }, keygate.EINVALID, "reason"},
		}
		for _, tt := range errs {
			t.Run(tt.name, func(t *testing.T) {
				r := newAccessRequest(keygate.Ref{ID: alice.ID}, []string{svc.ID}, nil)
				tt.edit(r)
				before := *r
				wantError(t, e.store.CreateAccessRequest(e.ctx, r), tt.code, tt.field)
				wantEqual(t, r, &before) // a failed create leaves the value as it was
			})
		}
		_, err := e.store.FindAccessRequest(e.ctx, missingID)
		wantError(t, err, keygate.ENOTFOUND, "")
		_, err = e.store.ApproveAccessRequest(e.ctx, missingID, keygate.AccessDecision{By: "ops"}, issuedKey("nokey0001"), sealPickup(1, nil))
		wantError(t, err, keygate.ENOTFOUND, "")
		_, err = e.store.DenyAccessRequest(e.ctx, missingID, keygate.AccessDecision{By: "ops"})
		wantError(t, err, keygate.ENOTFOUND, "")
		_, _, err = e.store.PickUpAccessRequest(e.ctx, missingID, func(*keygate.Sealed) error { return nil })
		wantError(t, err, keygate.ENOTFOUND, "")
	})
}

func testAccessRequestList(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	var all, ofAlice, pending, approved, denied, alicePending []string
	for i := range 12 {
		e.clock.Advance(time.Second)
		c := alice
		if i%3 == 0 {
			c = bob
		}
		r := e.accessRequest(t, c)
		all = append(all, r.ID)
		if c == alice {
			ofAlice = append(ofAlice, r.ID)
		}
		switch i % 4 {
		case 1:
			e.approve(t, r, fmt.Sprintf("listkey%04d", i))
			approved = append(approved, r.ID)
		case 2:
			_, err := e.store.DenyAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: "ops", Reason: "no"})
			check(t, err)
			denied = append(denied, r.ID)
		default:
			pending = append(pending, r.ID)
			if c == alice {
				alicePending = append(alicePending, r.ID)
			}
		}
	}
	tests := []struct {
		name   string
		filter keygate.AccessRequestFilter
		want   []string
	}{
		{"all", keygate.AccessRequestFilter{}, all},
		{"one consumer", keygate.AccessRequestFilter{ConsumerID: alice.ID}, ofAlice},
		{"pending", keygate.AccessRequestFilter{Status: keygate.AccessPending}, pending},
		{"approved", keygate.AccessRequestFilter{Status: keygate.AccessApproved}, approved},
		{"denied", keygate.AccessRequestFilter{Status: keygate.AccessDenied}, denied},
		{"picked up", keygate.AccessRequestFilter{Status: keygate.AccessPickedUp}, nil},
		{"status and consumer", keygate.AccessRequestFilter{Status: keygate.AccessPending, ConsumerID: alice.ID}, alicePending},
		{"unknown consumer", keygate.AccessRequestFilter{ConsumerID: missingID}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{1, 5, 100} {
				if got := walk(t, e.accessRequests(tt.filter), size, accessRequestID); !slices.Equal(got, tt.want) {
					t.Errorf("size %d: listed %v, want %v", size, got, tt.want)
				}
			}
		})
	}
	got, _, err := e.store.ListAccessRequests(e.ctx, keygate.AccessRequestFilter{Status: keygate.AccessPickedUp}, keygate.Page{})
	check(t, err)
	if got == nil {
		t.Error("an empty list is nil, want []")
	}
}

func testAccessApprove(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice := e.consumer(t, "alice")
	svc := e.sharedService(t)
	rt := e.route(t, "reports", svc)
	r := newAccessRequest(keygate.Ref{ID: alice.ID}, []string{svc.ID}, []string{rt.ID})
	check(t, e.store.CreateAccessRequest(e.ctx, r))
	e.clock.Advance(time.Minute)

	k := issuedKey("approvedkey1")
	var calls []string
	got, err := e.store.ApproveAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: "ops", Reason: "ok for Q3"}, k, sealPickup(1, &calls))
	check(t, err)
	e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, ID: k.ID, KeyIdentifier: "approvedkey1"})
	if !slices.Equal(calls, []string{r.ID}) {
		t.Errorf("seal called with %v, want once with the request's id %s", calls, r.ID)
	}
	now := e.now()
	want := *r
	want.Status, want.DecidedBy, want.DecisionReason, want.DecidedAt, want.KeyID = keygate.AccessApproved, "ops", "ok for Q3", &now, k.ID
	wantEqual(t, got, &want)
	found, err := e.store.FindAccessRequest(e.ctx, r.ID)
	check(t, err)
	wantEqual(t, found, &want)

	// The key is the request's: its consumer, restricted to what was asked for.
	stored, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	wantEqual(t, stored, k)
	if stored.Consumer.ID != alice.ID || !slices.Equal(stored.AllowedServices, []string{svc.ID}) ||
		!slices.Equal(stored.AllowedRoutes, []string{rt.ID}) || stored.Status != keygate.KeyActive {
		t.Errorf("issued key %+v, want alice's, restricted to %s and %s", stored, svc.ID, rt.ID)
	}
	e.wantCounts(t, map[int]int{1: 1})

	t.Run("decided once", func(t *testing.T) {
		again := issuedKey("approvedkey2")
		_, err := e.store.ApproveAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: "ops"}, again, sealPickup(1, nil))
		wantError(t, err, keygate.ECONFLICT, "access request")
		_, err = e.store.DenyAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: "ops"})
		wantError(t, err, keygate.ECONFLICT, "access request")
		if _, _, err := e.store.LookupKey(e.ctx, "approvedkey2"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Errorf("a losing approval stored its key: %v", err)
		}
		e.wantChanges(t)
	})

	t.Run("deny", func(t *testing.T) {
		d := e.accessRequest(t, alice)
		e.clock.Advance(time.Minute)
		got, err := e.store.DenyAccessRequest(e.ctx, d.ID, keygate.AccessDecision{By: "ops", Reason: "not yet"})
		check(t, err)
		now := e.now()
		want := *d
		want.Status, want.DecidedBy, want.DecisionReason, want.DecidedAt = keygate.AccessDenied, "ops", "not yet", &now
		wantEqual(t, got, &want)
		e.wantChanges(t)
		_, err = e.store.ApproveAccessRequest(e.ctx, d.ID, keygate.AccessDecision{By: "ops"}, issuedKey("deniedkey1"), sealPickup(1, nil))
		wantError(t, err, keygate.ECONFLICT, "access request")
		_, _, err = e.store.PickUpAccessRequest(e.ctx, d.ID, func(*keygate.Sealed) error { return nil })
		wantError(t, err, keygate.ECONFLICT, "access request")
		e.wantCounts(t, map[int]int{1: 1}) // a denial seals nothing
	})

	t.Run("errors leave the request pending", func(t *testing.T) {
		p := e.accessRequest(t, alice)
		sealErr := errors.New("keyring down")
		errs := []struct {
			name        string
			d           keygate.AccessDecision
			key         *keygate.APIKey
			seal        func(string) (*keygate.Sealed, error)
			code, field string
		}{
			{"no decider", keygate.AccessDecision{}, issuedKey("errkey0001"), sealPickup(1, nil), keygate.EINVALID, "decided_by"},
			{"reason too long", keygate.AccessDecision{By: "ops", Reason: string(make([]byte, keygate.MaxAccessReasonLen+1))},
				issuedKey("errkey0002"), sealPickup(1, nil), keygate.EINVALID, "reason"},
			{"no key", keygate.AccessDecision{By: "ops"}, nil, sealPickup(1, nil), keygate.EINVALID, "key"},
			{"no seal", keygate.AccessDecision{By: "ops"}, issuedKey("errkey0003"), nil, keygate.EINVALID, "seal"},
			{"identifier taken", keygate.AccessDecision{By: "ops"}, issuedKey("approvedkey1"), sealPickup(1, nil), keygate.ECONFLICT, "identifier"},
			{"seal fails", keygate.AccessDecision{By: "ops"}, issuedKey("errkey0004"),
				func(string) (*keygate.Sealed, error) { return nil, sealErr }, keygate.EINTERNAL, ""},
			{"sealed for another record", keygate.AccessDecision{By: "ops"}, issuedKey("errkey0005"),
				func(string) (*keygate.Sealed, error) { return sealedPickup(r.ID, 1), nil }, keygate.EINTERNAL, ""},
			{"unknown keyring version", keygate.AccessDecision{By: "ops"}, issuedKey("errkey0006"), sealPickup(7, nil), keygate.ECONFLICT, "version"},
		}
		for _, tt := range errs {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.store.ApproveAccessRequest(e.ctx, p.ID, tt.d, tt.key, tt.seal)
				wantError(t, err, tt.code, tt.field)
				found, err := e.store.FindAccessRequest(e.ctx, p.ID)
				check(t, err)
				wantEqual(t, found, p)
				e.wantChanges(t)
			})
		}
		_, err := e.store.DenyAccessRequest(e.ctx, p.ID, keygate.AccessDecision{})
		wantError(t, err, keygate.EINVALID, "decided_by")
		e.wantCounts(t, map[int]int{1: 1})
		keys, _, err := e.store.ListKeys(e.ctx, keygate.KeyFilter{ConsumerID: alice.ID}, keygate.Page{})
		check(t, err)
		if len(keys) != 1 {
			t.Errorf("alice has %d keys, want the one approved", len(keys))
		}
	})
}

// testAccessDecideRace approves (and denies) one request from many
// goroutines at once: exactly one decision wins, and at most one key exists.
func testAccessDecideRace(t *testing.T, s suite) {
	for _, withDeny := range []bool{false, true} {
		t.Run(fmt.Sprintf("deny among them %t", withDeny), func(t *testing.T) {
			e := s.env(t)
			e.addVersions(t, 1)
			alice := e.consumer(t, "alice")
			r := e.accessRequest(t, alice)
			const workers = 8
			var wg sync.WaitGroup
			var mu sync.Mutex
			var won []string
			errs := make(chan error, workers)
			for w := range workers {
				wg.Go(func() {
					var err error
					what := "approve"
					if withDeny && w%2 == 1 {
						what = "deny"
						_, err = e.store.DenyAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: fmt.Sprintf("admin%d", w)})
					} else {
						_, err = e.store.ApproveAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: fmt.Sprintf("admin%d", w)},
							issuedKey(fmt.Sprintf("racekey%04d", w)), sealPickup(1, nil))
					}
					if err == nil {
						mu.Lock()
						won = append(won, what)
						mu.Unlock()
						return
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				wantError(t, err, keygate.ECONFLICT, "access request")
			}
			if len(won) != 1 {
				t.Fatalf("%d decisions won (%v), want exactly 1", len(won), won)
			}
			keys, _, err := e.store.ListKeys(e.ctx, keygate.KeyFilter{ConsumerID: alice.ID}, keygate.Page{})
			check(t, err)
			found, err := e.store.FindAccessRequest(e.ctx, r.ID)
			check(t, err)
			switch won[0] {
			case "approve":
				if len(keys) != 1 || found.Status != keygate.AccessApproved || found.KeyID != keys[0].ID {
					t.Errorf("approved: %d keys, request %+v; want the one key it names", len(keys), found)
				}
				e.wantCounts(t, map[int]int{1: 1})
			case "deny":
				if len(keys) != 0 || found.Status != keygate.AccessDenied {
					t.Errorf("denied: %d keys, status %s; want none, denied", len(keys), found.Status)
				}
				e.wantCounts(t, map[int]int{})
			}
		})
	}
}

func testAccessPickUp(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice := e.consumer(t, "alice")
	r := e.accessRequest(t, alice)

	calls := 0
	open := func(got *keygate.Sealed) error {
		calls++
		wantEqual(t, got, sealedPickup(r.ID, 1))
		return nil
	}
	_, _, err := e.store.PickUpAccessRequest(e.ctx, r.ID, open)
	wantError(t, err, keygate.ECONFLICT, "access request") // pending
	k := e.approve(t, r, "pickupkey01")

	// An open that fails changes nothing: the key can still be picked up.
	_, _, err = e.store.PickUpAccessRequest(e.ctx, r.ID, func(*keygate.Sealed) error {
		return keygate.Errorf(keygate.EUNAVAILABLE, "keyring: not loaded")
	})
	wantError(t, err, keygate.EUNAVAILABLE, "keyring")
	e.wantCounts(t, map[int]int{1: 1})

	e.clock.Advance(time.Minute)
	got, key, err := e.store.PickUpAccessRequest(e.ctx, r.ID, open)
	check(t, err)
	if calls != 1 {
		t.Errorf("open called %d times, want 1", calls)
	}
	now := e.now()
	if got.Status != keygate.AccessPickedUp || got.PickedUpAt == nil || !got.PickedUpAt.Equal(now) || got.KeyID != k.ID {
		t.Errorf("picked up request %+v, want picked_up at %v naming key %s", got, now, k.ID)
	}
	wantEqual(t, key, k)
	found, err := e.store.FindAccessRequest(e.ctx, r.ID)
	check(t, err)
	wantEqual(t, found, got)
	e.wantCounts(t, map[int]int{}) // the sealed key is gone (crypto-shredding)
	e.wantChanges(t)

	_, _, err = e.store.PickUpAccessRequest(e.ctx, r.ID, open)
	wantError(t, err, keygate.ECONFLICT, "access request")
	if calls != 1 {
		t.Errorf("a second pickup opened the key (%d calls)", calls)
	}

	t.Run("concurrent pickups open it once", func(t *testing.T) {
		r := e.accessRequest(t, alice)
		e.approve(t, r, "pickupkey02")
		const workers = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		opened, ok := 0, 0
		for range workers {
			wg.Go(func() {
				_, _, err := e.store.PickUpAccessRequest(e.ctx, r.ID, func(*keygate.Sealed) error {
					mu.Lock()
					opened++
					mu.Unlock()
					return nil
				})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if keygate.ErrorCode(err) != keygate.ECONFLICT {
					t.Errorf("pickup: %v, want CONFLICT", err)
				}
			})
		}
		wg.Wait()
		if opened != 1 || ok != 1 {
			t.Errorf("opened %d times, %d pickups succeeded; want 1 and 1", opened, ok)
		}
	})

	t.Run("a key deleted before pickup", func(t *testing.T) {
		r := e.accessRequest(t, alice)
		k := e.approve(t, r, "pickupkey03")
		e.wantCounts(t, map[int]int{1: 1})
		check(t, e.store.DeleteKey(e.ctx, k.ID))
		e.wantCounts(t, map[int]int{}) // its sealed copy went with it
		_, _, err := e.store.PickUpAccessRequest(e.ctx, r.ID, func(*keygate.Sealed) error {
			t.Error("open called for a deleted key")
			return nil
		})
		wantError(t, err, keygate.ECONFLICT, "access request")
		found, err := e.store.FindAccessRequest(e.ctx, r.ID)
		check(t, err)
		if found.Status != keygate.AccessApproved || found.KeyID != k.ID {
			t.Errorf("request %+v, want still approved, naming the deleted key", found)
		}
	})
}

// testAccessRewrap checks that a pickup's data key is one the keyring's
// rewrap moves like any other.
func testAccessRewrap(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 2)
	r := e.accessRequest(t, e.consumer(t, "alice"))
	e.approve(t, r, "rewrapkey01")
	sealed, err := e.store.SealedBefore(e.ctx, 2, 10)
	check(t, err)
	want := sealedPickup(r.ID, 1)
	want.Ciphertext = nil
	if len(sealed) != 1 {
		t.Fatalf("SealedBefore lists %+v, want the pickup's data key", sealed)
	}
	wantEqual(t, sealed[0], want)
	rewrapped := keygate.DataKey{Version: 2, Wrapped: wrappedBytes(keygate.SealedAccessPickup, r.ID, 2)}
	n, err := e.store.RewrapDataKeys(e.ctx, []keygate.Rewrap{{Kind: sealed[0].Kind, ID: sealed[0].ID,
		FromVersion: 1, FromWrapped: sealed[0].Wrapped, To: rewrapped}})
	check(t, err)
	if n != 1 {
		t.Fatalf("RewrapDataKeys applied %d, want 1", n)
	}
	check(t, e.store.DeleteKeyringVersion(e.ctx, 1))
	_, _, err = e.store.PickUpAccessRequest(e.ctx, r.ID, func(got *keygate.Sealed) error {
		moved := sealedPickup(r.ID, 1) // the same ciphertext, its data key moved
		moved.DataKey = rewrapped
		wantEqual(t, got, moved)
		return nil
	})
	check(t, err)
}

func testAccessConsumerCascade(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	doomed, kept := e.consumer(t, "doomed"), e.consumer(t, "kept")
	pending, approved := e.accessRequest(t, doomed), e.accessRequest(t, doomed)
	k := e.approve(t, approved, "cascadekey1")
	other := e.accessRequest(t, kept)
	otherKey := e.approve(t, other, "cascadekey2")
	e.wantCounts(t, map[int]int{1: 2})

	check(t, e.store.DeleteConsumer(e.ctx, "doomed"))
	e.wantChanges(t,
		keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Deleted, ID: doomed.ID},
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: k.ID, KeyIdentifier: k.Identifier})
	for _, r := range []*keygate.AccessRequest{pending, approved} {
		_, err := e.store.FindAccessRequest(e.ctx, r.ID)
		wantError(t, err, keygate.ENOTFOUND, "")
	}
	e.wantCounts(t, map[int]int{1: 1}) // the doomed consumer's sealed key went too
	if ids := walk(t, e.accessRequests(keygate.AccessRequestFilter{ConsumerID: doomed.ID}), 10, accessRequestID); len(ids) != 0 {
		t.Errorf("the deleted consumer still lists %v", ids)
	}
	_, key, err := e.store.PickUpAccessRequest(e.ctx, other.ID, func(*keygate.Sealed) error { return nil })
	check(t, err)
	if key.ID != otherKey.ID {
		t.Errorf("another consumer's pickup gave key %s, want %s", key.ID, otherKey.ID)
	}
}

func newAccessRule(name string) *keygate.AccessRule {
	return &keygate.AccessRule{Name: name, Plan: "internal", ConsumerGroups: []string{"staff", "ops"}, Enabled: true}
}

func accessRuleID(r *keygate.AccessRule) string { return r.ID }

func testAccessRules(t *testing.T, s suite) {
	e := s.env(t)
	svc := e.sharedService(t)
	r := newAccessRule("staff-internal")
	r.Services = []string{svc.ID}
	r.ID, r.CreatedAt = missingID, start.Add(-time.Hour) // the store's
	check(t, e.store.CreateAccessRule(e.ctx, r))
	e.wantChanges(t)
	if !keygate.LooksLikeID(r.ID) || r.ID == missingID {
		t.Errorf("created rule has id %q", r.ID)
	}
	want := &keygate.AccessRule{ID: r.ID, Name: "staff-internal", Plan: "internal", ConsumerGroups: []string{"staff", "ops"},
		Services: []string{svc.ID}, Enabled: true, Timestamps: keygate.Timestamps{CreatedAt: e.now(), UpdatedAt: e.now()}}
	wantEqual(t, r, want)
	for _, ref := range []string{r.ID, "staff-internal"} {
		found, err := e.store.FindAccessRule(e.ctx, ref)
		check(t, err)
		wantEqual(t, found, want)
	}

	t.Run("names are unique", func(t *testing.T) {
		dup := newAccessRule("staff-internal")
		wantError(t, e.store.CreateAccessRule(e.ctx, dup), keygate.ECONFLICT, "name")
		if dup.ID != "" {
			t.Errorf("a failed create set the id %q", dup.ID)
		}
		other := newAccessRule("other")
		check(t, e.store.CreateAccessRule(e.ctx, other))
		_, err := e.store.UpdateAccessRule(e.ctx, other.ID, func(r *keygate.AccessRule) error {
			r.Name = "staff-internal"
			return nil
		})
		wantError(t, err, keygate.ECONFLICT, "name")
		check(t, e.store.DeleteAccessRule(e.ctx, "other"))
	})

	t.Run("update", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		got, err := e.store.UpdateAccessRule(e.ctx, "staff-internal", func(r *keygate.AccessRule) error {
			r.ID, r.CreatedAt = missingID, start // ignored
			r.Enabled, r.Services, r.ConsumerGroups = false, nil, []string{"staff"}
			return nil
		})
		check(t, err)
		want.Enabled, want.Services, want.ConsumerGroups, want.UpdatedAt = false, []string{}, []string{"staff"}, e.now()
		wantEqual(t, got, want)
		found, err := e.store.FindAccessRule(e.ctx, r.ID)
		check(t, err)
		wantEqual(t, found, want)

		_, err = e.store.UpdateAccessRule(e.ctx, r.ID, func(r *keygate.AccessRule) error {
			r.ConsumerGroups = nil
			return nil
		})
		wantError(t, err, keygate.EINVALID, "consumer_groups")
		_, err = e.store.UpdateAccessRule(e.ctx, r.ID, func(*keygate.AccessRule) error {
			return keygate.Errorf(keygate.EINVALID, "plan: refused by the caller")
		})
		wantError(t, err, keygate.EINVALID, "plan")
		found, err = e.store.FindAccessRule(e.ctx, r.ID)
		check(t, err)
		wantEqual(t, found, want)
		_, err = e.store.UpdateAccessRule(e.ctx, "nothing", func(*keygate.AccessRule) error { return nil })
		wantError(t, err, keygate.ENOTFOUND, "")
	})

	t.Run("invalid", func(t *testing.T) {
		errs := []struct {
			name  string
			edit  func(*keygate.AccessRule)
			field string
		}{
			{"no name", func(r *keygate.AccessRule) { r.Name = "" }, "name"},
			{"name shaped like an id", func(r *keygate.AccessRule) { r.Name = missingID }, "name"},
			{"no plan", func(r *keygate.AccessRule) { r.Plan = "" }, "plan"},
			{"no groups", func(r *keygate.AccessRule) { r.ConsumerGroups = nil }, "consumer_groups"},
			{"bad group", func(r *keygate.AccessRule) { r.ConsumerGroups = []string{"a b"} }, "consumer_groups[0]"},
		}
		for _, tt := range errs {
			t.Run(tt.name, func(t *testing.T) {
				r := newAccessRule("invalid")
				tt.edit(r)
				wantError(t, e.store.CreateAccessRule(e.ctx, r), keygate.EINVALID, tt.field)
			})
		}
	})

	t.Run("list and delete", func(t *testing.T) {
		ids := []string{r.ID}
		for i := range 5 {
			n := newAccessRule(fmt.Sprintf("rule-%d", i))
			check(t, e.store.CreateAccessRule(e.ctx, n))
			ids = append(ids, n.ID)
		}
		list := func(p keygate.Page) ([]*keygate.AccessRule, string, error) { return e.store.ListAccessRules(e.ctx, p) }
		if got := walk(t, list, 2, accessRuleID); !slices.Equal(got, ids) {
			t.Errorf("listed %v, want %v", got, ids)
		}
		check(t, e.store.DeleteAccessRule(e.ctx, "rule-0"))
		check(t, e.store.DeleteAccessRule(e.ctx, ids[2]))
		wantError(t, e.store.DeleteAccessRule(e.ctx, "rule-0"), keygate.ENOTFOUND, "")
		_, err := e.store.FindAccessRule(e.ctx, ids[2])
		wantError(t, err, keygate.ENOTFOUND, "")
		if got := walk(t, list, 100, accessRuleID); !slices.Equal(got, append([]string{ids[0]}, ids[3:]...)) {
			t.Errorf("after deleting, listed %v", got)
		}
		e.wantChanges(t)
	})
}
