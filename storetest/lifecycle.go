package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func ids(keys []*keygate.APIKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Identifier
	}
	slices.Sort(out)
	return out
}

// keyExpiring creates a key that expires d from now.
func (e *env) keyExpiring(tb testing.TB, c *keygate.Consumer, identifier string, d time.Duration) *keygate.APIKey {
	tb.Helper()
	k := newKey(c.ID, identifier)
	if d == 0 {
		k.ExpiresAt = nil
	} else {
		at := e.clock.Now().Add(d)
		k.ExpiresAt = &at
	}
	check(tb, e.store.CreateKey(e.ctx, k))
	e.changes.take()
	return k
}

func testKeyLifecycleJobs(t *testing.T, s suite) {
	e := s.env(t)
	c := e.consumer(t, "alice")
	day := 24 * time.Hour
	e.keyExpiring(t, c, "in-3-days", 3*day)
	e.keyExpiring(t, c, "in-20-days", 20*day)
	e.keyExpiring(t, c, "never", 0)
	rotated := e.keyExpiring(t, c, "rotated", 2*day)
	_, err := e.store.RotateKey(e.ctx, rotated.ID, newKey(c.ID, "rotated-next"), e.clock.Now().Add(day))
	check(t, err)
	revoked := e.keyExpiring(t, c, "revoked", 0)
	_, err = e.store.RevokeKey(e.ctx, revoked.ID)
	check(t, err)
	e.changes.take()

	t.Run("an expiry notice goes out once per key", func(t *testing.T) {
		got, err := e.store.NoticeExpiring(e.ctx, e.clock.Now().Add(14*day), 100)
		check(t, err)
		// rotated-next expires with the original's lifetime (90 days): not yet.
		if want := []string{"in-3-days"}; !slices.Equal(ids(got), want) {
			t.Errorf("noticed %v, want %v", ids(got), want)
		}
		again, err := e.store.NoticeExpiring(e.ctx, e.clock.Now().Add(14*day), 100)
		check(t, err)
		if len(again) != 0 {
			t.Errorf("noticed again: %v", ids(again))
		}
		e.wantChanges(t)
	})

	t.Run("ended keys are archived: secret hash dropped, record kept", func(t *testing.T) {
		e.clock.Advance(4 * day) // in-3-days and the rotated key's grace have ended
		got, err := e.store.ArchiveKeys(e.ctx, e.clock.Now(), 100)
		check(t, err)
		if want := []string{"in-3-days", "revoked", "rotated"}; !slices.Equal(ids(got), want) {
			t.Fatalf("archived %v, want %v", ids(got), want)
		}
		for _, k := range got {
			if k.Status != keygate.KeyArchived || len(k.SecretHash) != 0 {
				t.Errorf("%s: status %s, %d bytes of secret hash", k.Identifier, k.Status, len(k.SecretHash))
			}
			stored, _, err := e.store.LookupKey(e.ctx, k.Identifier)
			check(t, err)
			if stored.Status != keygate.KeyArchived || len(stored.SecretHash) != 0 {
				t.Errorf("stored %s: %s", k.Identifier, stored.Status)
			}
		}
		if changes := e.changes.take(); len(changes) != 3 {
			t.Errorf("changes %+v, want 3 Updated", changes)
		}
		if again, _ := e.store.ArchiveKeys(e.ctx, e.clock.Now(), 100); len(again) != 0 {
			t.Errorf("archived again: %v", ids(again))
		}
	})

	t.Run("archived keys are destroyed after the retention period", func(t *testing.T) {
		archivedAt := e.clock.Now()
		n, err := e.store.DestroyKeys(e.ctx, archivedAt.Add(-time.Second), 100)
		check(t, err)
		if n != 0 {
			t.Fatalf("destroyed %d before the retention period", n)
		}
		e.clock.Advance(time.Hour)
		n, err = e.store.DestroyKeys(e.ctx, archivedAt, 100)
		check(t, err)
		if n != 3 {
			t.Fatalf("destroyed %d, want 3", n)
		}
		if changes := e.changes.take(); len(changes) != 3 || changes[0].Op != keygate.Deleted {
			t.Errorf("changes %+v", changes)
		}
		left, _, err := e.store.ListKeys(e.ctx, keygate.KeyFilter{}, keygate.Page{Limit: 100})
		check(t, err)
		if want := []string{"in-20-days", "never", "rotated-next"}; !slices.Equal(ids(left), want) {
			t.Errorf("left %v, want %v", ids(left), want)
		}
	})

	t.Run("two nodes noticing at once notice each key once", func(t *testing.T) {
		d := e.consumer(t, "dora")
		for i := range 20 {
			e.keyExpiring(t, d, "soon-"+string(rune('a'+i)), day)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got, err := e.store.NoticeExpiring(e.ctx, e.clock.Now().Add(2*day), 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, k := range got {
						seen[k.Identifier]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 20 {
			t.Errorf("noticed %d keys, want 20", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s noticed %d times", id, n)
			}
		}
	})
}
