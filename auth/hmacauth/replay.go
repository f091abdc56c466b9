package hmacauth

import (
	"context"
	"errors"
	"github.com/keygate/keygate/internal/prefetch"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ReplayGuard remembers accepted signatures so that each is accepted once.
// The in-memory ReplayCache serves one node; a cluster shares one through
// Redis (SET key NX with an expiry, and a per-credential counter) behind
// the same interface.
type ReplayGuard interface {
	// Seen records key, a signature made with credential (its username),
	// until until and reports whether it was already recorded and not yet
	// expired. It returns ErrReplayQuota, recording nothing, when
	// credential already has its share of the guard; the request is then
	// refused (401) rather than the guard filled for every credential. Any
	// other error means the guard cannot tell; the request then fails (503)
	// rather than risk a replay.
	Seen(ctx context.Context, credential, key string, until time.Time) (bool, error)
}

var (
	// ErrReplayCacheFull is returned when a shard of the cache holds its
	// share of MaxEntries unexpired signatures: refusing is safer than
	// forgetting one.
	ErrReplayCacheFull = errors.New("hmacauth: replay cache full")
	// ErrReplayQuota is returned when a credential has MaxPerCredential
	// unexpired signatures remembered.
	ErrReplayQuota = errors.New("hmacauth: too many signatures in flight for this credential")
)

// ReplayOptions tune a ReplayCache; zero values take the defaults.
type ReplayOptions struct {
	Now func() time.Time
	// MaxEntries bounds the signatures remembered (default 4,194,304,
	// about 200 MB at most). Each accepted request adds one for about
	// clock_skew seconds (the largest of any route): 4M covers 10,000
	// signed requests a second with the default skew of 300 s.
	MaxEntries int
	// MaxPerCredential bounds the signatures remembered for one credential
	// (default MaxEntries/8: about 1,700 requests a second, sustained, with
	// the default skew), so that one credential cannot fill the cache and
	// have every other refused. Past it, that credential's new signatures
	// are refused until its entries expire and are swept.
	MaxPerCredential int
	// SweepInterval is how often a shard drops its expired entries
	// (default 10 s); a full shard sweeps at once.
	SweepInterval time.Duration
}

const replayShards = 64

// fullSweepGap is the least time between two sweeps of a full shard.
const fullSweepGap = 100 * time.Millisecond

// maxReplayTTL caps how long an entry is kept, whatever until it is given:
// a signature's time may be up to the largest skew ahead of the clock, and
// is remembered for the largest skew after it.
const maxReplayTTL = (2*maxClockSkew + 1) * time.Second

// ReplayCache is the in-memory ReplayGuard: sharded tables of keyed hashes
// of the keys with their expiry and credential, swept as they go, and a
// count of unexpired entries per credential.
//
// The tables are open-addressing tables written for this one job rather
// than Go maps: every accepted request adds a signature no one has seen, at
// a random place in a table of up to millions, so the cost is the memory
// read. A lookup here reads one or two slots next to each other, which the
// verifier prefetches while it computes the MAC, where a map chases
// several dependent pointers (directory, table, group) one after the
// other: replay protection's cost per request fell from 450–670 ns to
// 155–380 ns of CPU on our loaded 2-core VM (BenchmarkHMACReplayCost,
// docs/benchmarks.md).
type ReplayCache struct {
	now       func() time.Time
	perShard  int
	perCred   int32
	sweep     int64 // ns
	seeds     [3]maphash.Seed
	shards    [replayShards]replayShard
	owners    [replayShards]ownerShard
	published [replayShards]publishedTable
}

type replayShard struct {
	mu sync.Mutex
	// slots: len a power of two, at most half full, so that probes are
	// short. Linear probing, no tombstones: deletion shifts the following
	// entries back.
	slots     []replaySlot
	n         int // entries, expired ones not yet swept included
	nextSweep int64
	lastSweep int64
	// published is the table for prefetch, in ReplayCache.published.
	published *publishedTable
	_         [64 - 8 - 24 - 4*8]byte // keep neighbouring shards' locks on separate cache lines
}

// publishedTable is a shard's table for prefetch, which takes no lock: its
// first slot and its mask, published in that order when the table grows
// and read in the other, so that a stale pair still addresses a slot of
// the table read (tables only grow). They are kept together, apart from
// the shards, so that they stay in the CPU's caches.
type publishedTable struct {
	first atomic.Pointer[replaySlot]
	mask  atomic.Uint64
}

// replaySlot is one remembered signature. Its identity is a 64-bit keyed
// hash, whose low bits also place it: another signature is taken for it
// (and refused as a replay) with a chance of one in 2^64 per entry of its
// shard, at most 2^-48 per request with the default bounds full.
type replaySlot struct {
	tag     uint64 // keyed hash of the key, never 0: 0 marks an empty slot
	owner   uint64 // keyed hash of the credential
	expires int64  // unix ns
}

// minReplaySlots is a shard's first table size.
const minReplaySlots = 16

// ownerShard counts the unexpired entries of credentials. A shard's lock
// is taken under a replayShard's, never the other way round.
type ownerShard struct {
	mu sync.Mutex
	n  map[uint64]int32
	_  [40]byte
}

var _ ReplayGuard = (*ReplayCache)(nil)

// NewReplayCache returns an empty cache.
func NewReplayCache(opts ReplayOptions) *ReplayCache {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 1 << 22
	}
	if opts.MaxPerCredential <= 0 {
		opts.MaxPerCredential = max(opts.MaxEntries/8, 1)
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 10 * time.Second
	}
	c := &ReplayCache{now: opts.Now, perShard: max(opts.MaxEntries/replayShards, 1),
		perCred: int32(min(opts.MaxPerCredential, opts.MaxEntries, 1<<30)), sweep: int64(opts.SweepInterval),
		seeds: [3]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range c.shards {
		c.shards[i].published = &c.published[i]
		c.shards[i].setSlots(make([]replaySlot, minReplaySlots))
		c.owners[i].n = map[uint64]int32{}
	}
	return c
}

// Seen implements ReplayGuard. Keys and credentials are hashed with random
// seeds, so that no one can aim collisions at a shard or at another's
// signature.
func (c *ReplayCache) Seen(_ context.Context, credential, key string, until time.Time) (bool, error) {
	return c.seen(credential, unsafe.Slice(unsafe.StringData(key), len(key)), until)
}

// seen is Seen for a key in bytes, which the verifier calls directly: a
// MAC passed as a string through the interface costs a copy on the heap.
func (c *ReplayCache) seen(credential string, key []byte, until time.Time) (bool, error) {
	return c.seenKey(credential, c.key(key), until)
}

// replayKey is a key as the cache places it.
type replayKey struct {
	tag   uint64 // never 0
	shard *replayShard
}

func (c *ReplayCache) key(key []byte) replayKey {
	return replayKey{tag: max(maphash.Bytes(c.seeds[0], key), 1), shard: &c.shards[maphash.Bytes(c.seeds[1], key)%replayShards]}
}

// prefetch starts bringing the slot where k goes into the CPU's caches
// without waiting for it. The verifier calls it with the presented
// signature before it computes the MAC, so that with many signatures
// remembered the trip to main memory overlaps that work instead of
// following it.
func (c *ReplayCache) prefetch(k replayKey) {
	t := k.shard.published
	mask := t.mask.Load()
	prefetch.Lines(unsafe.Add(unsafe.Pointer(t.first.Load()), uintptr(k.tag&mask)*unsafe.Sizeof(replaySlot{})))
	prefetch.Lines(unsafe.Pointer(k.shard)) // its lock
}

// seenKey is seen for a key hashed.
func (c *ReplayCache) seenKey(credential string, k replayKey, until time.Time) (bool, error) {
	tag, s := k.tag, k.shard
	owner := maphash.String(c.seeds[2], credential)
	now := c.now().UnixNano()
	expires := min(until.UnixNano(), now+int64(maxReplayTTL))
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.find(tag); ok {
		e := s.slots[i]
		if now < e.expires {
			return true, nil
		}
		s.remove(i)
		c.release(e.owner, 1)
	}
	if full := s.n >= c.perShard; full || now >= s.nextSweep {
		// A full shard sweeps at once, but not on every request while it
		// stays full: each sweep walks the whole shard.
		if now >= s.nextSweep || now-s.lastSweep >= int64(fullSweepGap) {
			c.dropExpired(s, now)
			s.lastSweep, s.nextSweep = now, now+c.sweep
		}
	}
	if !c.take(owner) {
		return false, ErrReplayQuota
	}
	if s.n >= c.perShard {
		c.release(owner, 1)
		return false, ErrReplayCacheFull
	}
	s.insert(replaySlot{tag: tag, owner: owner, expires: expires})
	return false, nil
}

// find returns the slot holding tag (ok) or else the empty slot that ends
// its probe.
func (s *replayShard) find(tag uint64) (i int, ok bool) {
	mask := uint64(len(s.slots) - 1)
	for j := tag & mask; ; j = (j + 1) & mask {
		switch s.slots[j].tag {
		case tag:
			return int(j), true
		case 0:
			return int(j), false
		}
	}
}

// insert adds e, whose tag is not in the table, growing the table to keep
// it at most half full.
func (s *replayShard) insert(e replaySlot) {
	if 2*(s.n+1) > len(s.slots) {
		old := s.slots
		s.setSlots(make([]replaySlot, 2*len(old)))
		for _, o := range old {
			if o.tag != 0 {
				i, _ := s.find(o.tag)
				s.slots[i] = o
			}
		}
	}
	i, _ := s.find(e.tag)
	s.slots[i] = e
	s.n++
}

// setSlots makes slots the table, with the lock held.
func (s *replayShard) setSlots(slots []replaySlot) {
	s.slots = slots
	s.published.first.Store(&slots[0])
	s.published.mask.Store(uint64(len(slots) - 1))
}

// remove empties slot i, moving back each following entry of the probe
// run whose place is at or before the hole, so that every probe still
// reaches its entry without crossing an empty slot.
func (s *replayShard) remove(i int) {
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; s.slots[j].tag != 0; j = (j + 1) & mask {
		// The entry at j may move to the hole at i if its place is not
		// after i: i lies on its probe from its place to j.
		if place := int(s.slots[j].tag & uint64(mask)); (j-place)&mask >= (j-i)&mask {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = replaySlot{}
	s.n--
}

// take counts one more entry for owner unless it has its share.
func (c *ReplayCache) take(owner uint64) bool {
	o := &c.owners[owner%replayShards]
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n[owner] >= c.perCred {
		return false
	}
	o.n[owner]++
	return true
}

// release counts n fewer entries for owner.
func (c *ReplayCache) release(owner uint64, n int32) {
	o := &c.owners[owner%replayShards]
	o.mu.Lock()
	defer o.mu.Unlock()
	if left := o.n[owner] - n; left > 0 {
		o.n[owner] = left
	} else {
		delete(o.n, owner)
	}
}

// dropExpired sweeps shard s, whose lock is held.
func (c *ReplayCache) dropExpired(s *replayShard, now int64) {
	var dropped map[uint64]int32
	for i := 0; i < len(s.slots); {
		e := s.slots[i]
		if e.tag == 0 || now < e.expires {
			i++
			continue
		}
		// A following entry may move into i: look at i again. Entries only
		// move back within their run, so none skips the sweep.
		s.remove(i)
		if dropped == nil {
			dropped = map[uint64]int32{}
		}
		dropped[e.owner]++
	}
	for owner, n := range dropped {
		c.release(owner, n)
	}
}

// Len returns the number of signatures remembered, expired ones not yet
// swept included.
func (c *ReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// defaultReplay is the guard of authenticators given none: one per process,
// so that a signature accepted on one route is not accepted on another.
var defaultReplay = sync.OnceValue(func() *ReplayCache { return NewReplayCache(ReplayOptions{}) })

// replayWindow is the largest clock_skew, in seconds, of any route built in
// this process with replay protection. Routes share one guard (and,
// through Redis, so do nodes), so a signature must be remembered until its
// time falls out of the widest window that could accept it — not only the
// window of the route that took it, or a route with a wider skew would
// take it again. It only grows: after a reload that narrows every route,
// entries live longer than needed, which is safe and bounded (MaxEntries,
// maxClockSkew).
var replayWindow atomic.Int64

func widenReplayWindow(skew int64) {
	for {
		cur := replayWindow.Load()
		if skew <= cur || replayWindow.CompareAndSwap(cur, skew) {
			return
		}
	}
}
