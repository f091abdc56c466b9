package inmem

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/ratelimittest"
)

// Indexes of Limits.Quotas and LimitDecision.Quotas.
const minute, hour, day, month = 0, 1, 2, 3

// clock is a settable clock for the limiter.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }

func newTestLimiter(t time.Time) (*Limiter, *clock) {
	c := &clock{}
	c.set(t)
	return New(c.now), c
}

// allow asks the limiter, which never fails.
func allow(l *Limiter, s keygate.Subject, lim *keygate.Limits, cost int) keygate.LimitDecision {
	d, _ := l.Allow(context.Background(), s, lim, cost)
	return d
}

func TestSemantics(t *testing.T) {
	ratelimittest.RunSemantics(t, func(t *testing.T) ratelimittest.Harness {
		// Inside every calendar window, so that only advance moves time.
		l, c := newTestLimiter(time.Date(2030, 1, 15, 10, 20, 30, 500_000_000, time.UTC))
		return ratelimittest.Harness{
			Limiter:   l,
			Advance:   func(_ testing.TB, d time.Duration) { c.advance(d) },
			Now:       func(testing.TB) time.Time { return c.now() },
			Tolerance: 0,
		}
	})
}

// At the last second of a month, every window ends a second later, and the
// next request counts in new ones.
func TestCalendarWindows(t *testing.T) {
	lim := &keygate.Limits{Quotas: [4]keygate.Quota{{Limit: 1}, {Limit: 1}, {Limit: 1}, {Limit: 1}}}
	for _, tc := range []struct {
		last      time.Time // the last instant of a month
		nextMonth time.Duration
	}{
		{time.Date(2030, 1, 31, 23, 59, 59, 0, time.UTC), 28 * 24 * time.Hour},
		{time.Date(2028, 2, 29, 23, 59, 59, 999_999_999, time.UTC), 31 * 24 * time.Hour}, // leap year
		{time.Date(2029, 12, 31, 23, 59, 59, 0, time.UTC), 31 * 24 * time.Hour},
		{time.Date(2030, 4, 30, 23, 59, 59, 0, time.UTC), 31 * 24 * time.Hour},
		{time.Date(2100, 2, 28, 23, 59, 59, 0, time.UTC), 31 * 24 * time.Hour}, // not a leap year
	} {
		t.Run(tc.last.Format(time.DateOnly), func(t *testing.T) {
			l, c := newTestLimiter(tc.last)
			s := keygate.Subject{ID: "k"}
			left := time.Date(tc.last.Year(), tc.last.Month(), tc.last.Day()+1, 0, 0, 0, 0, time.UTC).Sub(tc.last)
			d := allow(l, s, lim, 1)
			for p, q := range d.Quotas {
				if !d.Allowed || q.Remaining != 0 || q.Reset != left {
					t.Fatalf("first request, %s: %+v, want reset in %v", keygate.Period(p+1), d, left)
				}
			}
			if d := allow(l, s, lim, 1); d.Allowed || d.RetryAfter != left {
				t.Fatalf("second request in the same second: %+v", d)
			}
			c.advance(left)
			d = allow(l, s, lim, 1)
			want := [4]time.Duration{time.Minute, time.Hour, 24 * time.Hour, tc.nextMonth}
			for p, q := range d.Quotas {
				if !d.Allowed || q.Remaining != 0 || q.Reset != want[p] {
					t.Fatalf("first request of the next month, %s: %+v, want reset in %v", keygate.Period(p+1), d, want[p])
				}
			}
		})
	}
}

// windowEnd agrees with keygate.Period.Window on every day of five
// centuries, at several times of day, and at random instants.
func TestWindowEnd(t *testing.T) {
	check := func(at time.Time) {
		for p := keygate.Minute; p <= keygate.Month; p++ {
			_, end := p.Window(at)
			if got := windowEnd(p, at.Unix()); got != end.Unix() {
				t.Fatalf("%s window of %v ends at %v, want %v", p, at, time.Unix(got, 0).UTC(), end)
			}
		}
	}
	for day := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2400; day = day.AddDate(0, 0, 1) {
		for _, tod := range []time.Duration{0, time.Second, 12*time.Hour + 34*time.Minute + 56*time.Second, 24*time.Hour - time.Second} {
			check(day.Add(tod))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		check(time.Unix(r.Int64N(1<<36)-1<<35, 0))
	}
}

// With the clock stopped, concurrent requests get exactly the burst and
// the quotas, never more.
func TestConcurrent(t *testing.T) {
	l, _ := newTestLimiter(time.Date(2030, 1, 15, 10, 20, 30, 0, time.UTC))
	rate := &keygate.Limits{Rate: keygate.Rate{Interval: time.Second, Burst: 50}}
	quota := &keygate.Limits{Quotas: [4]keygate.Quota{hour: {Limit: 70, OnRoute: true}, day: {Limit: 100}}}
	var rated, quotaA, quotaB atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				if allow(l, keygate.Subject{ID: "shared"}, rate, 1).Allowed {
					rated.Add(1)
				}
				if allow(l, keygate.Subject{ID: "quota", Route: "a"}, quota, 1).Allowed {
					quotaA.Add(1)
				}
				if allow(l, keygate.Subject{ID: "quota", Route: "b"}, quota, 1).Allowed {
					quotaB.Add(1)
				}
				allow(l, keygate.Subject{ID: fmt.Sprint("own-", g, "-", i%10)}, rate, 1)
			}
		})
	}
	wg.Wait()
	if rated.Load() != 50 {
		t.Errorf("allowed %d, want the burst of 50", rated.Load())
	}
	// Each route has 70 of its own per hour, both share 100 per day.
	if a, b := quotaA.Load(), quotaB.Load(); a+b != 100 || a > 70 || b > 70 {
		t.Errorf("allowed %d on a and %d on b, want 100 in all and at most 70 each", a, b)
	}
}

// Counters are forgotten once every limit has recovered, and only then:
// a quota used this month outlives the rate's recovery.
func TestSweep(t *testing.T) {
	l, c := newTestLimiter(time.Date(2030, 1, 15, 10, 20, 30, 0, time.UTC))
	kept := keygate.Subject{ID: "monthly"}
	monthly := &keygate.Limits{Rate: keygate.Rate{Interval: time.Millisecond, Burst: 1}, Quotas: [4]keygate.Quota{month: {Limit: 1}}}
	if !allow(l, kept, monthly, 1).Allowed {
		t.Fatal("first monthly request refused")
	}
	rate := &keygate.Limits{Rate: keygate.Rate{Interval: 10 * time.Millisecond, Burst: 1}}
	for i := range 200_000 {
		allow(l, keygate.Subject{ID: fmt.Sprint("subject-", i)}, rate, 1)
		if i%1000 == 999 {
			c.advance(time.Second)
		}
	}
	if n := l.Len(); n > shardCount*1024 { // without sweeping: 200,001
		t.Errorf("%d counters held", n)
	}
	if d := allow(l, kept, monthly, 1); d.Allowed || d.Quotas[month].Remaining != 0 {
		t.Errorf("the monthly quota was forgotten: %+v", d)
	}
	// Refused requests and subjects without limits store nothing.
	n := l.Len()
	allow(l, keygate.Subject{ID: "oversized"}, rate, 2)
	allow(l, keygate.Subject{ID: "unlimited"}, &keygate.Limits{}, 1)
	allow(l, keygate.Subject{ID: "nil"}, nil, 1)
	if l.Len() != n {
		t.Errorf("refusals stored counters: %d, then %d", n, l.Len())
	}
}

// Over 10 s of real time, goroutines hammering one subject limited to 100/s
// with a burst of 10 are allowed 1010, within 1%.
func TestAccuracy(t *testing.T) {
	t.Parallel()
	// The pause leaves CPU to other packages' tests; each goroutine still
	// asks hundreds of times more often than the limit allows.
	ratelimittest.CheckAccuracy(t, []keygate.RateLimiter{New(nil)}, 4, 100*time.Microsecond)
}

// A decision for a known subject allocates nothing.
func TestAllowDoesNotAllocate(t *testing.T) {
	l := New(nil)
	s := keygate.Subject{ID: "key", Route: "route"}
	lim := benchLimits(true)
	lim.RateOnRoute = true
	allow(l, s, lim, 1)
	if n := testing.AllocsPerRun(1000, func() { allow(l, s, lim, 1) }); n != 0 {
		t.Errorf("%v allocations per decision", n)
	}
}

// benchLimits is a rate (and a quota) that never refuse, so that every
// decision takes the allowing path, which writes.
func benchLimits(quota bool) *keygate.Limits {
	l := &keygate.Limits{Rate: keygate.Rate{Interval: time.Nanosecond, Burst: math.MaxInt32}}
	if quota {
		l.Quotas[minute].Limit = math.MaxInt64 / 2
	}
	return l
}

func BenchmarkAllow(b *testing.B) {
	subjects := make([]keygate.Subject, 4096)
	for i := range subjects {
		subjects[i] = keygate.Subject{ID: fmt.Sprint("key-", i), Route: "route"}
	}
	for _, bc := range []struct {
		name string
		lim  *keygate.Limits
	}{
		{"rate", benchLimits(false)},
		{"rate+quota", benchLimits(true)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := New(nil)
			b.ReportAllocs()
			for b.Loop() {
				allow(l, subjects[0], bc.lim, 1)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			l := New(nil)
			for _, s := range subjects {
				allow(l, s, bc.lim, 1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(subjects))
				for pb.Next() {
					allow(l, subjects[i%len(subjects)], bc.lim, 1)
					i++
				}
			})
		})
	}
}
