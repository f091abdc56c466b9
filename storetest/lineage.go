package storetest

import (
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testKeyLineage checks that every key of a rotation chain has the first
// key's id as its lineage, wherever keys are read (the gateway counts
// per-key limits by it), and that no key can join another consumer's chain.
func testKeyLineage(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")

	first := newKey(alice.ID, "lineage-1")
	first.Lineage = missingID // the store's to set
	check(t, e.store.CreateKey(e.ctx, first))
	e.changes.take()
	if first.Lineage != first.ID {
		t.Fatalf("a new key's lineage = %q, want its own id %q", first.Lineage, first.ID)
	}

	second := successorOf(first, "lineage-2")
	second.Lineage = missingID
	_, err := e.store.RotateKey(e.ctx, first.ID, second, e.clock.Now().Add(time.Hour))
	check(t, err)
	e.clock.Advance(time.Minute)
	third := e.rotateForPickup(t, second, "lineage-3")
	chain := []*keygate.APIKey{first, second, third}
	for i, k := range chain {
		if k.Lineage != first.ID {
			t.Errorf("key %d of the chain has lineage %q, want the first key's id %q", i+1, k.Lineage, first.ID)
		}
	}

	t.Run("every read carries it", func(t *testing.T) {
		for _, k := range chain {
			found, err := e.store.FindKey(e.ctx, k.ID)
			check(t, err)
			looked, _, err := e.store.LookupKey(e.ctx, k.Identifier)
			check(t, err)
			if found.Lineage != first.ID || looked.Lineage != first.ID {
				t.Errorf("%s: FindKey's lineage %q, LookupKey's %q, want %q", k.Identifier, found.Lineage, looked.Lineage, first.ID)
			}
		}
		list, _, err := e.store.ListKeys(e.ctx, keygate.KeyFilter{ConsumerID: alice.ID}, keygate.Page{})
		check(t, err)
		for _, k := range list {
			if k.Lineage != first.ID {
				t.Errorf("listed %s with lineage %q", k.Identifier, k.Lineage)
			}
		}
	})

	t.Run("a chain keeps its lineage when its first key is gone", func(t *testing.T) {
		check(t, e.store.DeleteKey(e.ctx, first.ID))
		e.changes.take()
		fourth := successorOf(third, "lineage-4")
		_, err := e.store.RotateKey(e.ctx, third.ID, fourth, e.clock.Now().Add(time.Hour))
		check(t, err)
		e.changes.take()
		if fourth.Lineage != first.ID {
			t.Errorf("lineage %q, want %q", fourth.Lineage, first.ID)
		}
	})

	t.Run("a key created as a successor", func(t *testing.T) {
		own := e.key(t, alice, "lineage-own")
		k := newKey(alice.ID, "lineage-created")
		k.RotatedFrom = own.ID
		check(t, e.store.CreateKey(e.ctx, k))
		e.changes.take()
		if k.Lineage != own.ID {
			t.Errorf("lineage %q, want its predecessor's %q", k.Lineage, own.ID)
		}
	})

	t.Run("another consumer's chain cannot be joined", func(t *testing.T) {
		k := newKey(bob.ID, "lineage-bob")
		k.RotatedFrom = second.ID
		wantError(t, e.store.CreateKey(e.ctx, k), keygate.EINVALID, "rotated_from")
		fresh := e.key(t, alice, "lineage-rot")
		next := successorOf(fresh, "lineage-rot-bob")
		next.Consumer = keygate.Ref{ID: bob.ID}
		_, err := e.store.RotateKey(e.ctx, fresh.ID, next, e.clock.Now().Add(time.Hour))
		wantError(t, err, keygate.EINVALID, "rotated_from")
		for _, ident := range []string{"lineage-bob", "lineage-rot-bob"} {
			_, _, err := e.store.LookupKey(e.ctx, ident)
			wantError(t, err, keygate.ENOTFOUND, "")
		}
		if got, err := e.store.FindKey(e.ctx, fresh.ID); err != nil || got.SuccessorID != "" {
			t.Errorf("a refused rotation changed the old key: %+v, %v", got, err)
		}
		e.wantChanges(t)
	})

	t.Run("a missing predecessor", func(t *testing.T) {
		k := newKey(alice.ID, "lineage-orphan")
		k.RotatedFrom = missingID
		wantError(t, e.store.CreateKey(e.ctx, k), keygate.ENOTFOUND, "rotated_from")
		e.wantChanges(t)
	})

	t.Run("a key issued on approval starts its own", func(t *testing.T) {
		k := e.approve(t, e.accessRequest(t, alice), "lineage-access")
		if k.Lineage != k.ID {
			t.Errorf("lineage %q, want its own id %q", k.Lineage, k.ID)
		}
	})
}
