// Package ratelimittest is the behaviour every keygate.RateLimiter shares:
// the in-memory limiter (package inmem) and the Redis one (package redis)
// each run it against their limiter, as the stores run storetest.
package ratelimittest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Harness is what the cases need of a limiter under test.
type Harness struct {
	Limiter keygate.RateLimiter
	// advance moves the limiter's time on by d (an injected clock, or a
	// real sleep).
	Advance func(tb testing.TB, d time.Duration)
	// now is the limiter's time, for where calendar windows end.
	Now func(tb testing.TB) time.Time
	// tolerance is how far a reported duration may be from the wanted one:
	// 0 on an injected clock; with real time, what passes between steps.
	Tolerance time.Duration
}

// Indexes of Limits.Quotas and LimitDecision.Quotas.
const minute, hour, day, month = 0, 1, 2, 3

type semanticsCase struct {
	name   string
	limits keygate.Limits
	steps  []semanticsStep
}

type semanticsStep struct {
	advance time.Duration // before the request
	route   string
	cost    int             // 0 means 1
	limits  *keygate.Limits // instead of the case's

	allowed bool
	// The wanted RetryAfter is retry, or the time until the end of the
	// current window of retryUntil, whichever is longer.
	retry      time.Duration
	retryUntil keygate.Period
	rateRem    int64
	rateReset  time.Duration
	// Remaining of each configured quota. Every configured quota's Reset
	// must be the end of its current window, and its Limit the quota's.
	quotas [keygate.PeriodCount]int64
}

func semanticsCases() []semanticsCase {
	s := time.Second
	cases := []semanticsCase{
		{name: "burst then refusal", limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 3}},
			steps: []semanticsStep{
				{allowed: true, rateRem: 2, rateReset: 10 * s},
				{allowed: true, rateRem: 1, rateReset: 20 * s},
				{allowed: true, rateRem: 0, rateReset: 30 * s},
				{retry: 10 * s, rateRem: 0, rateReset: 30 * s},
				{retry: 10 * s, rateRem: 0, rateReset: 30 * s}, // the refusal moved nothing
			}},
		{name: "refill over time", limits: keygate.Limits{Rate: keygate.Rate{Interval: 200 * time.Millisecond, Burst: 2}},
			steps: []semanticsStep{
				{allowed: true, rateRem: 1, rateReset: 200 * time.Millisecond},
				{allowed: true, rateRem: 0, rateReset: 400 * time.Millisecond},
				{retry: 200 * time.Millisecond, rateRem: 0, rateReset: 400 * time.Millisecond},
				// Half way into the second refill: one request's worth is back.
				{advance: 300 * time.Millisecond, allowed: true, rateRem: 0, rateReset: 300 * time.Millisecond},
				{retry: 100 * time.Millisecond, rateRem: 0, rateReset: 300 * time.Millisecond},
				{advance: 500 * time.Millisecond, allowed: true, rateRem: 1, rateReset: 200 * time.Millisecond},
			}},
		{name: "cost weighs", limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 5}},
			steps: []semanticsStep{
				{cost: 3, allowed: true, rateRem: 2, rateReset: 30 * s},
				{cost: 3, retry: 10 * s, rateRem: 2, rateReset: 30 * s},
				{cost: 2, allowed: true, rateRem: 0, rateReset: 50 * s},
				// Above the burst: never allowed; the wait is a full refill.
				{cost: 6, retry: 50 * s, rateRem: 0, rateReset: 50 * s},
			}},
		{name: "cost above the burst on a full bucket", limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 5}},
			steps: []semanticsStep{
				{cost: 6, retry: 50 * s, rateRem: 5, rateReset: 0},
				{cost: 5, allowed: true, rateRem: 0, rateReset: 50 * s},
			}},
		{name: "cost above the quota", limits: keygate.Limits{Quotas: [4]keygate.Quota{hour: {Limit: 3}}},
			steps: []semanticsStep{
				{cost: 4, retryUntil: keygate.Hour, quotas: [4]int64{hour: 3}},
				{cost: 3, allowed: true, quotas: [4]int64{hour: 0}},
			}},
		{name: "refused by the rate, no quota consumed",
			limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 1}, Quotas: [4]keygate.Quota{minute: {Limit: 5}}},
			steps: []semanticsStep{
				{allowed: true, rateRem: 0, rateReset: 10 * s, quotas: [4]int64{minute: 4}},
				{retry: 10 * s, rateRem: 0, rateReset: 10 * s, quotas: [4]int64{minute: 4}},
				{retry: 10 * s, rateRem: 0, rateReset: 10 * s, quotas: [4]int64{minute: 4}},
			}},
		{name: "refused by a quota, no rate consumed",
			limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 3}, Quotas: [4]keygate.Quota{day: {Limit: 1}}},
			steps: []semanticsStep{
				{allowed: true, rateRem: 2, rateReset: 10 * s, quotas: [4]int64{day: 0}},
				{retryUntil: keygate.Day, rateRem: 2, rateReset: 10 * s, quotas: [4]int64{day: 0}},
				{retryUntil: keygate.Day, rateRem: 2, rateReset: 10 * s, quotas: [4]int64{day: 0}},
			}},
		{name: "refused by both, the rate waits longer",
			limits: keygate.Limits{Rate: keygate.Rate{Interval: 100 * s, Burst: 1}, Quotas: [4]keygate.Quota{minute: {Limit: 1}}},
			steps: []semanticsStep{
				{allowed: true, rateRem: 0, rateReset: 100 * s, quotas: [4]int64{minute: 0}},
				{retry: 100 * s, retryUntil: keygate.Minute, rateRem: 0, rateReset: 100 * s, quotas: [4]int64{minute: 0}},
			}},
		{name: "refused by both, the quota waits longer",
			limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 1}, Quotas: [4]keygate.Quota{month: {Limit: 1}}},
			steps: []semanticsStep{
				{allowed: true, rateRem: 0, rateReset: 10 * s, quotas: [4]int64{month: 0}},
				{retry: 10 * s, retryUntil: keygate.Month, rateRem: 0, rateReset: 10 * s, quotas: [4]int64{month: 0}},
			}},
		{name: "every quota at once",
			limits: keygate.Limits{Quotas: [4]keygate.Quota{minute: {Limit: 10}, hour: {Limit: 3}, day: {Limit: 20}, month: {Limit: 30}}},
			steps: []semanticsStep{
				{allowed: true, quotas: [4]int64{9, 2, 19, 29}},
				{cost: 2, allowed: true, quotas: [4]int64{7, 0, 17, 27}},
				{retryUntil: keygate.Hour, quotas: [4]int64{7, 0, 17, 27}},
			}},
		{name: "per route and shared",
			limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 2}, RateOnRoute: true,
				Quotas: [4]keygate.Quota{minute: {Limit: 3}, hour: {Limit: 5, OnRoute: true}}},
			steps: []semanticsStep{
				{route: "a", allowed: true, rateRem: 1, rateReset: 10 * s, quotas: [4]int64{minute: 2, hour: 4}},
				{route: "a", allowed: true, rateRem: 0, rateReset: 20 * s, quotas: [4]int64{minute: 1, hour: 3}},
				{route: "a", retry: 10 * s, rateRem: 0, rateReset: 20 * s, quotas: [4]int64{minute: 1, hour: 3}},
				// Route b has a rate and an hourly quota of its own, and the
				// last of the shared minute.
				{route: "b", allowed: true, rateRem: 1, rateReset: 10 * s, quotas: [4]int64{minute: 0, hour: 4}},
				{route: "c", retryUntil: keygate.Minute, rateRem: 2, rateReset: 0, quotas: [4]int64{minute: 0, hour: 5}},
			}},
		{name: "a route's own limits",
			limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 3}},
			steps: []semanticsStep{
				{route: "r", limits: &keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 1}, RateOnRoute: true,
					Quotas: [4]keygate.Quota{day: {Limit: 2, OnRoute: true}}},
					allowed: true, rateRem: 0, rateReset: 10 * s, quotas: [4]int64{day: 1}},
				{route: "x", allowed: true, rateRem: 2, rateReset: 10 * s},
				{route: "r", limits: &keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 1}, RateOnRoute: true,
					Quotas: [4]keygate.Quota{day: {Limit: 2, OnRoute: true}}},
					retry: 10 * s, rateRem: 0, rateReset: 10 * s, quotas: [4]int64{day: 1}},
				{route: "y", allowed: true, rateRem: 1, rateReset: 20 * s},
			}},
		{name: "an empty route is a route of its own",
			limits: keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 1}},
			steps: []semanticsStep{
				{limits: &keygate.Limits{Rate: keygate.Rate{Interval: 10 * s, Burst: 1}, RateOnRoute: true},
					allowed: true, rateRem: 0, rateReset: 10 * s},
				{allowed: true, rateRem: 0, rateReset: 10 * s},
				{retry: 10 * s, rateRem: 0, rateReset: 10 * s},
			}},
		{name: "no limits", steps: []semanticsStep{{allowed: true}, {cost: 1000, allowed: true}}},
	}
	for p := keygate.Minute; p <= keygate.Month; p++ {
		var q [4]keygate.Quota
		q[p-1].Limit = 5
		rem := func(n int64) (r [4]int64) { r[p-1] = n; return r }
		cases = append(cases, semanticsCase{name: "quota per " + p.String(), limits: keygate.Limits{Quotas: q},
			steps: []semanticsStep{
				{cost: 3, allowed: true, quotas: rem(2)},
				{cost: 3, retryUntil: p, quotas: rem(2)}, // refused: consumes nothing
				{cost: 2, allowed: true, quotas: rem(0)},
				{retryUntil: p, quotas: rem(0)},
				{retryUntil: p, quotas: rem(0)},
			}})
	}
	return cases
}

// runSemantics runs every case on a harness of its own, each with a
// subject of its own.
// RunSemantics runs every case against a fresh harness of newHarness.
func RunSemantics(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, c := range semanticsCases() {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			subject := "semantics " + c.name
			for i, st := range c.steps {
				if st.advance > 0 {
					h.Advance(t, st.advance)
				}
				lim := &c.limits
				if st.limits != nil {
					lim = st.limits
				}
				cost := st.cost
				if cost == 0 {
					cost = 1
				}
				now := h.Now(t)
				d, err := h.Limiter.Allow(t.Context(), keygate.Subject{ID: subject, Route: st.route}, lim, cost)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				checkDecision(t, i, h, now, lim, st, d)
			}
		})
	}
}

func checkDecision(t *testing.T, i int, h Harness, now time.Time, lim *keygate.Limits, st semanticsStep, d keygate.LimitDecision) {
	t.Helper()
	near := func(got, want time.Duration) bool { return got >= want-h.Tolerance && got <= want+h.Tolerance }
	untilEnd := func(p keygate.Period) time.Duration { _, end := p.Window(now); return end.Sub(now) }
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("step %d: "+format+"\ndecision %+v", append(append([]any{i}, args...), d)...)
	}
	if d.Allowed != st.allowed {
		fail("allowed %v, want %v", d.Allowed, st.allowed)
	}
	wantRetry := st.retry
	if st.retryUntil != 0 {
		wantRetry = max(wantRetry, untilEnd(st.retryUntil))
	}
	if st.allowed && d.RetryAfter != 0 || !near(d.RetryAfter, wantRetry) {
		fail("retry after %v, want %v", d.RetryAfter, wantRetry)
	}
	if lim.Rate.Interval > 0 {
		if d.Rate.Limit != int64(max(lim.Rate.Burst, 1)) || d.Rate.Remaining != st.rateRem || !near(d.Rate.Reset, st.rateReset) {
			fail("rate %+v, want limit %d, remaining %d, reset %v", d.Rate, lim.Rate.Burst, st.rateRem, st.rateReset)
		}
	} else if d.Rate != (keygate.LimitState{}) {
		fail("rate %+v, but none is configured", d.Rate)
	}
	for p := range d.Quotas {
		q, got := lim.Quotas[p], d.Quotas[p]
		if q.Limit == 0 {
			if got != (keygate.LimitState{}) {
				fail("quota %d %+v, but none is configured", p, got)
			}
			continue
		}
		if want := untilEnd(keygate.Period(p + 1)); got.Limit != q.Limit || got.Remaining != st.quotas[p] || !near(got.Reset, want) {
			fail("%s quota %+v, want limit %d, remaining %d, reset %v", keygate.Period(p+1), got, q.Limit, st.quotas[p], want)
		}
	}
}

// CheckAccuracy has goroutines ask limiters in turn, as fast as they can
// (with pause between a goroutine's requests), for 10 s whether one subject
// limited to 100/s with a burst of 10 may pass. What passes must be within
// 1% of what the limit allows the requests as they were asked: the burst
// plus 100 a second, less what a pause between two requests longer than
// the burst's refill let go to waste (GCRA holds at most a burst). A
// machine too busy to keep the goroutines asking makes such pauses; they
// are not the limiter's error, so they are measured and logged.
func CheckAccuracy(t *testing.T, limiters []keygate.RateLimiter, goroutines int, pause time.Duration) {
	const duration = 10 * time.Second
	const rate, burst = 100.0, 10.0
	lim := &keygate.Limits{Rate: keygate.PerSecond(rate, int(burst))}
	subject := keygate.Subject{ID: "accuracy", Route: "r"}
	var allowed atomic.Int64
	var mu sync.Mutex
	var asked []int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := range goroutines {
		wg.Go(func() {
			l := limiters[g%len(limiters)]
			var times []int64
			defer func() {
				mu.Lock()
				asked = append(asked, times...)
				mu.Unlock()
			}()
			for time.Since(start) < duration {
				times = append(times, time.Now().UnixNano())
				d, err := l.Allow(context.Background(), subject, lim, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(asked)
	want, span, wasted := Allowance(asked, rate, burst)
	got := float64(allowed.Load())
	msg := fmt.Sprintf("allowed %v of %d asked: %.2f%% of the %.1f the limit allows them (%.0f over %.2f s, less %.1f wasted in pauses)",
		got, len(asked), 100*got/want, want, burst+rate*span, span, wasted)
	if got < want*0.99 || got > want*1.01 {
		t.Error(msg)
	} else {
		t.Log(msg)
	}
}

// Allowance is what a GCRA limit of rate per second with burst allows
// requests asked at the sorted times (unix ns): the burst, plus the rate
// over the span from the first to the last, less what the pauses between
// two requests longer than the burst's refill let go to waste (the limit
// holds at most a burst). A busy machine that keeps clients from asking
// makes such pauses; they are not the limiter's error.
func Allowance(asked []int64, rate, burst float64) (want, span, wasted float64) {
	if len(asked) == 0 {
		return burst, 0, 0
	}
	span = float64(asked[len(asked)-1]-asked[0]) / 1e9
	for i := 1; i < len(asked); i++ {
		wasted += max(0, float64(asked[i]-asked[i-1])/1e9*rate-burst)
	}
	return burst + rate*span - wasted, span, wasted
}
