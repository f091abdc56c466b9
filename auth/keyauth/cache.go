package keyauth

import (
	"net/netip"
	"sync"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// identifier is a key identifier as a map key: fixed size, so that the map
// holds it inline and a lookup does not chase a pointer to compare strings.
type identifier [apikey.IdentifierLen]byte

// entry is what the cache knows about one identifier. Everything a cache hit
// reads is inline, so that with a million keys cached a hit costs few CPU
// cache misses; key and consumer are only handed to the caller.
type entry struct {
	key      *keygate.APIKey // nil for a miss: no such key
	consumer *keygate.Consumer
	expires  int64 // end of this entry's cache lifetime, unix ns on the verifier's clock

	revoked      bool
	keyExpires   int64         // unix ns; 0: never
	restrictions *restrictions // nil: none

	// secret is set once a request proved it against the stored hash; later
	// requests compare it in constant time instead of computing an HMAC.
	// Secrets of another length than generated ones are always hashed.
	verified bool
	secret   [apikey.SecretLen]byte
}

// restrictions are kept out of line: most keys have none, and an entry small
// enough (at most 128 bytes) is stored in the map itself rather than behind a pointer.
type restrictions struct {
	services, routes []string
	cidrs            []netip.Prefix
}

func newEntry(k *keygate.APIKey, c *keygate.Consumer, cidrs []netip.Prefix, expires int64) entry {
	e := entry{key: k, consumer: c, expires: expires, revoked: k.Status == keygate.KeyRevoked}
	if k.ExpiresAt != nil {
		e.keyExpires = k.ExpiresAt.UnixNano()
	}
	if len(k.AllowedServices)+len(k.AllowedRoutes)+len(cidrs) > 0 {
		e.restrictions = &restrictions{k.AllowedServices, k.AllowedRoutes, cidrs}
	}
	return e
}

const shardCount = 256

// cache maps identifiers to entries. It is sharded so that no lock is global,
// and bounded: a full shard drops an arbitrary entry, because made-up
// identifiers with valid checksums are cheap to send.
type cache struct {
	perShard int
	shards   [shardCount]shard
}

type shard struct {
	mu sync.RWMutex
	m  map[identifier]entry
	// gen changes on every invalidation, so that a load which read the store
	// before the invalidation does not put stale data back afterwards.
	gen uint64
	_   [32]byte // keep neighbouring shards' locks on separate cache lines
}

func newCache(capacity int) *cache {
	// Shards fill unevenly; a quarter more room keeps the cache from evicting
	// well before it holds capacity entries.
	c := &cache{perShard: max(capacity/shardCount*5/4, 64)}
	for i := range c.shards {
		c.shards[i].m = make(map[identifier]entry)
	}
	return c
}

// shard picks a shard from the identifier's first two characters: they are
// uniformly random base62 digits, so no hashing is needed.
func (c *cache) shard(id *identifier) *shard {
	return &c.shards[(uint(digit[id[0]])*62+uint(digit[id[1]]))%shardCount]
}

// digit maps a base62 character to its value.
var digit = func() (d [256]byte) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := range len(alphabet) {
		d[alphabet[i]] = byte(i)
	}
	return d
}()

// get returns the entry for id if it has not expired at now, and the
// shard's generation for a later put.
func (c *cache) get(id *identifier, now int64) (entry, bool, uint64) {
	s := c.shard(id)
	s.mu.RLock()
	e, ok := s.m[*id]
	gen := s.gen
	s.mu.RUnlock()
	return e, ok && now < e.expires, gen
}

// put stores e unless the shard was invalidated since gen was read.
func (c *cache) put(id *identifier, e entry, gen uint64) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	if _, ok := s.m[*id]; !ok && len(s.m) >= c.perShard {
		for victim := range s.m {
			delete(s.m, victim)
			break
		}
	}
	s.m[*id] = e
}

// markVerified records a proven secret on the entry, if it is still the same one.
func (c *cache) markVerified(id *identifier, key *keygate.APIKey, secret string) {
	if len(secret) != apikey.SecretLen {
		return
	}
	s := c.shard(id)
	s.mu.Lock()
	if e, ok := s.m[*id]; ok && e.key == key {
		e.verified = true
		copy(e.secret[:], secret)
		s.m[*id] = e
	}
	s.mu.Unlock()
}

func (c *cache) remove(id *identifier) {
	s := c.shard(id)
	s.mu.Lock()
	delete(s.m, *id)
	s.gen++
	s.mu.Unlock()
}

// removeConsumer drops every entry of one consumer. It walks the whole cache,
// which is fine for something as rare as editing a consumer.
func (c *cache) removeConsumer(consumerID string) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for id, e := range s.m {
			if e.consumer != nil && e.consumer.ID == consumerID {
				delete(s.m, id)
			}
		}
		s.gen++
		s.mu.Unlock()
	}
}
