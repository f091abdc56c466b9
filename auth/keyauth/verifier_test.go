package keyauth_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/keyauth"
)

func TestVerifyCodes(t *testing.T) {
	f := newFixture(t)
	valid, _ := f.issue(t, nil)
	scoped, _ := f.issue(t, func(k *keygate.APIKey) {
		k.AllowedServices = []string{"svc-a"}
		k.AllowedRoutes = []string{"route-a"}
		k.AllowedCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
	})
	expiresAt := f.clock.Now().Add(time.Hour)
	expiring, _ := f.issue(t, func(k *keygate.APIKey) { k.ExpiresAt = &expiresAt })
	revoked, revokedRec := f.issue(t, nil)
	if _, err := f.store.RevokeKey(context.Background(), revokedRec.ID); err != nil {
		t.Fatal(err)
	}
	// Same identifier, another secret, a correct checksum: only the hash can tell.
	k, _ := f.format.Parse(valid)
	body := k.Prefix() + "_" + k.Identifier() + strings.Repeat("x", 32)
	wrongSecret := body + "_" + apikey.Checksum(body)
	unknown, _ := f.format.Generate()

	ip := netip.MustParseAddr
	tests := []struct {
		name   string
		key    string
		target keygate.Target
		want   keygate.VerifyCode
	}{
		{"valid", valid, keygate.Target{}, keygate.CodeValid},
		{"valid for any target when unrestricted", valid, keygate.Target{ServiceID: "x", RouteID: "y", IP: ip("192.0.2.1")}, keygate.CodeValid},
		{"empty", "", keygate.Target{}, keygate.CodeMalformed},
		{"garbage", "hello", keygate.Target{}, keygate.CodeMalformed},
		{"bad checksum", valid[:len(valid)-1] + flip(valid[len(valid)-1]), keygate.Target{}, keygate.CodeMalformed},
		{"unknown prefix", strings.Replace(valid, "kg_test", "kg_prod", 1), keygate.Target{}, keygate.CodeMalformed},
		{"unknown key", unknown.Reveal(), keygate.Target{}, keygate.CodeNotFound},
		{"wrong secret", wrongSecret, keygate.Target{}, keygate.CodeNotFound},
		{"revoked", revoked, keygate.Target{}, keygate.CodeRevoked},
		{"not yet expired", expiring, keygate.Target{}, keygate.CodeValid},
		{"allowed service, route and IP", scoped, keygate.Target{ServiceID: "svc-a", RouteID: "route-a", IP: ip("10.1.2.3")}, keygate.CodeValid},
		{"IPv6 in range", scoped, keygate.Target{ServiceID: "svc-a", RouteID: "route-a", IP: ip("2001:db8::1")}, keygate.CodeValid},
		{"IPv4-mapped IPv6 in range", scoped, keygate.Target{ServiceID: "svc-a", RouteID: "route-a", IP: ip("::ffff:10.0.0.1")}, keygate.CodeValid},
		{"other service", scoped, keygate.Target{ServiceID: "svc-b", RouteID: "route-a", IP: ip("10.1.2.3")}, keygate.CodeForbidden},
		{"other route", scoped, keygate.Target{ServiceID: "svc-a", RouteID: "route-b", IP: ip("10.1.2.3")}, keygate.CodeForbidden},
		{"other address", scoped, keygate.Target{ServiceID: "svc-a", RouteID: "route-a", IP: ip("192.0.2.1")}, keygate.CodeIPNotAllowed},
		{"restricted key without a service fails closed", scoped, keygate.Target{RouteID: "route-a", IP: ip("10.1.2.3")}, keygate.CodeForbidden},
		{"restricted key without an address fails closed", scoped, keygate.Target{ServiceID: "svc-a", RouteID: "route-a"}, keygate.CodeIPNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // a miss, then a cache hit: both must agree
				res := f.verify(t, tt.key, tt.target)
				if res.Code != tt.want {
					t.Fatalf("code = %s, want %s", res.Code, tt.want)
				}
				if tt.want == keygate.CodeValid && (res.Consumer == nil || res.Consumer.ID != f.consumer.ID || res.Key == nil) {
					t.Fatalf("valid result without its key and consumer: %+v", res)
				}
				if (tt.want == keygate.CodeNotFound || tt.want == keygate.CodeMalformed) && (res.Key != nil || res.Consumer != nil) {
					t.Fatalf("%s result reveals a key or consumer", res.Code)
				}
			}
		})
	}

	t.Run("expired once the clock passes expires_at", func(t *testing.T) {
		f.clock.Add(time.Hour)
		if res := f.verify(t, expiring, keygate.Target{}); res.Code != keygate.CodeExpired {
			t.Fatalf("code = %s, want EXPIRED", res.Code)
		}
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestVerifyCachesHitsAndMisses(t *testing.T) {
	f := newFixture(t)
	valid, _ := f.issue(t, nil)
	unknown, _ := f.format.Generate()
	for range 5 {
		f.verify(t, valid, keygate.Target{})
		f.verify(t, unknown.Reveal(), keygate.Target{})
		f.verify(t, "kg_test_garbage", keygate.Target{})
	}
	if n := f.lookups.reads.Load(); n != 2 {
		t.Fatalf("store reads = %d, want 2 (one per identifier; malformed keys never reach the store)", n)
	}
	t.Run("cache entries expire", func(t *testing.T) {
		f.clock.Add(6 * time.Minute)
		f.verify(t, valid, keygate.Target{})
		if n := f.lookups.reads.Load(); n != 3 {
			t.Fatalf("store reads = %d, want 3", n)
		}
	})
}

func TestVerifySeesChangesAtOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key, rec := f.issue(t, nil)
	if res := f.verify(t, key, keygate.Target{}); res.Code != keygate.CodeValid {
		t.Fatalf("code = %s, want VALID", res.Code)
	}

	t.Run("a consumer edit shows on the next verification", func(t *testing.T) {
		if _, err := f.store.UpdateConsumer(ctx, f.consumer.ID, func(c *keygate.Consumer) error {
			c.Groups = []string{"partners"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if res := f.verify(t, key, keygate.Target{}); len(res.Consumer.Groups) != 1 || res.Consumer.Groups[0] != "partners" {
			t.Fatalf("groups = %v, want [partners]", res.Consumer.Groups)
		}
	})
	t.Run("a revoke refuses the very next request", func(t *testing.T) {
		if _, err := f.store.RevokeKey(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		if res := f.verify(t, key, keygate.Target{}); res.Code != keygate.CodeRevoked {
			t.Fatalf("code = %s, want REVOKED", res.Code)
		}
	})
	t.Run("a deleted key is not found", func(t *testing.T) {
		if err := f.store.DeleteKey(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		if res := f.verify(t, key, keygate.Target{}); res.Code != keygate.CodeNotFound {
			t.Fatalf("code = %s, want NOT_FOUND", res.Code)
		}
	})
	t.Run("a key created after a cached miss is found", func(t *testing.T) {
		k, _ := f.format.Generate()
		if res := f.verify(t, k.Reveal(), keygate.Target{}); res.Code != keygate.CodeNotFound {
			t.Fatalf("code = %s, want NOT_FOUND", res.Code)
		}
		sum := f.hasher.Hash(k)
		rec := &keygate.APIKey{Consumer: keygate.Ref{ID: f.consumer.ID}, Prefix: k.Prefix(), Start: k.Start(),
			Identifier: k.Identifier(), SecretHash: sum[:], Status: keygate.KeyActive,
			AllowedServices: []string{}, AllowedRoutes: []string{}, AllowedCIDRs: []string{}, Tags: []string{}}
		if err := f.store.CreateKey(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if res := f.verify(t, k.Reveal(), keygate.Target{}); res.Code != keygate.CodeValid {
			t.Fatalf("code = %s, want VALID", res.Code)
		}
	})
}

func TestVerifyStoreDownIsAnErrorNotADenial(t *testing.T) {
	f := newFixture(t)
	key, _ := f.issue(t, nil)
	f.store.Close()
	res, err := f.verifier.VerifyKey(context.Background(), key, keygate.Target{})
	if err == nil {
		t.Fatalf("VerifyKey = %s, want an error", res.Code)
	}
	if code := keygate.ErrorCode(err); code != keygate.EUNAVAILABLE {
		t.Fatalf("error code = %s, want %s", code, keygate.EUNAVAILABLE)
	}
	if strings.Contains(err.Error(), key) || strings.Contains(keygate.ErrorMessage(err), "sql") {
		t.Fatalf("error leaks detail: %v", err)
	}
}

// While the store cannot be read, the keys in use keep working for the
// stale window past their cache lifetime; keys not cached, and cached
// misses, fail (503) rather than being refused; and the store is not asked
// again for a moment after a read failed.
func TestVerifyServesStaleWhileTheStoreIsDown(t *testing.T) {
	f := newFixture(t)
	v := keyauth.NewVerifier(f.lookups, f.format, f.hasher, keyauth.Options{Now: f.clock.Now,
		HitTTL: time.Minute, StaleWindow: 10 * time.Minute, RetryAfter: time.Second})
	cached, _ := f.issue(t, nil)
	uncached, _ := f.issue(t, nil)
	revoked, revokedKey := f.issue(t, nil)
	ctx := context.Background()
	for _, k := range []string{cached, revoked} {
		if res, err := v.VerifyKey(ctx, k, keygate.Target{}); err != nil || !res.Valid() {
			t.Fatalf("before the outage: %v %v", res.Code, err)
		}
	}
	if _, err := f.store.RevokeKey(ctx, revokedKey.ID); err != nil {
		t.Fatal(err)
	}
	v.Apply(keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, ID: revokedKey.ID, KeyIdentifier: revokedKey.Identifier})
	f.store.Close()
	f.clock.Add(5 * time.Minute) // past the cache lifetime, within the stale window

	if res, err := v.VerifyKey(ctx, cached, keygate.Target{}); err != nil || !res.Valid() {
		t.Fatalf("a cached key while the store is down: %v %v; want it served stale", res.Code, err)
	}
	for name, k := range map[string]string{"a key never cached": uncached, "a key revoked before the outage": revoked} {
		if res, err := v.VerifyKey(ctx, k, keygate.Target{}); keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
			t.Errorf("%s: %v %v; want EUNAVAILABLE (503), not a verdict", name, res.Code, err)
		}
	}
	reads := f.lookups.reads.Load()
	for range 5 {
		v.VerifyKey(ctx, uncached, keygate.Target{})
	}
	if got := f.lookups.reads.Load(); got != reads {
		t.Errorf("%d store reads right after one failed; want none for RetryAfter", got-reads)
	}
	f.clock.Add(6 * time.Minute) // past the stale window
	if _, err := v.VerifyKey(ctx, cached, keygate.Target{}); keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
		t.Fatalf("past the stale window: %v; want EUNAVAILABLE", err)
	}
}

// TestVerifyConcurrently runs verifications against revokes and consumer
// edits; run it with -race.
func TestVerifyConcurrently(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var keys []string
	var recs []*keygate.APIKey
	for range 20 {
		k, rec := f.issue(t, nil)
		keys, recs = append(keys, k), append(recs, rec)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				res, err := f.verifier.VerifyKey(ctx, keys[(i+w)%len(keys)], keygate.Target{})
				if err != nil || (res.Code != keygate.CodeValid && res.Code != keygate.CodeRevoked) {
					t.Errorf("VerifyKey = %v, %v", res.Code, err)
					return
				}
			}
		}()
	}
	for i, rec := range recs[:10] {
		if _, err := f.store.RevokeKey(ctx, rec.ID); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			f.store.UpdateConsumer(ctx, f.consumer.ID, func(c *keygate.Consumer) error { c.Tags = []string{"t"}; return nil })
		}
	}
	wg.Wait()
	for _, k := range keys[:10] {
		if res := f.verify(t, k, keygate.Target{}); res.Code != keygate.CodeRevoked {
			t.Fatalf("after revoke: %s, want REVOKED", res.Code)
		}
	}
}

// blockingLookup holds the first store read until released, to line up a
// revoke against a read that is already in flight.
type blockingLookup struct {
	keyauth.KeyLookup
	started, release chan struct{}
	once             sync.Once
}

func (b *blockingLookup) LookupKey(ctx context.Context, id string) (*keygate.APIKey, *keygate.Consumer, error) {
	k, c, err := b.KeyLookup.LookupKey(ctx, id)
	first := false
	b.once.Do(func() { first = true })
	if first {
		close(b.started)
		<-b.release
	}
	return k, c, err
}

func TestVerifyAfterRevokeDoesNotJoinAReadFromBefore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key, rec := f.issue(t, nil)
	lookup := &blockingLookup{KeyLookup: f.store, started: make(chan struct{}), release: make(chan struct{})}
	v := keyauth.NewVerifier(lookup, f.format, f.hasher, keyauth.Options{Now: f.clock.Now})
	f.verifier = v // the store's change hook now invalidates v

	early := make(chan keygate.VerifyCode)
	go func() {
		res, _ := v.VerifyKey(ctx, key, keygate.Target{})
		early <- res.Code
	}()
	<-lookup.started // the early request has read the key as active and is held
	if _, err := f.store.RevokeKey(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	late := make(chan keygate.VerifyCode)
	go func() {
		res, _ := v.VerifyKey(ctx, key, keygate.Target{})
		late <- res.Code
	}()
	select {
	case code := <-late:
		if code != keygate.CodeRevoked {
			t.Fatalf("request after the revoke returned: %s, want REVOKED", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request after the revoke waited for the read that began before it")
	}
	close(lookup.release)
	<-early
	if res := f.verify(t, key, keygate.Target{}); res.Code != keygate.CodeRevoked {
		t.Fatalf("the early read put a stale entry back: %s", res.Code)
	}
}

// TestVerifyMissFloodKeepsKeys floods the verifier with made-up identifiers
// (well-formed, never issued): they are cached as misses in a bound of their
// own, and the keys in use stay cached.
func TestVerifyMissFloodKeepsKeys(t *testing.T) {
	f := newFixture(t)
	v := keyauth.NewVerifier(f.lookups, f.format, f.hasher, keyauth.Options{Now: f.clock.Now, CacheSize: 1000, MissCacheSize: 100})
	keys := make([]string, 50)
	for i := range keys {
		keys[i], _ = f.issue(t, nil)
	}
	verifyAll := func() {
		t.Helper()
		for _, k := range keys {
			if res, err := v.VerifyKey(context.Background(), k, keygate.Target{}); err != nil || !res.Valid() {
				t.Fatalf("verify: %s %v", res.Code, err)
			}
		}
	}
	verifyAll()
	for range 3000 {
		k, _ := f.format.Generate()
		if res, err := v.VerifyKey(context.Background(), k.Reveal(), keygate.Target{}); err != nil || res.Code != keygate.CodeNotFound {
			t.Fatalf("made-up key: %s %v", res.Code, err)
		}
	}
	reads := f.lookups.reads.Load()
	verifyAll()
	if n := f.lookups.reads.Load() - reads; n != 0 {
		t.Errorf("%d keys read from the store again after a flood of made-up identifiers", n)
	}
	st := v.CacheStats()
	if st.Keys != len(keys) || st.CachedMisses > 100+256 || st.Evictions != 0 || st.MissEvictions < 2000 {
		t.Errorf("stats %+v: want %d keys, at most about 100 misses, misses evicted and no key", st, len(keys))
	}
	if st.Hits != uint64(len(keys)) || st.Misses != uint64(len(keys)+3000) {
		t.Errorf("stats %+v: want %d hits and %d misses", st, len(keys), len(keys)+3000)
	}
}

// TestVerifySharesConsumers: the cached keys of one consumer share one copy
// of it, and a change to it reaches them all.
func TestVerifySharesConsumers(t *testing.T) {
	f := newFixture(t)
	k1, _ := f.issue(t, nil)
	k2, _ := f.issue(t, nil)
	r1, r2 := f.verify(t, k1, keygate.Target{}), f.verify(t, k2, keygate.Target{})
	if r1.Consumer != r2.Consumer {
		t.Fatal("two keys of one consumer hold two copies of it")
	}
	if _, err := f.store.UpdateConsumer(context.Background(), f.consumer.ID, func(c *keygate.Consumer) error {
		c.Groups = []string{"partners"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r1, r2 = f.verify(t, k1, keygate.Target{}), f.verify(t, k2, keygate.Target{})
	if r1.Consumer != r2.Consumer || len(r1.Consumer.Groups) != 1 || r1.Consumer.Groups[0] != "partners" {
		t.Fatalf("after the change: %+v and %+v", r1.Consumer, r2.Consumer)
	}
}
