package inmem

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
)

// Limiter is a keygate.RateLimiter for one node. A subject's counters live
// in one of 64 shards, picked by its ID, each a map under its own mutex, so
// that a decision takes one uncontended lock, one or two map reads and no
// allocation once the subject is known. Counters that have fully recovered
// are dropped as a shard grows.
type Limiter struct {
	shards [shardCount]shard // first: as aligned as the allocation
	now    func() int64      // unix ns
	seed   maphash.Seed
}

var _ keygate.RateLimiter = (*Limiter)(nil)

const shardCount = 64

type shard struct {
	mu sync.Mutex
	// Counters shared by a subject's routes, by Subject.ID, and those of a
	// subject on one route. Two maps rather than one with a flag in the
	// key: the common lookup hashes one string, and an empty Route still
	// has counters apart from the shared ones.
	shared map[string]*counters
	routed map[routeKey]*counters
	// sweepAt is the size at which recovered counters are dropped next.
	sweepAt int
	_       [64 - 8 - 8 - 8 - 8]byte // one cache line per shard: no false sharing of locks
}

// routeKey is a comparable struct rather than a joined string, so that a
// lookup builds nothing.
type routeKey struct{ id, route string }

// counters is the state of the limits counted under one key: the rate's
// GCRA theoretical arrival time (TAT) and, per period, the window last
// counted in and how much of it was used.
type counters struct {
	tat    int64 // unix ns
	quotas [keygate.PeriodCount]window
}

type window struct {
	end  int64 // unix ns; a window is known by its end
	used int64
}

// recovered reports whether c is indistinguishable from no counters at all.
func (c *counters) recovered(now int64) bool {
	if c.tat > now {
		return false
	}
	for _, w := range c.quotas {
		if w.used > 0 && w.end > now {
			return false
		}
	}
	return true
}

// New returns a limiter on the clock now (time.Now when nil).
func New(now func() time.Time) *Limiter {
	l := &Limiter{seed: maphash.MakeSeed()}
	l.now = newWallClock().now
	if now != nil {
		l.now = func() int64 { return now().UnixNano() }
	}
	for i := range l.shards {
		l.shards[i].shared = map[string]*counters{}
		l.shards[i].routed = map[routeKey]*counters{}
		l.shards[i].sweepAt = 1024
	}
	return l
}

// Allow decides one request of the given cost (its weight; below 1 counts
// as 1) by s against every limit in lim: GCRA for the rate, a counter per
// UTC calendar window for each quota. It is allowed only if every limit
// allows it, and only then is anything consumed.
//
// A cost that a limit can never allow (above the burst or the quota) is
// refused with RetryAfter the longest wait that limit ever asks for: a full
// burst's refill (Burst × Interval) for a rate, the window's end for a
// quota. Retrying then will be refused again, but a client that honours it
// does not spin.
//
// The error is always nil.
func (l *Limiter) Allow(_ context.Context, s keygate.Subject, lim *keygate.Limits, cost int) (keygate.LimitDecision, error) {
	d := keygate.LimitDecision{Allowed: true}
	if lim == nil {
		return d, nil
	}
	// Which keys this decision reads: unscoped (0) and per route (1).
	var need [2]bool
	hasRate := lim.Rate.Interval > 0
	if hasRate {
		need[scope(lim.RateOnRoute)] = true
	}
	for _, q := range lim.Quotas {
		if q.Limit > 0 {
			need[scope(q.OnRoute)] = true
		}
	}
	if !need[0] && !need[1] {
		return d, nil
	}
	c := int64(max(cost, 1))
	now := l.now()
	var ends [keygate.PeriodCount]int64 // unix ns
	sec := floorDiv(now, 1e9)
	for i, q := range lim.Quotas {
		if q.Limit > 0 {
			ends[i] = windowEnd(keygate.Period(i+1), sec) * 1e9
		}
	}

	// Both keys of a subject hash by its ID alone, so they are in one shard
	// and one lock makes the decision atomic.
	sh := &l.shards[maphash.String(l.seed, s.ID)%shardCount]
	sh.mu.Lock()
	var (
		cur   [2]*counters // held, or fresh: nothing is written unless allowed
		fresh [2]counters  // for keys not held yet, inserted only if allowed
	)
	if need[0] {
		if cur[0] = sh.shared[s.ID]; cur[0] == nil {
			cur[0] = &fresh[0]
		}
	}
	if need[1] {
		if cur[1] = sh.routed[routeKey{s.ID, s.Route}]; cur[1] == nil {
			cur[1] = &fresh[1]
		}
	}

	// The rate.
	var interval, burst, tau, tat, next int64
	var retry int64
	if hasRate {
		interval, burst = int64(lim.Rate.Interval), int64(max(lim.Rate.Burst, 1))
		tau = satMul(interval, burst) // how far ahead of now the TAT may run
		tat = max(cur[scope(lim.RateOnRoute)].tat, now)
		switch {
		case c > burst:
			d.Allowed, retry = false, tau
		case tat+c*interval-now > tau:
			next = tat + c*interval
			d.Allowed, retry = false, next-now-tau
		default:
			next = tat + c*interval
		}
	}
	// The quotas.
	var used [keygate.PeriodCount]int64
	for i, q := range lim.Quotas {
		if q.Limit <= 0 {
			continue
		}
		if w := cur[scope(q.OnRoute)].quotas[i]; w.end == ends[i] {
			used[i] = w.used
		}
		if c > q.Limit-used[i] {
			d.Allowed, retry = false, max(retry, ends[i]-now)
		}
	}

	if d.Allowed {
		if hasRate {
			cur[scope(lim.RateOnRoute)].tat = next
			tat = next
		}
		for i, q := range lim.Quotas {
			if q.Limit > 0 {
				used[i] += c
				cur[scope(q.OnRoute)].quotas[i] = window{end: ends[i], used: used[i]}
			}
		}
		for i := range need {
			if need[i] && cur[i] == &fresh[i] {
				p := new(counters)
				*p = fresh[i]
				if i == 0 {
					sh.shared[s.ID] = p
				} else {
					sh.routed[routeKey{s.ID, s.Route}] = p
				}
				if len(sh.shared)+len(sh.routed) >= sh.sweepAt {
					sh.sweep(now)
				}
			}
		}
	}
	sh.mu.Unlock()

	d.RetryAfter = time.Duration(retry)
	if hasRate {
		d.Rate = keygate.LimitState{Limit: burst, Remaining: max((tau-(tat-now))/interval, 0), Reset: time.Duration(tat - now)}
	}
	for i, q := range lim.Quotas {
		if q.Limit > 0 {
			d.Quotas[i] = keygate.LimitState{Limit: q.Limit, Remaining: max(q.Limit-used[i], 0), Reset: time.Duration(ends[i] - now)}
		}
	}
	return d, nil
}

// wallClock is time.Now().UnixNano() at half the cost: the wall clock at
// an anchor plus the monotonic time since, which is one clock read rather
// than two (time.Now costs ~45 ns on a VM, half a decision's budget).
// Re-anchoring every second follows steps of the wall clock, as NTP makes,
// within a second.
type wallClock struct{ anchor atomic.Pointer[anchor] }

type anchor struct {
	t    time.Time // with its monotonic reading
	wall int64     // t.UnixNano()
}

func newWallClock() *wallClock {
	c := &wallClock{}
	t := time.Now()
	c.anchor.Store(&anchor{t, t.UnixNano()})
	return c
}

func (c *wallClock) now() int64 {
	a := c.anchor.Load()
	if d := time.Since(a.t); d >= 0 && d < time.Second {
		return a.wall + int64(d)
	}
	t := time.Now()
	c.anchor.Store(&anchor{t, t.UnixNano()})
	return t.UnixNano()
}

func scope(onRoute bool) int {
	if onRoute {
		return 1
	}
	return 0
}

// satMul is a*b for positive a and b, or MaxInt64 if that overflows.
func satMul(a, b int64) int64 {
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// sweep drops counters that have fully recovered: they behave as unseen
// ones. The next sweep waits until the shard has doubled, so the cost is
// amortised over the insertions.
func (s *shard) sweep(now int64) {
	for k, c := range s.shared {
		if c.recovered(now) {
			delete(s.shared, k)
		}
	}
	for k, c := range s.routed {
		if c.recovered(now) {
			delete(s.routed, k)
		}
	}
	s.sweepAt = max(1024, 2*(len(s.shared)+len(s.routed)))
}

// Len counts the counters held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.shared) + len(s.routed)
		s.mu.Unlock()
	}
	return n
}
