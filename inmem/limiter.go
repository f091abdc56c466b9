package inmem

import (
	"hash/maphash"
	"sync"
	"time"
)

// Rate is a limit: Per requests per Period, with up to Burst of them at
// once. Burst 0 means 1.
type Rate struct {
	Per    int
	Period time.Duration
	Burst  int
}

// Decision is the limiter's answer for one request.
type Decision struct {
	Allowed bool
	// Limit is the burst; Remaining how many more requests of cost 1 would
	// be allowed right now.
	Limit, Remaining int
	// RetryAfter is how long until this request would be allowed (0 when
	// allowed); Reset how long until the subject is back to a full burst.
	RetryAfter, Reset time.Duration
}

// Limiter applies rates to subjects (a key id, a consumer id, an address).
// It keeps one number per subject: the theoretical arrival time (TAT) of
// GCRA, so that a decision is one map read and one write under a shard's
// lock. Entries that have fully recovered are dropped as the table grows.
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
func (l *Limiter) Allow(subject string, rate Rate, cost int) Decision {
	burst := max(rate.Burst, 1)
	if rate.Per <= 0 || rate.Period <= 0 {
		return Decision{Allowed: true, Limit: burst, Remaining: burst}
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
		return Decision{Limit: burst, Remaining: int((window - (tat - now)) / interval), RetryAfter: retry, Reset: time.Duration(tat - now)}
	}
	s.tat[subject] = next
	if !ok && len(s.tat) >= s.sweepAt {
		s.sweep(now)
	}
	s.mu.Unlock()
	return Decision{Allowed: true, Limit: burst, Remaining: int((window - (next - now)) / interval), Reset: time.Duration(next - now)}
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
