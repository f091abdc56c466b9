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
// puts, removals and consumer purges and checks it against a Go map after
// every step, through growth, backward-shift deletion and probe wrap-around.
func TestCacheMatchesAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	c := newCache(1 << 20) // large enough that nothing is evicted
	want := map[identifier]*keygate.APIKey{}
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
			k := &keygate.APIKey{ID: string(id[:])}
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
				if e, ok, _ := c.get(&id, 0); ok && e.consumer.ID == purged {
					t.Fatalf("step %d: entry of purged consumer %s still cached", step, purged)
				} else if !ok {
					delete(want, id)
				} else if e.key != k {
					t.Fatalf("step %d: purge changed another entry", step)
				}
			}
		}
		if step%500 == 0 || step == 19999 {
			if c.len() != len(want) {
				t.Fatalf("step %d: %d entries, want %d", step, c.len(), len(want))
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

func TestCacheIsBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := newCache(shardCount * 100)
	for range 500_000 {
		id := randomIdentifier(r)
		_, _, gen := c.get(&id, 0)
		c.put(&id, entry{expires: 1}, gen)
	}
	if n, limit := c.len(), shardCount*c.perShard; n > limit {
		t.Fatalf("%d entries cached, limit %d", n, limit)
	}
}

func TestCacheEntriesExpire(t *testing.T) {
	c := newCache(100)
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
	c := newCache(100)
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
}
