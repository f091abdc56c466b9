package keyauth

import (
	"crypto/sha256"
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"unique"
	"unsafe"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/internal/prefetch"
)

// identifier is a key identifier in fixed-size form, so that table slots
// hold it inline.
type identifier [apikey.IdentifierLen]byte

// entry is what the cache knows about one identifier. key is nil for a miss
// (no such key). get returns a copy; the cache's own storage is slot + ref.
type entry struct {
	key      *keygate.VerifiedKey
	consumer *keygate.Consumer
	// restrictions are the key's restrictions, nil when it has none. When
	// nets is set it holds all of them, and a hit checks nets alone.
	restrictions *restrictions
	nets         inlineNets
	expires      int64 // end of this entry's cache lifetime, unix ns on the verifier's clock
	keyExpires   int64 // unix ns; 0: never
	revoked      bool
	// disabled: the key or its consumer is disabled (enabled: false).
	disabled bool
	// verified says secretSum holds SHA-256 of a secret that a request proved
	// against the stored HMAC: later requests compare digests instead of
	// computing the HMAC, and the secret itself is never kept. Until then
	// secretSum holds the stored HMAC, so that no other copy of it is kept.
	verified  bool
	secretSum [sha256.Size]byte
}

// restrictions are kept out of line: most keys have none.
type restrictions struct {
	keygate.KeyRestrictions // as stored, for the verify API's answer
	// cidrs are CIDRs parsed, nil when the entry's nets hold them.
	cidrs []netip.Prefix
}

// inlineNets holds the commonest restriction — a few IPv4 networks, nothing
// else — in the cache's own line, so that checking it follows no pointer:
// with a million keys each pointer is a trip to main memory.
type inlineNets struct {
	n    uint8
	bits [maxInlineNets]uint8
	addr [maxInlineNets]uint32
}

const maxInlineNets = 4

// contains reports whether ip is in one of the networks.
func (in *inlineNets) contains(ip netip.Addr) bool {
	if !ip.Is4() {
		return false
	}
	a := ip.As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	for i := range in.n {
		if bits := in.bits[i]; bits == 0 || v>>(32-bits) == in.addr[i]>>(32-bits) {
			return true
		}
	}
	return false
}

// inline returns cidrs as inlineNets, if they fit.
func inline(cidrs []netip.Prefix) (inlineNets, bool) {
	var in inlineNets
	if len(cidrs) > maxInlineNets {
		return in, false
	}
	for _, p := range cidrs {
		if !p.Addr().Is4() {
			return in, false
		}
		a := p.Masked().Addr().As4()
		in.addr[in.n] = uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		in.bits[in.n] = uint8(p.Bits())
		in.n++
	}
	return in, true
}

// newEntry keeps of k what a request needs (keygate.VerifiedKey) and nothing
// else: a node caches up to a million keys. c is shared between the
// consumer's keys (see interner). k.SecretHash must be sha256.Size bytes.
func newEntry(k *keygate.APIKey, c *keygate.Consumer, cidrs []netip.Prefix, expires int64) entry {
	ck := &cachedKey{}
	vk := &ck.VerifiedKey
	vk.ID, vk.Lineage, vk.Status = k.ID, k.Lineage, canonicalStatus(k.Status)
	if len(k.ID) <= len(ck.id) {
		vk.ID = unsafe.String(&ck.id[0], copy(ck.id[:], k.ID))
	}
	if vk.Lineage == vk.ID {
		vk.Lineage = vk.ID // one string for both: most keys start their own lineage
	}
	if k.Plan != nil && k.Plan.ID != "" {
		vk.PlanID = unique.Make(k.Plan.ID).Value() // one string per plan, not per key
	}
	if k.ExpiresAt != nil {
		vk.ExpiresAt = *k.ExpiresAt
	}
	if k.SuccessorID != "" {
		vk.Successor = &keygate.Successor{ID: k.SuccessorID, At: k.UpdatedAt} // rotated then
	}
	if len(k.Permissions)+len(k.Roles) > 0 || c != nil && len(c.Permissions)+len(c.Roles) > 0 {
		g := &keygate.Grants{}
		g.Permissions, g.Roles = keygate.EffectivePermissions(k, c, k.RolePermissions)
		for i, p := range g.Permissions {
			g.Permissions[i] = unique.Make(p).Value() // one string per name, not per key
		}
		for i, r := range g.Roles {
			g.Roles[i] = unique.Make(r).Value()
		}
		vk.Grants = g
	}
	// Anything but active (revoked, archived) is refused as revoked, whatever
	// else the entry says.
	e := entry{key: vk, consumer: c, expires: expires, revoked: k.Status != keygate.KeyActive}
	vk.Disabled = !keygate.IsEnabled(k.Enabled)
	e.disabled = vk.Disabled || c != nil && !keygate.IsEnabled(c.Enabled)
	vk.Credits = k.Credits != nil
	if k.Name != "" || len(k.Meta) > 0 {
		vk.Info = unique.Make(keygate.KeyInfo{Name: k.Name, Meta: string(k.Meta)})
	}
	copy(e.secretSum[:], k.SecretHash)
	if k.ExpiresAt != nil {
		e.keyExpires = unixNano(*k.ExpiresAt)
	}
	if len(k.AllowedServices)+len(k.AllowedRoutes)+len(cidrs) == 0 {
		return e
	}
	// The three lists share one array, of strings shared with other keys.
	lists := make([]string, 0, len(k.AllowedServices)+len(k.AllowedRoutes)+len(k.AllowedCIDRs))
	add := func(l []string) []string {
		start := len(lists)
		for _, s := range l {
			lists = append(lists, unique.Make(s).Value())
		}
		return lists[start:len(lists):len(lists)]
	}
	r := &restrictions{KeyRestrictions: keygate.KeyRestrictions{Services: add(k.AllowedServices), Routes: add(k.AllowedRoutes), CIDRs: add(k.AllowedCIDRs)}}
	vk.Restrictions, e.restrictions = &r.KeyRestrictions, r
	if nets, ok := inline(cidrs); ok && len(k.AllowedServices)+len(k.AllowedRoutes) == 0 {
		e.nets = nets
	} else {
		r.cidrs = cidrs
	}
	return e
}

// cachedKey is a VerifiedKey with room for its id (a UUID), so that a cached
// key is one allocation: besides its bytes, each small object kept among the
// garbage that loading it makes (the store's row) leaves the memory around it
// hard to reuse, and doubled the heap per key in BenchmarkCachedKeyMemory.
type cachedKey struct {
	keygate.VerifiedKey
	id [36]byte
}

// canonicalStatus returns s as the package constant it equals, so that
// cached keys share its string rather than each keeping the store's copy.
func canonicalStatus(s keygate.KeyStatus) keygate.KeyStatus {
	for _, c := range [...]keygate.KeyStatus{keygate.KeyActive, keygate.KeyRevoked, keygate.KeyArchived} {
		if s == c {
			return c
		}
	}
	return s
}

const shardCount = 256

// cache maps identifiers to entries. It is sharded so that no lock is global,
// and bounded: when full it drops an entry, chosen by CLOCK so that keys in
// use stay. Misses (identifiers with no key) are kept in tables of their own
// with a bound of their own, because made-up identifiers with valid checksums
// are cheap to send: a flood of them pushes out other misses, never a key.
//
// Each shard's tables are open-addressing tables written for this one job
// rather than Go maps: a lookup computes one slot address and reads one cache
// line, where a map with a million entries chases several dependent pointers
// (directory, table, group) — 350 ns against 50 ns per lookup at 1M entries,
// measured on our 2-core VMs.
type cache struct {
	shards [shardCount]shard // first: the cache is allocated aligned, and so are the shards
	// keys and misses bound the two kinds of entry; written only when an
	// entry is added or dropped, never on a hit.
	keys, misses bound
}

// bound is the limit on one kind of entry.
type bound struct {
	limit int64
	// perShard bounds one shard's table, and so its size: shards fill
	// unevenly, so it is a quarter above the even share.
	perShard int
	n        atomic.Int64 // entries held, over all shards
	_        [64 - 8 - 8 - 8]byte
}

func newBound(limit int) bound {
	return bound{limit: int64(limit), perShard: max(limit/shardCount*5/4, minSlots/2)}
}

// full reports whether t, of kind b, must drop an entry before taking one.
// A shard with none of that kind takes one anyway: the bound is then
// exceeded by at most one entry per shard.
func (b *bound) full(t *table) bool {
	return t.used >= b.perShard || t.used > 0 && b.n.Load() >= b.limit
}

type shard struct {
	// What a hit reads is in the first cache line: the lock, the hit
	// counter (on the line RLock writes anyway), gen and the keys' table.
	mu   sync.RWMutex
	hits atomic.Uint64
	// gen changes on every invalidation, so that a load which read the store
	// before the invalidation does not put stale data back afterwards.
	gen    uint64
	keys   table
	misses table
	// published is keys.recs for prefetch, which takes no lock: it only
	// hints the CPU, so a table being replaced meanwhile does no harm.
	published atomic.Pointer[[]record]
	// Counters of the rarer events, on the second line.
	missHits  atomic.Uint64 // hits on cached misses
	loads     atomic.Uint64 // lookups that found nothing (or an expired entry)
	evictions [2]atomic.Uint64
	_         [192 - 24 - 8 - 8 - 2*40 - 8 - 4*8]byte // neighbouring shards' locks on separate cache lines
}

// Indices of shard.evictions.
const (
	keyEntries = iota
	missEntries
)

// table is one open-addressing table. recs: len is a power of two. Linear
// probing, no tombstones: deletion shifts the following entries back.
type table struct {
	recs []record
	used int
	hand int // CLOCK's: where eviction looks next
}

// publish makes keys.recs what prefetch reads (with the lock held).
func (s *shard) publish() {
	recs := s.keys.recs
	s.published.Store(&recs)
}

// slot holds everything a cache hit decides on, in one 64-byte cache line.
type slot struct {
	id         identifier
	used       bool
	verified   bool
	revoked    bool
	disabled   bool
	expires    int64
	keyExpires int64
	secretSum  [sha256.Size]byte
}

// ref holds what a hit hands to the caller, and the restrictions: the
// second cache line of a record.
type ref struct {
	key          *keygate.VerifiedKey
	consumer     *keygate.Consumer
	restrictions *restrictions
	nets         inlineNets
	// seen is CLOCK's reference bit: set (atomically, under the read lock)
	// by a hit, cleared by the eviction hand (under the write lock). A hit
	// writes it only when it is clear, so a hot record's line stays shared.
	seen uint32
	_    [64 - 3*8 - 24 - 4]byte
}

// record is one table entry: two cache lines, next to each other, so that
// a lookup touches one page (with a million keys, a TLB miss costs as much
// as the cache miss) and the CPU's adjacent-line prefetch brings the ref
// with the slot.
type record struct {
	slot slot
	ref  ref
}

const minSlots = 16

// newCache returns a cache holding at most about capacity keys and
// missCapacity misses (each exceeded by at most one per shard).
func newCache(capacity, missCapacity int) *cache {
	c := &cache{keys: newBound(capacity), misses: newBound(missCapacity)}
	for i := range c.shards {
		s := &c.shards[i]
		s.keys.recs, s.misses.recs = make([]record, minSlots), make([]record, minSlots)
		s.publish()
	}
	return c
}

// seed keys the placement hash. Identifiers are chosen by callers (a made-up
// one with a valid checksum costs nothing), so placement must not be
// predictable, or one could pile entries into one probe chain.
var seed = maphash.MakeSeed()

func hash(id *identifier) uint64 { return maphash.Bytes(seed, id[:]) }

func (c *cache) shard(h uint64) *shard { return &c.shards[h%shardCount] }

// home is where an identifier with hash h starts probing in a table of mask+1 slots.
func home(h uint64, mask int) int { return int(h/shardCount) & mask }

// find returns the index of id's slot, or -1.
func (t *table) find(id *identifier, h uint64) int {
	mask := len(t.recs) - 1
	for i := home(h, mask); ; i = (i + 1) & mask {
		sl := &t.recs[i].slot
		if !sl.used {
			return -1
		}
		if sl.id == *id {
			return i
		}
	}
}

// prefetch starts bringing id's record into the CPU's caches, so that with
// a million keys the trip to main memory overlaps other work of the request
// (hashing the presented secret) instead of following it.
func (c *cache) prefetch(id *identifier) {
	h := hash(id)
	recs := *c.shard(h).published.Load()
	prefetch.Lines(unsafe.Pointer(&recs[home(h, len(recs)-1)]))
}

// get returns the entry for id if it has not expired at now, and the
// shard's generation, to be passed to a later put. It counts a hit or a miss.
func (c *cache) get(id *identifier, now int64) (entry, bool, uint64) {
	return c.lookup(id, now, true)
}

// peek is get without counting.
func (c *cache) peek(id *identifier, now int64) (entry, bool, uint64) {
	return c.lookup(id, now, false)
}

func (c *cache) lookup(id *identifier, now int64, count bool) (entry, bool, uint64) {
	h := hash(id)
	s := c.shard(h)
	s.mu.RLock()
	defer s.mu.RUnlock()
	hits, t := &s.hits, &s.keys
	i := t.find(id, h)
	if i < 0 {
		hits, t = &s.missHits, &s.misses
		i = t.find(id, h)
	}
	if i < 0 || now >= t.recs[i].slot.expires {
		if count {
			s.loads.Add(1)
		}
		return entry{}, false, s.gen
	}
	sl, r := &t.recs[i].slot, &t.recs[i].ref
	if atomic.LoadUint32(&r.seen) == 0 {
		atomic.StoreUint32(&r.seen, 1)
	}
	if count {
		hits.Add(1)
	}
	return entry{key: r.key, consumer: r.consumer, restrictions: r.restrictions, nets: r.nets, expires: sl.expires,
		keyExpires: sl.keyExpires, revoked: sl.revoked, disabled: sl.disabled, verified: sl.verified, secretSum: sl.secretSum}, true, s.gen
}

// getStale returns the entry for id if its lifetime ended less than window
// ago (or has not ended).
func (c *cache) getStale(id *identifier, now, window int64) (entry, bool) {
	if window <= 0 {
		return entry{}, false
	}
	e, ok, _ := c.peek(id, now-window)
	return e, ok
}

// put stores e unless the shard was invalidated since gen was read.
func (c *cache) put(id *identifier, e entry, gen uint64) {
	h := hash(id)
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	kind, t, b, other, otherBound := keyEntries, &s.keys, &c.keys, &s.misses, &c.misses
	if e.key == nil {
		kind, t, b, other, otherBound = missEntries, &s.misses, &c.misses, &s.keys, &c.keys
	}
	if j := other.find(id, h); j >= 0 { // an identifier is in one table at most
		other.delete(j)
		otherBound.n.Add(-1)
	}
	i := t.find(id, h)
	if i < 0 {
		if b.full(t) {
			t.evict()
			b.n.Add(-1)
			s.evictions[kind].Add(1)
		} else if (t.used+1)*4 > len(t.recs)*3 {
			t.grow()
			if t == &s.keys {
				s.publish()
			}
		}
		i = t.free(h)
		t.used++
		b.n.Add(1)
	}
	t.recs[i] = record{
		slot{id: *id, used: true, verified: e.verified, revoked: e.revoked, disabled: e.disabled,
			expires: e.expires, keyExpires: e.keyExpires, secretSum: e.secretSum},
		ref{key: e.key, consumer: e.consumer, restrictions: e.restrictions, nets: e.nets}}
}

// free returns the first empty slot on the probe sequence of hash h.
func (t *table) free(h uint64) int {
	mask := len(t.recs) - 1
	i := home(h, mask)
	for t.recs[i].slot.used {
		i = (i + 1) & mask
	}
	return i
}

func (t *table) grow() {
	recs := t.recs
	t.recs = make([]record, 2*len(recs))
	for i := range recs {
		if recs[i].slot.used {
			j := t.free(hash(&recs[i].slot.id))
			t.recs[j] = recs[i]
		}
	}
}

// evict drops one entry of a table that has some, chosen by CLOCK: the hand
// sweeps the table, sparing (and unmarking) the entries hit since it last
// passed, so that keys in use stay and keys seen once go first. Sparing
// stops after one round, when every entry has been unmarked.
func (t *table) evict() {
	mask := len(t.recs) - 1
	for {
		i := t.hand & mask
		t.hand = i + 1
		r := &t.recs[i]
		if !r.slot.used {
			continue
		}
		if r.ref.seen != 0 { // the write lock is held: no hit is setting it
			r.ref.seen = 0
			continue
		}
		t.delete(i)
		return
	}
}

// delete empties used slot i, then moves back the entries after it that
// would otherwise no longer be found (backward-shift deletion).
func (t *table) delete(i int) {
	mask := len(t.recs) - 1
	for j := (i + 1) & mask; t.recs[j].slot.used; j = (j + 1) & mask {
		// Move j into the hole at i unless j's home lies cyclically in (i, j].
		if h := home(hash(&t.recs[j].slot.id), mask); (j-h)&mask >= (j-i)&mask {
			t.recs[i] = t.recs[j]
			i = j
		}
	}
	t.recs[i] = record{}
	t.used--
}

// markVerified records the digest of a proven secret on the entry, if it is
// still the same one.
func (c *cache) markVerified(id *identifier, key *keygate.VerifiedKey, secretSum *[sha256.Size]byte) {
	h := hash(id)
	s := c.shard(h)
	s.mu.Lock()
	if i := s.keys.find(id, h); i >= 0 && s.keys.recs[i].ref.key == key {
		s.keys.recs[i].slot.verified, s.keys.recs[i].slot.secretSum = true, *secretSum
	}
	s.mu.Unlock()
}

func (c *cache) remove(id *identifier) {
	h := hash(id)
	s := c.shard(h)
	s.mu.Lock()
	if i := s.keys.find(id, h); i >= 0 {
		s.keys.delete(i)
		c.keys.n.Add(-1)
	}
	if i := s.misses.find(id, h); i >= 0 {
		s.misses.delete(i)
		c.misses.n.Add(-1)
	}
	s.gen++
	s.mu.Unlock()
}

// removeConsumer drops every entry of one consumer. It walks the whole cache,
// which is fine for something as rare as editing a consumer.
func (c *cache) removeConsumer(consumerID string) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		t := &s.keys
		for j := 0; j < len(t.recs); {
			if r := &t.recs[j]; r.slot.used && r.ref.consumer != nil && r.ref.consumer.ID == consumerID {
				t.delete(j) // may shift another entry into j: look at j again
				c.keys.n.Add(-1)
				continue
			}
			j++
		}
		s.gen++
		s.mu.Unlock()
	}
}

// clear drops every entry.
func (c *cache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		c.keys.n.Add(-int64(s.keys.used))
		c.misses.n.Add(-int64(s.misses.used))
		s.keys, s.misses = table{recs: make([]record, minSlots)}, table{recs: make([]record, minSlots)}
		s.publish()
		s.gen++
		s.mu.Unlock()
	}
}

// CacheStats are the key cache's counters since the verifier started, and
// what it holds now.
type CacheStats struct {
	// Hits are lookups answered by a cached key, MissHits by a cached
	// miss (no such key); Misses went to the store (or would have).
	Hits, MissHits, Misses uint64
	// Evictions are keys dropped to make room, MissEvictions misses.
	Evictions, MissEvictions uint64
	// Keys and CachedMisses are the entries held now.
	Keys, CachedMisses int
}

func (c *cache) stats() CacheStats {
	var st CacheStats
	for i := range c.shards {
		s := &c.shards[i]
		st.Hits += s.hits.Load()
		st.MissHits += s.missHits.Load()
		st.Misses += s.loads.Load()
		st.Evictions += s.evictions[keyEntries].Load()
		st.MissEvictions += s.evictions[missEntries].Load()
	}
	st.Keys, st.CachedMisses = int(c.keys.n.Load()), int(c.misses.n.Load())
	return st
}

// len counts the cached entries, keys and misses.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += s.keys.used + s.misses.used
		s.mu.RUnlock()
	}
	return n
}
