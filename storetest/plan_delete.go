package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testPlanDeleteEndedKeys checks that keys that can no longer be used do not
// keep a plan from being deleted: only consumers and live keys do, and the
// ended keys lose the plan only when the delete goes ahead.
func testPlanDeleteEndedKeys(t *testing.T, s suite) {
	e := s.env(t)
	gold := e.plan(t, newPlan("gold"))
	c := e.consumer(t, "alice")
	withGold := func(identifier string, expiresIn time.Duration) *keygate.APIKey {
		t.Helper()
		k := newKey(c.ID, identifier)
		k.Plan = &keygate.Ref{ID: gold.ID}
		at := e.clock.Now().Add(expiresIn)
		k.ExpiresAt = &at
		check(t, e.store.CreateKey(e.ctx, k))
		e.changes.take()
		return k
	}
	archived := withGold("gold-archived", time.Hour)
	expired := withGold("gold-expired", 2*time.Hour)
	live := withGold("gold-live", 90*24*time.Hour)
	e.clock.Advance(time.Hour)
	_, err := e.store.ArchiveKeys(e.ctx, e.clock.Now(), 100) // gold-archived, which expires now
	check(t, err)
	revoked := withGold("gold-revoked", 90*24*time.Hour)
	_, err = e.store.RevokeKey(e.ctx, revoked.ID)
	check(t, err)
	e.clock.Advance(time.Hour) // gold-expired expires exactly now: ended
	e.changes.take()
	ended := []*keygate.APIKey{revoked, archived, expired}
	for k, status := range map[*keygate.APIKey]keygate.KeyStatus{revoked: keygate.KeyRevoked, archived: keygate.KeyArchived, expired: keygate.KeyActive} {
		if got, err := e.store.FindKey(e.ctx, k.ID); err != nil || got.Status != status {
			t.Fatalf("%s: %+v, %v; want it %s", k.Identifier, got, err, status)
		}
	}

	wantPlans := func(t *testing.T, keys []*keygate.APIKey, plan *keygate.Ref) {
		t.Helper()
		for _, k := range keys {
			got, err := e.store.FindKey(e.ctx, k.ID)
			check(t, err)
			if (got.Plan == nil) != (plan == nil) || plan != nil && *got.Plan != *plan {
				t.Errorf("%s (%s) has plan %+v, want %+v", k.Identifier, got.Status, got.Plan, plan)
			}
		}
	}

	t.Run("a live key still keeps it, counted alone", func(t *testing.T) {
		err := e.store.DeletePlan(e.ctx, "gold")
		wantError(t, err, keygate.ECONFLICT, "")
		if msg := keygate.ErrorMessage(err); !strings.Contains(msg, "0 consumer(s) and 1 live key(s)") {
			t.Errorf("message %q does not count one live key and no consumer", msg)
		}
		wantPlans(t, append(ended, live), &keygate.Ref{ID: gold.ID})
		e.wantChanges(t)
	})

	t.Run("so does a consumer", func(t *testing.T) {
		_, err := e.store.UpdateKey(e.ctx, live.ID, func(k *keygate.APIKey) error { k.Plan = nil; return nil })
		check(t, err)
		_, err = e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error { c.Plan = &keygate.Ref{ID: gold.ID}; return nil })
		check(t, err)
		e.changes.take()
		err = e.store.DeletePlan(e.ctx, "gold")
		wantError(t, err, keygate.ECONFLICT, "")
		if msg := keygate.ErrorMessage(err); !strings.Contains(msg, "1 consumer(s) and 0 live key(s)") {
			t.Errorf("message %q does not count one consumer and no live key", msg)
		}
		wantPlans(t, ended, &keygate.Ref{ID: gold.ID})
		e.wantChanges(t)
	})

	t.Run("ended keys lose it as it is deleted", func(t *testing.T) {
		_, err := e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error { c.Plan = nil; return nil })
		check(t, err)
		e.changes.take()
		e.clock.Advance(time.Minute)
		check(t, e.store.DeletePlan(e.ctx, "gold"))
		want := []keygate.Change{{Kind: keygate.PlanChanged, Op: keygate.Deleted, ID: gold.ID}}
		for _, k := range ended {
			want = append(want, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: k.ID, KeyIdentifier: k.Identifier})
		}
		e.wantChanges(t, want...)
		wantPlans(t, ended, nil)
		for _, k := range ended {
			got, err := e.store.FindKey(e.ctx, k.ID)
			check(t, err)
			if !got.UpdatedAt.Equal(e.now()) {
				t.Errorf("%s updated_at %v, want %v", k.Identifier, got.UpdatedAt, e.now())
			}
		}
		_, err = e.store.FindPlan(e.ctx, gold.ID)
		wantError(t, err, keygate.ENOTFOUND, "")
	})
}
