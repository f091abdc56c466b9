package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/keygate/keygate"
)

func testConsumerIdentity(t *testing.T, s suite) {
	t.Run("username and custom_id are each optional", func(t *testing.T) {
		e := s.env(t)
		tests := []struct{ name, username, customID string }{
			{"username only", "alice", ""},
			{"another with username only", "bob", ""},
			{"custom_id only", "", "crm-1"},
			{"another with custom_id only", "", "crm-2"},
			{"both", "carol", "crm-3"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := newConsumer(tt.username)
				c.CustomID = tt.customID
				check(t, e.store.CreateConsumer(e.ctx, c))
				got, err := e.store.FindConsumer(e.ctx, c.ID)
				check(t, err)
				wantEqual(t, got, c)
			})
		}
	})

	t.Run("a taken custom_id is a CONFLICT", func(t *testing.T) {
		e := s.env(t)
		c := newConsumer("alice")
		c.CustomID = "crm-1"
		check(t, e.store.CreateConsumer(e.ctx, c))
		e.changes.take()

		dup := newConsumer("bob")
		dup.CustomID = "crm-1"
		wantError(t, e.store.CreateConsumer(e.ctx, dup), keygate.ECONFLICT, "custom_id")
		_, err := e.store.UpdateConsumer(e.ctx, e.consumer(t, "carol").ID, func(c *keygate.Consumer) error {
			c.CustomID = "crm-1"
			return nil
		})
		wantError(t, err, keygate.ECONFLICT, "custom_id")
		e.wantChanges(t)
	})
}

func testConsumerDeleteCascades(t *testing.T, s suite) {
	e := s.env(t)
	doomed, kept := e.consumer(t, "doomed"), e.consumer(t, "kept")
	k1, k2 := e.key(t, doomed, "doomedkey1"), e.key(t, doomed, "doomedkey2")
	other := e.key(t, kept, "keptkey1")

	check(t, e.store.DeleteConsumer(e.ctx, "doomed"))
	e.wantChanges(t,
		keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Deleted, ID: doomed.ID},
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: k1.ID, KeyIdentifier: k1.Identifier},
		keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, ID: k2.ID, KeyIdentifier: k2.Identifier})
	for _, k := range []*keygate.APIKey{k1, k2} {
		_, err := e.store.FindKey(e.ctx, k.ID)
		wantError(t, err, keygate.ENOTFOUND, "")
		_, _, err = e.store.LookupKey(e.ctx, k.Identifier)
		wantError(t, err, keygate.ENOTFOUND, "")
	}
	if _, _, err := e.store.LookupKey(e.ctx, other.Identifier); err != nil {
		t.Errorf("another consumer's key: %v", err)
	}
}

func testConcurrentCreates(t *testing.T, s suite) {
	const workers, each = 8, 25
	e := s.env(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				errs <- e.store.CreateConsumer(e.ctx, newConsumer(fmt.Sprintf("worker%d-%02d", w, i)))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(t, err)
	}

	ids := walk(t, pages(e, consumers), 50, consumers.idOf)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("id %s listed twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d consumers listed, want %d", len(seen), workers*each)
	}
	if n := len(e.changes.take()); n != workers*each {
		t.Errorf("%d changes emitted, want %d", n, workers*each)
	}
}
