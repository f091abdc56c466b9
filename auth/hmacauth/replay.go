package hmacauth

import (
	"context"
	"errors"
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

// ReplayCache is the in-memory ReplayGuard: sharded maps from a 128-bit
// keyed hash of the key to its expiry and credential, swept as they go,
// and a count of unexpired entries per credential.
type ReplayCache struct {
	now      func() time.Time
	perShard int
	perCred  int32
	sweep    int64 // ns
	seeds    [3]maphash.Seed
	shards   [replayShards]replayShard
	owners   [replayShards]ownerShard
}

type replayShard struct {
	mu        sync.Mutex
	m         map[[2]uint64]replayEntry
	nextSweep int64
	lastSweep int64
	_         [32]byte // keep neighbouring shards' locks on separate cache lines
}

type replayEntry struct {
	expires int64  // unix ns
	owner   uint64 // keyed hash of the credential
}

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
		c.shards[i].m = map[[2]uint64]replayEntry{}
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
	h := [2]uint64{maphash.Bytes(c.seeds[0], key), maphash.Bytes(c.seeds[1], key)}
	owner := maphash.String(c.seeds[2], credential)
	s := &c.shards[h[0]%replayShards]
	now := c.now().UnixNano()
	expires := min(until.UnixNano(), now+int64(maxReplayTTL))
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[h]; ok {
		if now < e.expires {
			return true, nil
		}
		delete(s.m, h)
		c.release(e.owner, 1)
	}
	if full := len(s.m) >= c.perShard; full || now >= s.nextSweep {
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
	if len(s.m) >= c.perShard {
		c.release(owner, 1)
		return false, ErrReplayCacheFull
	}
	s.m[h] = replayEntry{expires: expires, owner: owner}
	return false, nil
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
	for k, e := range s.m {
		if now >= e.expires {
			delete(s.m, k)
			if dropped == nil {
				dropped = map[uint64]int32{}
			}
			dropped[e.owner]++
		}
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
		n += len(s.m)
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
