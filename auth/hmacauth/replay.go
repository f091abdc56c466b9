package hmacauth

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// ReplayGuard remembers accepted signatures so that each is accepted once.
// The in-memory ReplayCache serves one node; a cluster shares one through
// Redis (SET key NX with an expiry) behind the same interface.
type ReplayGuard interface {
	// Seen records key until until and reports whether it was already
	// recorded and not yet expired. An error means the guard cannot tell;
	// the request then fails (503) rather than risk a replay.
	Seen(ctx context.Context, key string, until time.Time) (bool, error)
}

// ErrReplayCacheFull is returned when a shard of the cache holds its share
// of MaxEntries unexpired signatures: refusing is safer than forgetting one.
var ErrReplayCacheFull = errors.New("hmacauth: replay cache full")

// ReplayOptions tune a ReplayCache; zero values take the defaults.
type ReplayOptions struct {
	Now func() time.Time
	// MaxEntries bounds the signatures remembered (default 4,194,304,
	// about 150 MB at most). Each accepted request adds one for about
	// clock_skew seconds: 4M covers 10,000 signed requests a second with
	// the default skew of 300 s.
	MaxEntries int
	// SweepInterval is how often a shard drops its expired entries
	// (default 10 s); a full shard sweeps at once.
	SweepInterval time.Duration
}

const replayShards = 64

// fullSweepGap is the least time between two sweeps of a full shard.
const fullSweepGap = 100 * time.Millisecond

// ReplayCache is the in-memory ReplayGuard: sharded maps from a 128-bit
// keyed hash of the key to its expiry, swept as they go.
type ReplayCache struct {
	now      func() time.Time
	perShard int
	sweep    int64 // ns
	seeds    [2]maphash.Seed
	shards   [replayShards]replayShard
}

type replayShard struct {
	mu        sync.Mutex
	m         map[[2]uint64]int64 // expiry, unix ns
	nextSweep int64
	lastSweep int64
	_         [32]byte // keep neighbouring shards' locks on separate cache lines
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
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 10 * time.Second
	}
	c := &ReplayCache{now: opts.Now, perShard: max(opts.MaxEntries/replayShards, 1), sweep: int64(opts.SweepInterval),
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range c.shards {
		c.shards[i].m = map[[2]uint64]int64{}
	}
	return c
}

// Seen implements ReplayGuard. Keys are hashed with random seeds, so that
// no one can aim collisions at a shard or at another's signature.
func (c *ReplayCache) Seen(_ context.Context, key string, until time.Time) (bool, error) {
	h := [2]uint64{maphash.String(c.seeds[0], key), maphash.String(c.seeds[1], key)}
	s := &c.shards[h[0]%replayShards]
	now := c.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.m[h]; ok && now < exp {
		return true, nil
	}
	if full := len(s.m) >= c.perShard; full || now >= s.nextSweep {
		// A full shard sweeps at once, but not on every request while it
		// stays full: each sweep walks the whole shard.
		if now >= s.nextSweep || now-s.lastSweep >= int64(fullSweepGap) {
			s.dropExpired(now)
			s.lastSweep, s.nextSweep = now, now+c.sweep
		}
		if len(s.m) >= c.perShard {
			return false, ErrReplayCacheFull
		}
	}
	s.m[h] = until.UnixNano()
	return false, nil
}

func (s *replayShard) dropExpired(now int64) {
	for k, exp := range s.m {
		if now >= exp {
			delete(s.m, k)
		}
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
