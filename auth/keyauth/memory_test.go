package keyauth_test

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/keyauth"
)

// rowStore answers LookupKey as a SQL store does: every read builds a new key
// and a new consumer, each string and list its own allocation, so that what
// the verifier keeps of them is what it would keep of a real store's rows.
// (Filling SQLite with a million keys would take minutes; the store path itself
// is measured by BenchmarkCachedKeyMemory/store=sqlite.)
type rowStore struct {
	keys      map[string]*keygate.APIKey
	consumers map[string]*keygate.Consumer
}

func (s *rowStore) LookupKey(_ context.Context, id string) (*keygate.APIKey, *keygate.Consumer, error) {
	k, ok := s.keys[id]
	if !ok {
		return nil, nil, keygate.Errorf(keygate.ENOTFOUND, "key not found")
	}
	c := s.consumers[k.Consumer.ID]
	return cloneKey(k), cloneConsumer(c), nil
}

func cloneStrings(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strings.Clone(s)
	}
	return out
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

func cloneKey(k *keygate.APIKey) *keygate.APIKey {
	v := *k
	v.ID, v.Consumer.ID, v.Name, v.Prefix, v.Start = strings.Clone(k.ID), strings.Clone(k.Consumer.ID), strings.Clone(k.Name), strings.Clone(k.Prefix), strings.Clone(k.Start)
	v.Identifier, v.Status, v.Lineage = strings.Clone(k.Identifier), keygate.KeyStatus(strings.Clone(string(k.Status))), strings.Clone(k.Lineage)
	v.SecretHash = append([]byte(nil), k.SecretHash...)
	v.AllowedServices, v.AllowedRoutes, v.AllowedCIDRs, v.Tags = cloneStrings(k.AllowedServices), cloneStrings(k.AllowedRoutes), cloneStrings(k.AllowedCIDRs), cloneStrings(k.Tags)
	v.ExpiresAt, v.RevokedAt = cloneTime(k.ExpiresAt), cloneTime(k.RevokedAt)
	if k.Plan != nil {
		v.Plan = &keygate.Ref{ID: strings.Clone(k.Plan.ID)}
	}
	return &v
}

func cloneConsumer(c *keygate.Consumer) *keygate.Consumer {
	v := *c
	v.ID, v.Username, v.CustomID = strings.Clone(c.ID), strings.Clone(c.Username), strings.Clone(c.CustomID)
	v.Groups, v.Tags = cloneStrings(c.Groups), cloneStrings(c.Tags)
	if c.Plan != nil {
		v.Plan = &keygate.Ref{ID: strings.Clone(c.Plan.ID)}
	}
	return &v
}

// keyFarm is n keys over a number of consumers, as a store would hold them,
// and the full keys to present.
type keyFarm struct {
	store   *rowStore
	present []string
}

// newKeyFarm makes n keys for n/keysPerConsumer consumers; every tenth key
// is restricted to a network, every fiftieth to services and a route, every
// fifth expires, every hundredth has its own plan.
func newKeyFarm(tb testing.TB, format *apikey.Format, hasher *apikey.Hasher, n, keysPerConsumer int) *keyFarm {
	tb.Helper()
	f := &keyFarm{store: &rowStore{keys: make(map[string]*keygate.APIKey, n), consumers: map[string]*keygate.Consumer{}}, present: make([]string, n)}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	expires := created.Add(365 * 24 * time.Hour)
	for i := range n {
		cid := fmt.Sprintf("0193a5b2-0000-7000-8000-%012d", i/keysPerConsumer)
		if _, ok := f.store.consumers[cid]; !ok {
			f.store.consumers[cid] = &keygate.Consumer{ID: cid, Username: fmt.Sprintf("consumer-%d", i/keysPerConsumer),
				Groups: []string{"partners", "billing"}, Tags: []string{"tier-2"}, Plan: &keygate.Ref{ID: "0193a5b2-0000-7000-8000-plan00000001"},
				Timestamps: keygate.Timestamps{CreatedAt: created, UpdatedAt: created}}
		}
		k, err := format.Generate()
		if err != nil {
			tb.Fatal(err)
		}
		sum := hasher.Hash(k)
		id := fmt.Sprintf("0193a5b2-0001-7000-8000-%012d", i)
		rec := &keygate.APIKey{ID: id, Consumer: keygate.Ref{ID: cid}, Name: "production", Prefix: k.Prefix(), Start: k.Start(),
			Identifier: k.Identifier(), SecretHash: sum[:], Status: keygate.KeyActive, Lineage: id,
			AllowedServices: []string{}, AllowedRoutes: []string{}, AllowedCIDRs: []string{}, Tags: []string{"ci"},
			Timestamps: keygate.Timestamps{CreatedAt: created, UpdatedAt: created}}
		if i%10 == 0 {
			rec.AllowedCIDRs = []string{"10.0.0.0/8"}
		}
		if i%50 == 1 {
			rec.AllowedServices, rec.AllowedRoutes = []string{"0193a5b2-0002-7000-8000-000000000001", "0193a5b2-0002-7000-8000-000000000002"}, []string{"0193a5b2-0003-7000-8000-000000000001"}
		}
		if i%5 == 2 {
			rec.ExpiresAt = &expires
		}
		if i%100 == 3 {
			rec.Plan = &keygate.Ref{ID: "0193a5b2-0000-7000-8000-plan00000002"}
		}
		f.store.keys[k.Identifier()] = rec
		f.present[i] = k.Reveal()
	}
	return f
}

// heap is the heap after a full collection.
func heap() runtime.MemStats {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms
}

// perKey is what the verifier's heap grew by, per cached key: live is the
// bytes of its objects (HeapAlloc), inUse the memory of the spans holding
// them (HeapInuse), which is more: its small objects were allocated among
// the garbage of the store reads and keep their spans in use (until later
// garbage fills them again).
type perKey struct{ live, inUse float64 }

// cachedBytesPerKey verifies every key once (each a miss that loads it from
// the store into the cache, then a proof of its secret) and returns the heap
// the verifier gained per key.
func cachedBytesPerKey(tb testing.TB, store keyauth.KeyLookup, format *apikey.Format, hasher *apikey.Hasher, keys []string, size int) perKey {
	tb.Helper()
	ctx := context.Background()
	target := keygate.Target{ServiceID: "0193a5b2-0002-7000-8000-000000000001", RouteID: "0193a5b2-0003-7000-8000-000000000001", IP: netip.MustParseAddr("10.1.2.3")}
	before := heap()
	v := keyauth.NewVerifier(store, format, hasher, keyauth.Options{CacheSize: size})
	for _, k := range keys {
		if _, err := v.VerifyKey(ctx, k, target); err != nil {
			tb.Fatal(err)
		}
	}
	after := heap()
	runtime.KeepAlive(v)
	n := float64(len(keys))
	return perKey{live: (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n, inUse: (float64(after.HeapInuse) - float64(before.HeapInuse)) / n}
}

// BenchmarkCachedKeyMemory reports the heap a verifier keeps per cached key
// (see perKey; run with -benchtime 1x, the time per op is meaningless): keys
// loaded through LookupKey as a SQL store returns them, 100 keys per
// consumer, with a cache as shipped (room for a million keys).
func BenchmarkCachedKeyMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			format, hasher := benchFormat(b)
			farm := newKeyFarm(b, format, hasher, n, 100)
			b.ResetTimer()
			var m perKey
			for range b.N {
				m = cachedBytesPerKey(b, farm.store, format, hasher, farm.present, 0)
			}
			b.ReportMetric(m.live, "live-B/key")
			b.ReportMetric(m.inUse, "inuse-B/key")
			runtime.KeepAlive(farm)
		})
	}
	b.Run("store=sqlite/keys=20000", func(b *testing.B) {
		f := newFixture(b)
		consumers := []*keygate.Consumer{f.consumer}
		for i := range 199 {
			consumers = append(consumers, f.createConsumer(b, fmt.Sprintf("c%d", i), "staff"))
		}
		keys := make([]string, 20_000)
		for i := range keys {
			f.consumer = consumers[i%len(consumers)]
			keys[i], _ = f.issue(b, func(k *keygate.APIKey) {
				if i%10 == 0 {
					k.AllowedCIDRs = []string{"10.0.0.0/8"}
				}
			})
		}
		b.ResetTimer()
		var m perKey
		for range b.N {
			m = cachedBytesPerKey(b, f.store, f.format, f.hasher, keys, 0)
		}
		b.ReportMetric(m.live, "live-B/key")
		b.ReportMetric(m.inUse, "inuse-B/key")
	})
}

// TestCachedKeyMemory holds the verifier to at most 512 bytes of live heap
// per cached key, consumers shared. 200,000 keys fill the cache's tables
// least (just after they doubled): the most table per key.
func TestCachedKeyMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 200,000 keys")
	}
	format, hasher := benchFormat(t)
	farm := newKeyFarm(t, format, hasher, 200_000, 100)
	if m := cachedBytesPerKey(t, farm.store, format, hasher, farm.present, 0); m.live > 512 {
		t.Errorf("%.0f bytes of live heap per cached key (%.0f in use), want at most 512", m.live, m.inUse)
	} else {
		t.Logf("%.0f bytes of live heap per cached key (%.0f in use)", m.live, m.inUse)
	}
	runtime.KeepAlive(farm)
}

func benchFormat(tb testing.TB) (*apikey.Format, *apikey.Hasher) {
	tb.Helper()
	format, err := apikey.NewFormat("kg_live")
	if err != nil {
		tb.Fatal(err)
	}
	hasher, err := apikey.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	return format, hasher
}
