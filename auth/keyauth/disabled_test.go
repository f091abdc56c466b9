package keyauth_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/keygate/keygate"
)

// A disabled key, or a key of a disabled consumer, is DISABLED from the
// cache: the change that disables it drops the cached entry at once, as a
// revoke's does, and enabling it restores it exactly.
func TestVerifyDisabled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key, rec := f.issue(t, func(k *keygate.APIKey) {
		k.Name, k.Meta = "ci", json.RawMessage(`{"team":"payments"}`)
		k.Credits = &keygate.Credits{Remaining: 3}
	})
	res := f.verify(t, key, keygate.Target{})
	if res.Code != keygate.CodeValid || res.Key.Disabled || !res.Key.Credits ||
		res.Key.Details() != (keygate.KeyInfo{Name: "ci", Meta: `{"team":"payments"}`}) {
		t.Fatalf("valid: %s %+v %+v", res.Code, res.Key, res.Key.Details())
	}
	reads := f.lookups.reads.Load()
	setKey := func(enabled bool) {
		t.Helper()
		if _, err := f.store.UpdateKey(ctx, rec.ID, func(k *keygate.APIKey) error { k.Enabled = &enabled; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setConsumer := func(enabled bool) {
		t.Helper()
		if _, err := f.store.UpdateConsumer(ctx, f.consumer.ID, func(c *keygate.Consumer) error { c.Enabled = &enabled; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func()
		code keygate.VerifyCode
	}{
		{"key disabled", func() { setKey(false) }, keygate.CodeDisabled},
		{"key enabled", func() { setKey(true) }, keygate.CodeValid},
		{"consumer disabled", func() { setConsumer(false) }, keygate.CodeDisabled},
		{"consumer enabled", func() { setConsumer(true) }, keygate.CodeValid},
	}
	for _, s := range steps {
		s.do()
		for range 2 { // the first read after the change, then from the cache
			if res := f.verify(t, key, keygate.Target{}); res.Code != s.code || res.Key == nil || res.Key.ID != rec.ID {
				t.Errorf("%s: %s, want %s", s.name, res.Code, s.code)
			}
		}
	}
	if n := f.lookups.reads.Load() - reads; n != int64(len(steps)) {
		t.Errorf("%d store reads for %d changes, want one each", n, len(steps))
	}
	// Revoked wins over disabled: revoke is terminal, disable is not.
	setKey(false)
	if _, err := f.store.RevokeKey(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if res := f.verify(t, key, keygate.Target{}); res.Code != keygate.CodeRevoked {
		t.Errorf("revoked and disabled: %s", res.Code)
	}
}
