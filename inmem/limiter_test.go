package inmem

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// clock is a settable clock for the limiter.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// allow asks the limiter, which never fails.
func allow(l *Limiter, subject string, rate keygate.Rate, cost int) keygate.RateDecision {
	d, _ := l.Allow(context.Background(), subject, rate, cost)
	return d
}

func newTestLimiter() (*Limiter, *clock) {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return New(c.now), c
}

// Over 10 s of requests every millisecond, a 100/s limit with a burst of 10
// allows the burst and then exactly one request per 10 ms.
func TestLimiterIsExact(t *testing.T) {
	l, c := newTestLimiter()
	rate := keygate.Rate{Per: 100, Period: time.Second, Burst: 10}
	allowed := 0
	for range 10_000 {
		if allow(l, "key", rate, 1).Allowed {
			allowed++
		}
		c.advance(time.Millisecond)
	}
	if want := 10 + 100*10; allowed < want-1 || allowed > want {
		t.Errorf("allowed %d, want %d", allowed, want)
	}
}

func TestLimiterDecisions(t *testing.T) {
	l, c := newTestLimiter()
	rate := keygate.Rate{Per: 10, Period: time.Second, Burst: 3}
	for i, want := range []int{2, 1, 0} {
		d := allow(l, "k", rate, 1)
		if !d.Allowed || d.Remaining != want || d.Limit != 3 {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, d, want)
		}
	}
	d := allow(l, "k", rate, 1)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond || d.Remaining != 0 {
		t.Fatalf("over the burst: %+v", d)
	}
	// Refusals consume nothing: hammering does not push the next slot back.
	for range 100 {
		allow(l, "k", rate, 1)
	}
	c.advance(100 * time.Millisecond)
	if d := allow(l, "k", rate, 1); !d.Allowed {
		t.Fatalf("after the retry delay: %+v", d)
	}
	// Other subjects are independent.
	if d := allow(l, "other", rate, 1); !d.Allowed || d.Remaining != 2 {
		t.Errorf("another subject: %+v", d)
	}
	// A weight counts as that many requests; one heavier than the burst never passes.
	c.advance(time.Hour)
	if d := allow(l, "k", rate, 3); !d.Allowed || d.Remaining != 0 {
		t.Errorf("cost 3: %+v", d)
	}
	c.advance(time.Hour)
	if d := allow(l, "k", rate, 4); d.Allowed {
		t.Errorf("cost 4 over a burst of 3: %+v", d)
	}
	// No rate: no limit.
	if d := allow(l, "k", keygate.Rate{}, 1); !d.Allowed {
		t.Errorf("no rate: %+v", d)
	}
}

// With the clock stopped, concurrent requests for one subject get exactly
// the burst, never more.
func TestLimiterConcurrent(t *testing.T) {
	l, _ := newTestLimiter()
	rate := keygate.Rate{Per: 1, Period: time.Second, Burst: 50}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				if allow(l, "shared", rate, 1).Allowed {
					allowed.Add(1)
				}
				allow(l, fmt.Sprint("own-", g, "-", i%10), rate, 1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 50 {
		t.Errorf("allowed %d, want the burst of 50", allowed.Load())
	}
}

// Subjects that have recovered are forgotten as the table grows.
func TestLimiterForgetsRecoveredSubjects(t *testing.T) {
	l, c := newTestLimiter()
	rate := keygate.Rate{Per: 100, Period: time.Second, Burst: 1}
	for i := range 100_000 {
		allow(l, fmt.Sprint("subject-", i), rate, 1)
		if i%1000 == 999 {
			c.advance(time.Second)
		}
	}
	if n := l.Len(); n > shardCount*1024 { // without forgetting: 100,000
		t.Errorf("%d subjects held", n)
	}
}

func BenchmarkLimiter(b *testing.B) {
	l := New(nil)
	rate := keygate.Rate{Per: 1_000_000_000, Period: time.Second, Burst: 1000}
	subjects := make([]string, 1024)
	for i := range subjects {
		subjects[i] = fmt.Sprint("key-", i)
	}
	b.Run("one subject", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			allow(l, "key-0", rate, 1)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				allow(l, subjects[i&1023], rate, 1)
				i++
			}
		})
	})
}
