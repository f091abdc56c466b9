package storetest

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testKeyState checks a key's and a consumer's enabled flag, meta and
// credits: stored, read back by every read, changed by an update that says
// so (audited as disabled or enabled) and refused when invalid.
func testKeyState(t *testing.T, s suite) {
	e := s.env(t)
	c := e.consumer(t, "alice")
	k := newKey(c.ID, "stateful0000000000000000")
	k.Meta = json.RawMessage(`{ "tier": "gold", "n": 1 }`)
	k.Credits = &keygate.Credits{Remaining: 100, Refill: &keygate.CreditRefill{Interval: keygate.RefillMonthly, Amount: 100, Day: 15}}
	check(t, e.store.CreateKey(e.ctx, k))
	e.changes.take()
	if !keygate.IsEnabled(k.Enabled) || k.Enabled == nil {
		t.Errorf("a new key: enabled = %v, want true", k.Enabled)
	}
	if string(k.Meta) != `{"tier":"gold","n":1}` {
		t.Errorf("meta stored as %s, want it compacted", k.Meta)
	}
	if k.Credits == nil || k.Credits.RefilledAt == nil || !k.Credits.RefilledAt.Equal(e.now()) {
		t.Errorf("credits = %+v, want refilled_at now", k.Credits)
	}
	found, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	wantEqual(t, found, k)

	disable := func(enabled bool) func(*keygate.APIKey) error {
		return func(k *keygate.APIKey) error { k.Enabled = &enabled; return nil }
	}
	got, err := e.store.UpdateKey(e.ctx, k.ID, disable(false))
	check(t, err)
	if keygate.IsEnabled(got.Enabled) || got.State(e.now()) != keygate.CodeDisabled {
		t.Errorf("disabled key: enabled %v, state %s", got.Enabled, got.State(e.now()))
	}
	e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "disabled", ID: k.ID, KeyIdentifier: k.Identifier})
	looked, _, err := e.store.LookupKey(e.ctx, k.Identifier)
	check(t, err)
	if keygate.IsEnabled(looked.Enabled) {
		t.Errorf("LookupKey: a disabled key reads enabled")
	}
	got, err = e.store.UpdateKey(e.ctx, k.ID, disable(true))
	check(t, err)
	e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "enabled", ID: k.ID, KeyIdentifier: k.Identifier})
	want := *k
	want.UpdatedAt = got.UpdatedAt
	wantEqual(t, got, &want) // restored exactly: credits and meta as they were

	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: k.ID}, keygate.Page{Limit: 100})
	check(t, err)
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	if s := strings.Join(actions, " "); !strings.Contains(s, "key.disabled") || !strings.Contains(s, "key.enabled") {
		t.Errorf("audit actions %q, want key.disabled and key.enabled", s)
	}

	t.Run("invalid meta and credits are refused", func(t *testing.T) {
		for name, fn := range map[string]func(*keygate.APIKey){
			"meta":     func(k *keygate.APIKey) { k.Meta = json.RawMessage(`[1]`) },
			"big meta": func(k *keygate.APIKey) { k.Meta = json.RawMessage(`{"a":"` + strings.Repeat("x", 5000) + `"}`) },
			"credits":  func(k *keygate.APIKey) { k.Credits = &keygate.Credits{Remaining: -1} },
			"refill": func(k *keygate.APIKey) {
				k.Credits = &keygate.Credits{Refill: &keygate.CreditRefill{Interval: "weekly", Amount: 1}}
			},
			"refillday": func(k *keygate.APIKey) {
				k.Credits = &keygate.Credits{Refill: &keygate.CreditRefill{Interval: "monthly", Amount: 1, Day: 32}}
			},
		} {
			_, err := e.store.UpdateKey(e.ctx, k.ID, func(k *keygate.APIKey) error { fn(k); return nil })
			if keygate.ErrorCode(err) != keygate.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", name, err)
			}
		}
		e.wantChanges(t)
	})

	t.Run("a consumer disabled and enabled", func(t *testing.T) {
		off := false
		got, err := e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error {
			c.Enabled, c.Meta = &off, json.RawMessage(`{"plan":"x"}`)
			return nil
		})
		check(t, err)
		e.wantChanges(t, keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Updated, Action: "disabled", ID: c.ID})
		_, lc, err := e.store.LookupKey(e.ctx, k.Identifier)
		check(t, err)
		if keygate.IsEnabled(lc.Enabled) || string(lc.Meta) != `{"plan":"x"}` {
			t.Errorf("LookupKey's consumer: enabled %v meta %s", lc.Enabled, lc.Meta)
		}
		on := true
		got, err = e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error { c.Enabled = &on; return nil })
		check(t, err)
		e.wantChanges(t, keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Updated, Action: "enabled", ID: c.ID})
		if !keygate.IsEnabled(got.Enabled) {
			t.Errorf("consumer still disabled")
		}
	})
}

// testKeyCredits checks SpendCredits: deducts, refuses without overdraw,
// refills lazily when a refill fell due, leaves keys without credits alone.
func testKeyCredits(t *testing.T, s suite) {
	e := s.env(t)
	c := e.consumer(t, "alice")
	plain := e.key(t, c, "plain0000000000000000000")
	k := newKey(c.ID, "credited0000000000000000")
	k.Credits = &keygate.Credits{Remaining: 5, Refill: &keygate.CreditRefill{Interval: keygate.RefillDaily, Amount: 7}}
	check(t, e.store.CreateKey(e.ctx, k))
	e.changes.take()

	spend := func(id string, cost int64) keygate.CreditSpend {
		t.Helper()
		sp, err := e.store.SpendCredits(e.ctx, id, cost, e.now())
		check(t, err)
		if id == k.ID && (sp.Refill == nil || sp.Refill.Amount != 7) {
			t.Errorf("spend: refill %+v, want the key's", sp.Refill)
		}
		sp.Refill = nil
		return sp
	}
	if sp := spend(plain.ID, 1); sp.Limited || sp.Spent {
		t.Errorf("a key without credits: %+v, want unlimited", sp)
	}
	if sp := spend(k.ID, 3); sp != (keygate.CreditSpend{Spent: true, Remaining: 2, Before: 5, Limited: true}) {
		t.Errorf("spend 3 of 5: %+v", sp)
	}
	if sp := spend(k.ID, 3); sp != (keygate.CreditSpend{Remaining: 2, Before: 2, Limited: true}) {
		t.Errorf("spend 3 of 2: %+v, want refused, nothing deducted", sp)
	}
	if sp := spend(k.ID, 2); sp != (keygate.CreditSpend{Spent: true, Remaining: 0, Before: 2, Limited: true}) {
		t.Errorf("spend 2 of 2: %+v", sp)
	}
	if sp := spend(k.ID, 1); sp.Spent {
		t.Errorf("spend at 0: %+v", sp)
	}
	e.clock.Advance(24 * time.Hour) // past the next 00:00 UTC
	if sp := spend(k.ID, 1); sp != (keygate.CreditSpend{Spent: true, Remaining: 6, Before: 7, Limited: true}) {
		t.Errorf("after the daily refill: %+v", sp)
	}
	if sp := spend(k.ID, 1); sp.Remaining != 5 {
		t.Errorf("refilled twice the same day: %+v", sp)
	}
	found, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	if found.Credits == nil || found.Credits.Remaining != 5 {
		t.Errorf("FindKey credits = %+v, want 5 remaining", found.Credits)
	}
	if _, err := e.store.SpendCredits(e.ctx, "0193a5b2-0000-7000-8000-000000000000", 1, e.now()); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Errorf("no such key: %v", err)
	}
	e.wantChanges(t) // spending is not a change caches care about
}

// testKeyCreditsConcurrent spends a key's credits from many goroutines at
// once: exactly as many spends succeed as there were credits, and the key
// ends at 0, never below.
func testKeyCreditsConcurrent(t *testing.T, s suite) {
	e := s.env(t)
	c := e.consumer(t, "alice")
	const credits, workers = 200, 16
	k := newKey(c.ID, "concurrent00000000000000")
	k.Credits = &keygate.Credits{Remaining: credits}
	check(t, e.store.CreateKey(e.ctx, k))
	var spent, refused atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				sp, err := e.store.SpendCredits(e.ctx, k.ID, 1, e.now())
				if err != nil {
					t.Error(err)
					return
				}
				if !sp.Spent {
					refused.Add(1)
					return
				}
				if sp.Remaining < 0 {
					t.Errorf("remaining %d", sp.Remaining)
				}
				spent.Add(1)
			}
		}()
	}
	wg.Wait()
	found, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	if spent.Load() != credits || found.Credits.Remaining != 0 || refused.Load() != workers {
		t.Errorf("spent %d of %d, %d left, %d workers refused", spent.Load(), credits, found.Credits.Remaining, refused.Load())
	}
}
