package inmem

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/keygate/keygate"
)

// Limiter applies rates to subjects (a key id, a consumer id, an address).
// It keeps one number per subject: the theoretical arrival time (TAT) of
// GCRA, so that a decision is one map read and one write under a shard's
// lock. Entries that have fully recovered are dropped as the table grows.
var _ keygate.RateLimiter = (*Limiter)(nil)

type Limiter struct {
	now    func() int64 // unix ns
	seed   maphash.Seed
	shards [shardCount]shard
}

const shardCount = 64

type shard struct {
	mu  sync.Mutex
	tat map[string]int64
	// sweepAt is the size at which stale entries are dropped next.
	sweepAt int
	_       [40]byte // keep neighbouring shards' locks on separate cache lines
}

// New returns a limiter on the clock now (time.Now when nil).
func New(now func() time.Time) *Limiter {
	l := &Limiter{seed: maphash.MakeSeed()}
	l.now = func() int64 { return time.Now().UnixNano() }
	if now != nil {
		l.now = func() int64 { return now().UnixNano() }
	}
	for i := range l.shards {
		l.shards[i].tat = map[string]int64{}
		l.shards[i].sweepAt = 1024
	}
	return l
}

// Allow decides one request of the given cost (its weight; at least 1) by
// subject under rate. A refused request consumes nothing.
func (l *Limiter) Allow(_ context.Context, subject string, rate keygate.Rate, cost int) (keygate.RateDecision, error) {
	burst := max(rate.Burst, 1)
	if rate.Per <= 0 || rate.Period <= 0 {
		return keygate.RateDecision{Allowed: true, Limit: burst, Remaining: burst}, nil
	}
	cost = max(cost, 1)
	interval := int64(rate.Period) / int64(rate.Per) // emission interval, ns per request
	window := interval * int64(burst)                // how far ahead TAT may run
	now := l.now()

	s := &l.shards[maphash.String(l.seed, subject)%shardCount]
	s.mu.Lock()
	tat, ok := s.tat[subject]
	if !ok || tat < now {
		tat = now
	}
	next := tat + int64(cost)*interval
	if next-now > window {
		s.mu.Unlock()
		retry := time.Duration(next - now - window)
		return keygate.RateDecision{Limit: burst, Remaining: int((window - (tat - now)) / interval), RetryAfter: retry, Reset: time.Duration(tat - now)}, nil
	}
	s.tat[subject] = next
	if !ok && len(s.tat) >= s.sweepAt {
		s.sweep(now)
	}
	s.mu.Unlock()
	return keygate.RateDecision{Allowed: true, Limit: burst, Remaining: int((window - (next - now)) / interval), Reset: time.Duration(next - now)}, nil
}

// sweep drops subjects whose TAT has passed: they behave as unseen ones.
func (s *shard) sweep(now int64) {
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
	s.sweepAt = max(1024, 2*len(s.tat))
}

// Len counts the subjects held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
