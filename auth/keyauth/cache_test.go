package keyauth

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/keygate/keygate"
)

func randomIdentifier(r *rand.Rand) identifier {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var id identifier
	for i := range id {
		id[i] = alphabet[r.IntN(len(alphabet))]
	}
	return id
}

// TestCacheMatchesAMap drives the cache's hand-written table with random
// puts (keys and misses), removals and consumer purges and checks it against
// a Go map after every step, through growth, backward-shift deletion, probe
// wrap-around and identifiers moving between the keys' and the misses' tables.
func TestCacheMatchesAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	c := newCache(1<<20, 1<<20)                   // large enough that nothing is evicted
	want := map[identifier]*keygate.VerifiedKey{} // nil: a miss
	consumers := []*keygate.Consumer{{ID: "c0"}, {ID: "c1"}, {ID: "c2"}}
	var ids []identifier
	// Few shards' worth of identifiers that share their first two characters
	// crowd one shard, so that its table grows and probes collide.
	for range 3000 {
		id := randomIdentifier(r)
		if r.IntN(2) == 0 {
			id[0], id[1] = 'A', 'A'
		}
		ids = append(ids, id)
	}
	for step := range 20000 {
		id := ids[r.IntN(len(ids))]
		switch op := r.IntN(10); {
		case op < 6:
			k := &keygate.VerifiedKey{ID: string(id[:])}
			if op == 0 {
				k = nil
			}
			_, _, gen := c.get(&id, 0)
			c.put(&id, entry{key: k, consumer: consumers[r.IntN(len(consumers))], expires: 1}, gen)
			want[id] = k
		case op < 9:
			c.remove(&id)
			delete(want, id)
		default:
			purged := consumers[r.IntN(len(consumers))].ID
			c.removeConsumer(purged)
			for id, k := range want {
				if e, ok, _ := c.get(&id, 0); ok && k != nil && e.consumer.ID == purged {
					t.Fatalf("step %d: entry of purged consumer %s still cached", step, purged)
				} else if !ok {
					delete(want, id)
				} else if e.key != k {
					t.Fatalf("step %d: purge changed another entry", step)
				}
			}
		}
		if step%500 == 0 || step == 19999 {
			keys := 0
			for _, k := range want {
				if k != nil {
					keys++
				}
			}
			if st := c.stats(); c.len() != len(want) || st.Keys != keys || st.CachedMisses != len(want)-keys {
				t.Fatalf("step %d: %d entries (%d keys, %d misses), want %d (%d keys)", step, c.len(), st.Keys, st.CachedMisses, len(want), keys)
			}
			for _, id := range ids {
				e, ok, _ := c.get(&id, 0)
				if k, in := want[id]; ok != in || ok && e.key != k {
					t.Fatalf("step %d: get(%s) = %v %v, want %v %v", step, id[:], e.key, ok, k, in)
				}
			}
		}
	}
}

// TestCacheIsBounded fills the cache with many more keys and misses than it
// may hold: each kind stays within its own bound (plus at most one entry per
// shard).
func TestCacheIsBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const keys, misses = 10_000, 1_000
	c := newCache(keys, misses)
	for i := range 200_000 {
		id := randomIdentifier(r)
		e := entry{expires: 1}
		if i%2 == 0 {
			e.key = &keygate.VerifiedKey{}
		}
		_, _, gen := c.get(&id, 0)
		c.put(&id, e, gen)
	}
	st := c.stats()
	if st.Keys > keys+shardCount || st.CachedMisses > misses+shardCount || c.len() != st.Keys+st.CachedMisses {
		t.Fatalf("%d keys and %d misses cached (%d entries), limits %d and %d", st.Keys, st.CachedMisses, c.len(), keys, misses)
	}
	if st.Keys < keys*9/10 || st.CachedMisses < misses*9/10 {
		t.Errorf("%d keys and %d misses cached: the cache evicts well before it is full (%d and %d)", st.Keys, st.CachedMisses, keys, misses)
	}
	if st.Evictions != 100_000-uint64(st.Keys) || st.MissEvictions != 100_000-uint64(st.CachedMisses) {
		t.Errorf("evictions: %d keys, %d misses; want %d and %d", st.Evictions, st.MissEvictions, 100_000-st.Keys, 100_000-st.CachedMisses)
	}
}

// TestCacheMissesDoNotEvictKeys floods a full cache with made-up identifiers
// (cached as misses, as the verifier does): every key stays.
func TestCacheMissesDoNotEvictKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := newCache(shardCount*16, shardCount*4)
	var ids []identifier
	for c.stats().Keys < shardCount*16 {
		id := randomIdentifier(r)
		_, _, gen := c.get(&id, 0)
		c.put(&id, entry{key: &keygate.VerifiedKey{}, expires: 1}, gen)
		ids = append(ids, id)
	}
	var keys []identifier // those cached: a shard may have evicted some
	for _, id := range ids {
		if _, ok, _ := c.peek(&id, 0); ok {
			keys = append(keys, id)
		}
	}
	evicted := c.stats().Evictions
	for range 100_000 {
		id := randomIdentifier(r)
		_, _, gen := c.get(&id, 0)
		c.put(&id, entry{expires: 1}, gen)
	}
	for _, id := range keys {
		if e, ok, _ := c.peek(&id, 0); !ok || e.key == nil {
			t.Fatalf("key %s evicted by a flood of misses", id[:])
		}
	}
	if st := c.stats(); st.Evictions != evicted || st.MissEvictions == 0 {
		t.Errorf("evictions: %d keys, %d misses", st.Evictions, st.MissEvictions)
	}
}

// TestCacheKeepsHotKeys fills a full cache with a stream of keys seen once
// while half its room goes to keys in use: those stay (CLOCK), the others go.
func TestCacheKeepsHotKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const capacity = shardCount * 64
	c := newCache(capacity, capacity)
	load := func(id *identifier) {
		if _, ok, gen := c.get(id, 0); !ok {
			c.put(id, entry{key: &keygate.VerifiedKey{}, expires: 1}, gen)
		}
	}
	hot := make([]identifier, capacity/4)
	for i := range hot {
		hot[i] = randomIdentifier(r)
		load(&hot[i])
	}
	lost := 0
	for round := range 40 {
		for i := range hot {
			if _, ok, _ := c.peek(&hot[i], 0); !ok {
				lost++
			}
			load(&hot[i])
		}
		for range capacity / 8 {
			id := randomIdentifier(r)
			load(&id)
		}
		if round == 39 && c.stats().Evictions < capacity*2 {
			t.Fatalf("%d evictions: the test did not fill the cache", c.stats().Evictions)
		}
	}
	if lost > 0 {
		t.Errorf("keys in use were evicted %d times (of %d hot keys over 40 rounds)", lost, len(hot))
	}
}

func TestCacheEntriesExpire(t *testing.T) {
	c := newCache(100, 100)
	id := identifier([]byte("AbCdEfGhIjKl"))
	_, _, gen := c.get(&id, 0)
	c.put(&id, entry{expires: 100}, gen)
	if _, ok, _ := c.get(&id, 99); !ok {
		t.Fatal("entry gone before it expired")
	}
	if _, ok, _ := c.get(&id, 100); ok {
		t.Fatal("entry served after it expired")
	}
}

func TestCachePutAfterInvalidationIsDropped(t *testing.T) {
	c := newCache(100, 100)
	id := identifier([]byte("AbCdEfGhIjKl"))
	_, _, gen := c.get(&id, 0) // a load starts
	c.remove(&id)              // the key changes while the store is read
	c.put(&id, entry{expires: 1}, gen)
	if _, ok, _ := c.get(&id, 0); ok {
		t.Fatal("a load that raced an invalidation put stale data back")
	}
}

// A record is two whole cache lines, and shards do not share lines, so that
// a lookup reads two lines and one shard's lock does not slow its neighbours.
func TestCacheLayout(t *testing.T) {
	if size := unsafe.Sizeof(record{}); size != 128 {
		t.Errorf("record is %d bytes, want 128", size)
	}
	if size := unsafe.Sizeof(shard{}); size%64 != 0 {
		t.Errorf("shard is %d bytes, want a multiple of 64", size)
	}
	// A hit reads the lock, the hit counter, gen and the keys' table header:
	// all on the shard's first line.
	var s shard
	if end := unsafe.Offsetof(s.keys) + unsafe.Sizeof(s.keys.recs); end > 64 || unsafe.Offsetof(s.hits) >= 64 || unsafe.Offsetof(s.gen) >= 64 {
		t.Errorf("a hit reads past the shard's first cache line (keys.recs ends at %d)", end)
	}
}
