package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testRecentlyUsedKeys: the keys a restarting gateway preloads are those
// with usage in the window, each read as LookupKey reads it, in batches.
func testRecentlyUsedKeys(t *testing.T, s suite) {
	e := s.env(t)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	now := minute(2032, 3, 10, 12, 0).Add(30 * time.Second)
	since := now.Add(-time.Hour) // 11:00:30, in the minute 11:00

	var used []*keygate.APIKey
	for i, c := range []*keygate.Consumer{alice, bob, alice, bob, alice} {
		used = append(used, e.key(t, c, "used"+string(rune('a'+i))))
	}
	old := e.key(t, alice, "oldusage") // used, but before the window
	e.key(t, bob, "neverused")         // no usage at all
	revoked := e.key(t, bob, "revokedused")
	if _, err := e.store.RevokeKey(e.ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	e.changes.take()
	records := []keygate.UsageRecord{
		{Minute: minute(2032, 3, 10, 10, 59), ConsumerID: alice.ID, CredentialID: old.ID, RouteID: "r1", Allowed: 5},
		{Minute: minute(2032, 3, 10, 10, 59), ConsumerID: alice.ID, CredentialID: used[0].ID, RouteID: "r1", Allowed: 1},
		// The minute since falls in counts: its requests may be after since.
		{Minute: minute(2032, 3, 10, 11, 0), ConsumerID: alice.ID, CredentialID: used[0].ID, RouteID: "r1", Rejected: 1},
		{Minute: minute(2032, 3, 10, 11, 30), ConsumerID: bob.ID, CredentialID: used[1].ID, RouteID: "r1", Allowed: 1},
		{Minute: minute(2032, 3, 10, 11, 31), ConsumerID: bob.ID, CredentialID: used[1].ID, RouteID: "r2", Allowed: 1},
		{Minute: minute(2032, 3, 10, 11, 59), ConsumerID: alice.ID, CredentialID: used[2].ID, RouteID: "r1", Allowed: 1},
		{Minute: minute(2032, 3, 10, 12, 0), ConsumerID: bob.ID, CredentialID: used[3].ID, RouteID: "r1", Allowed: 1},
		{Minute: minute(2032, 3, 10, 12, 0), ConsumerID: alice.ID, CredentialID: used[4].ID, RouteID: "r1", Allowed: 1},
		{Minute: minute(2032, 3, 10, 12, 0), ConsumerID: bob.ID, CredentialID: revoked.ID, RouteID: "r1", Allowed: 1},
		// An HMAC credential's usage, or a deleted key's: no key to preload.
		{Minute: minute(2032, 3, 10, 12, 0), ConsumerID: bob.ID, CredentialID: "not-a-key", RouteID: "r1", Allowed: 1},
	}
	check(t, e.store.AddUsage(e.ctx, records))

	want := map[string]bool{revoked.ID: true} // revoked: the gateway caches that too
	for _, k := range used {
		want[k.ID] = true
	}
	tests := []struct {
		name  string
		limit int
	}{
		{"one batch", 100},
		{"batches of one", 1},
		{"batches of two", 2},
		{"exactly all", len(want)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			after := ""
			for batches := 0; ; batches++ {
				if batches > len(want)+1 {
					t.Fatalf("more than %d batches", batches)
				}
				got, err := e.store.RecentlyUsedKeys(e.ctx, since, after, tt.limit)
				check(t, err)
				if len(got) > tt.limit {
					t.Fatalf("%d keys, want at most %d", len(got), tt.limit)
				}
				for _, kc := range got {
					if kc.Key.ID <= after {
						t.Errorf("key %s after %s: not in id order", kc.Key.ID, after)
					}
					after = kc.Key.ID
					if seen[kc.Key.ID] || !want[kc.Key.ID] {
						t.Errorf("key %s (%s): seen before %v, want it %v", kc.Key.Identifier, kc.Key.ID, seen[kc.Key.ID], want[kc.Key.ID])
					}
					seen[kc.Key.ID] = true
					looked, consumer, err := e.store.LookupKey(e.ctx, kc.Key.Identifier)
					check(t, err)
					wantEqual(t, kc.Key, looked)
					wantEqual(t, kc.Consumer, consumer)
				}
				if len(got) < tt.limit {
					break
				}
			}
			if len(seen) != len(want) {
				t.Errorf("%d keys, want %d", len(seen), len(want))
			}
		})
	}

	t.Run("nothing used since", func(t *testing.T) {
		got, err := e.store.RecentlyUsedKeys(e.ctx, now.Add(time.Minute), "", 10)
		check(t, err)
		if len(got) != 0 {
			t.Errorf("%d keys, want none", len(got))
		}
	})
	t.Run("a bad limit is refused", func(t *testing.T) {
		_, err := e.store.RecentlyUsedKeys(e.ctx, since, "", 0)
		wantError(t, err, keygate.EINVALID, "limit")
	})
	e.wantChanges(t)
}

// testLookupKeys: one read for several identifiers finds what LookupKey
// finds for each, and leaves the unknown ones out.
func testLookupKeys(t *testing.T, s suite) {
	e := s.env(t)
	alice, bob := e.consumer(t, "alice"), e.consumer(t, "bob")
	a, b, c := e.key(t, alice, "identalice1"), e.key(t, bob, "identbob001"), e.key(t, alice, "identalice2")
	tests := []struct {
		name        string
		identifiers []string
		want        []*keygate.APIKey
	}{
		{"none", nil, nil},
		{"one", []string{a.Identifier}, []*keygate.APIKey{a}},
		{"several, two consumers", []string{a.Identifier, b.Identifier, c.Identifier}, []*keygate.APIKey{a, b, c}},
		{"unknown ones left out", []string{"nosuchident", b.Identifier, "otherunknown"}, []*keygate.APIKey{b}},
		{"only unknown", []string{"nosuchident"}, nil},
		{"the same one twice", []string{a.Identifier, a.Identifier}, []*keygate.APIKey{a}},
		// The store may read lists of some sizes through statements prepared
		// for them, padded: the sizes around those it is likely to use.
		{"5", withUnknown(5, a.Identifier, c.Identifier), []*keygate.APIKey{a, c}},
		{"16", withUnknown(16, b.Identifier), []*keygate.APIKey{b}},
		{"17", withUnknown(17, c.Identifier, b.Identifier), []*keygate.APIKey{b, c}},
		{"64", withUnknown(64, a.Identifier, b.Identifier, c.Identifier), []*keygate.APIKey{a, b, c}},
		{"65", withUnknown(65, a.Identifier), []*keygate.APIKey{a}},
		{"256", withUnknown(256, b.Identifier, a.Identifier), []*keygate.APIKey{a, b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.LookupKeys(e.ctx, tt.identifiers)
			check(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("%d keys, want %d", len(got), len(tt.want))
			}
			byID := map[string]keygate.KeyWithConsumer{}
			for _, kc := range got {
				byID[kc.Key.Identifier] = kc
			}
			for _, w := range tt.want {
				kc, ok := byID[w.Identifier]
				if !ok {
					t.Errorf("%s: missing", w.Identifier)
					continue
				}
				looked, consumer, err := e.store.LookupKey(e.ctx, w.Identifier)
				check(t, err)
				wantEqual(t, kc.Key, looked)
				wantEqual(t, kc.Consumer, consumer)
			}
		})
	}
	t.Run("too many", func(t *testing.T) {
		_, err := e.store.LookupKeys(e.ctx, make([]string, 257))
		wantError(t, err, keygate.EINVALID, "identifiers")
	})
	e.wantChanges(t)
}

// withUnknown is n identifiers: ids between identifiers never issued, so
// that the known ones are neither first nor last.
func withUnknown(n int, ids ...string) []string {
	out := []string{"unknownfirst"}
	for i := 0; len(out) < n-len(ids)-1; i++ {
		out = append(out, fmt.Sprintf("unknown%04d", i))
	}
	return append(append(out, ids...), "unknownlast")
}
