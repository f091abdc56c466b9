package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testKeyUpdate checks that a key's name, tags and plan can change after it
// was issued, that caches are told, and that the change is audited.
func testKeyUpdate(t *testing.T, s suite) {
	e := s.env(t)
	gold, silver := e.plan(t, newPlan("gold")), e.plan(t, newPlan("silver"))
	c := e.consumer(t, "alice")
	k := e.key(t, c, "updatable")
	ctx := keygate.WithReason(keygate.WithActor(e.ctx, "admin:ops"), "moved to gold")

	e.clock.Advance(time.Minute)
	updated, err := e.store.UpdateKey(ctx, k.ID, func(k *keygate.APIKey) error {
		k.Name, k.Tags, k.Plan = "renamed", []string{"billing", "eu"}, &keygate.Ref{Name: "gold"}
		return nil
	})
	check(t, err)
	e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: k.ID, KeyIdentifier: k.Identifier})

	want := *k
	want.Name, want.Tags, want.Plan, want.UpdatedAt = "renamed", []string{"billing", "eu"}, &keygate.Ref{ID: gold.ID}, e.now()
	wantEqual(t, updated, &want)
	found, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	wantEqual(t, found, &want)
	// The gateway's read sees the new plan once its cache dropped the key.
	looked, _, err := e.store.LookupKey(e.ctx, k.Identifier)
	check(t, err)
	wantEqual(t, looked, &want)
	if !bytesEqual(looked.SecretHash, k.SecretHash) {
		t.Errorf("the update changed the secret hash")
	}

	t.Run("audited as an update, with actor and reason", func(t *testing.T) {
		events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: k.ID}, keygate.Page{Limit: 100})
		check(t, err)
		if len(events) == 0 {
			t.Fatal("no audit event")
		}
		ev := events[len(events)-1]
		if ev.Action != "key.updated" || ev.Actor != "admin:ops" || ev.Reason != "moved to gold" || ev.TargetKind != "key" {
			t.Errorf("audit event %+v", ev)
		}
	})

	t.Run("plan by id, then none", func(t *testing.T) {
		got, err := e.store.UpdateKey(e.ctx, k.ID, func(k *keygate.APIKey) error {
			k.Plan = &keygate.Ref{ID: silver.ID}
			return nil
		})
		check(t, err)
		if got.Plan == nil || *got.Plan != (keygate.Ref{ID: silver.ID}) {
			t.Errorf("plan = %+v, want silver's id", got.Plan)
		}
		for _, none := range []*keygate.Ref{nil, {}} {
			got, err = e.store.UpdateKey(e.ctx, k.ID, func(k *keygate.APIKey) error { k.Plan = none; return nil })
			check(t, err)
			if got.Plan != nil {
				t.Errorf("plan = %+v after setting %+v, want nil", got.Plan, none)
			}
			found, err := e.store.FindKey(e.ctx, k.ID)
			check(t, err)
			wantEqual(t, found, got)
		}
		e.changes.take()
	})

	t.Run("nil tags are stored as none", func(t *testing.T) {
		got, err := e.store.UpdateKey(e.ctx, k.ID, func(k *keygate.APIKey) error { k.Tags = nil; return nil })
		check(t, err)
		if got.Tags == nil || len(got.Tags) != 0 {
			t.Errorf("tags = %#v, want an empty list", got.Tags)
		}
		e.changes.take()
	})

	t.Run("a revoked key can be renamed", func(t *testing.T) {
		r := e.key(t, c, "revokedkey")
		_, err := e.store.RevokeKey(e.ctx, r.ID)
		check(t, err)
		e.changes.take()
		got, err := e.store.UpdateKey(e.ctx, r.ID, func(k *keygate.APIKey) error { k.Name = "old-ci"; return nil })
		check(t, err)
		if got.Name != "old-ci" || got.Status != keygate.KeyRevoked {
			t.Errorf("updated %+v", got)
		}
		e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: r.ID, KeyIdentifier: r.Identifier})
	})
}

// testKeyUpdateRefused checks that an update that changes anything but
// name, tags and plan, or that fails, writes nothing and tells no cache.
func testKeyUpdateRefused(t *testing.T, s suite) {
	e := s.env(t)
	c, other := e.consumer(t, "alice"), e.consumer(t, "bob")
	k := e.key(t, c, "fixedkey")
	before, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	later := start.Add(time.Hour)
	errCaller := errors.New("the caller's own error")

	tests := []struct {
		name   string
		update func(*keygate.APIKey) error
		code   string
		field  string
	}{
		{"status", func(k *keygate.APIKey) error { k.Status = keygate.KeyRevoked; return nil }, keygate.EINVALID, "status"},
		{"expires_at", func(k *keygate.APIKey) error { k.ExpiresAt = &later; return nil }, keygate.EINVALID, "expires_at"},
		{"no expiry", func(k *keygate.APIKey) error { k.ExpiresAt = nil; return nil }, keygate.EINVALID, "expires_at"},
		{"allowed_cidrs", func(k *keygate.APIKey) error { k.AllowedCIDRs = []string{"0.0.0.0/0"}; return nil }, keygate.EINVALID, "allowed_cidrs"},
		{"allowed_services", func(k *keygate.APIKey) error { k.AllowedServices = []string{missingID}; return nil }, keygate.EINVALID, "allowed_services"},
		{"allowed_routes", func(k *keygate.APIKey) error { k.AllowedRoutes = []string{missingID}; return nil }, keygate.EINVALID, "allowed_routes"},
		{"consumer", func(k *keygate.APIKey) error { k.Consumer = keygate.Ref{ID: other.ID}; return nil }, keygate.EINVALID, "consumer"},
		{"identifier", func(k *keygate.APIKey) error { k.Identifier = "stolen"; return nil }, keygate.EINVALID, "identifier"},
		{"secret_hash", func(k *keygate.APIKey) error { k.SecretHash[0]++; return nil }, keygate.EINVALID, "secret_hash"},
		{"prefix", func(k *keygate.APIKey) error { k.Prefix = "kg_live"; return nil }, keygate.EINVALID, "prefix"},
		{"rotated_from", func(k *keygate.APIKey) error { k.RotatedFrom = missingID; return nil }, keygate.EINVALID, "rotated_from"},
		{"successor_id", func(k *keygate.APIKey) error { k.SuccessorID = missingID; return nil }, keygate.EINVALID, "successor_id"},
		{"lineage_id", func(k *keygate.APIKey) error { k.Lineage = missingID; return nil }, keygate.EINVALID, "lineage_id"},
		{"id", func(k *keygate.APIKey) error { k.ID = missingID; return nil }, keygate.EINVALID, "id"},
		{"created_at", func(k *keygate.APIKey) error { k.CreatedAt = later; return nil }, keygate.EINVALID, "created_at"},
		{"an allowed field with a fixed one", func(k *keygate.APIKey) error {
			k.Name, k.RevokedAt = "sneaky", &later
			return nil
		}, keygate.EINVALID, "revoked_at"},
		{"an invalid name", func(k *keygate.APIKey) error { k.Name = "bad\nname"; return nil }, keygate.EINVALID, "name"},
		{"an invalid tag", func(k *keygate.APIKey) error { k.Tags = []string{""}; return nil }, keygate.EINVALID, "tags[0]"},
		{"an unknown plan by name", func(k *keygate.APIKey) error {
			k.Name, k.Plan = "lost", &keygate.Ref{Name: "nothing"}
			return nil
		}, keygate.ENOTFOUND, "plan"},
		{"an unknown plan by id", func(k *keygate.APIKey) error { k.Plan = &keygate.Ref{ID: missingID}; return nil }, keygate.ENOTFOUND, "plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.store.UpdateKey(e.ctx, k.ID, tt.update)
			wantError(t, err, tt.code, tt.field)
			got, err := e.store.FindKey(e.ctx, k.ID)
			check(t, err)
			wantEqual(t, got, before)
			e.wantChanges(t)
		})
	}

	t.Run("the update function's error is returned as is", func(t *testing.T) {
		_, err := e.store.UpdateKey(e.ctx, k.ID, func(k *keygate.APIKey) error { k.Name = "x"; return errCaller })
		if !errors.Is(err, errCaller) {
			t.Errorf("err = %v, want the caller's", err)
		}
		got, err := e.store.FindKey(e.ctx, k.ID)
		check(t, err)
		wantEqual(t, got, before)
		e.wantChanges(t)
	})

	t.Run("a missing key", func(t *testing.T) {
		called := false
		_, err := e.store.UpdateKey(e.ctx, missingID, func(*keygate.APIKey) error { called = true; return nil })
		wantError(t, err, keygate.ENOTFOUND, "")
		if called {
			t.Error("update called for a missing key")
		}
		e.wantChanges(t)
	})
}

func bytesEqual(a, b []byte) bool { return slices.Equal(a, b) }
