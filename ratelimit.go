package keygate

import (
	"context"
	"math"
	"time"
)

// Rate is a GCRA rate: one request's share refills in Interval, and up to
// Burst requests may arrive at once. A zero Interval is no rate limit.
type Rate struct {
	Interval time.Duration
	Burst    int
}

// PerSecond is the rate of rps requests per second with burst (0: rps
// rounded up, at least 1); rps 0 is no rate limit.
func PerSecond(rps float64, burst int) Rate {
	if rps <= 0 {
		return Rate{}
	}
	if burst <= 0 {
		burst = max(int(math.Ceil(rps)), 1)
	}
	return Rate{Interval: max(time.Duration(float64(time.Second)/rps), time.Microsecond), Burst: burst}
}

// Quota is a limit on how much fits in one calendar period; Limit 0 is none.
// OnRoute counts it per route rather than across the subject's routes.
type Quota struct {
	Limit   int64
	OnRoute bool
}

// Limits are what one request is checked against, all at once: a rate and a
// quota per period (Quotas[Period-1]). RateOnRoute counts the rate per route.
type Limits struct {
	Rate        Rate
	RateOnRoute bool
	Quotas      [PeriodCount]Quota
}

// IsZero reports whether l limits nothing.
func (l *Limits) IsZero() bool {
	if l.Rate.Interval > 0 {
		return false
	}
	for _, q := range l.Quotas {
		if q.Limit > 0 {
			return false
		}
	}
	return true
}

// Subject is whose counters a request goes to: ID (a key, a consumer, an
// address) and, for the limits counted per route, Route.
type Subject struct {
	ID    string
	Route string
}

// LimitState is where one limit stands after a decision. Limit 0: the
// limit is not configured.
type LimitState struct {
	Limit, Remaining int64
	// Reset is how long until Remaining is back to Limit: the end of a
	// quota's period, or for a rate, until the burst has refilled.
	Reset time.Duration
}

// LimitDecision is a limiter's answer for one request.
type LimitDecision struct {
	Allowed bool
	// RetryAfter is how long until this request would be allowed (0 when
	// allowed).
	RetryAfter time.Duration
	Rate       LimitState
	Quotas     [PeriodCount]LimitState
}

// RateLimiter checks requests against limits: in memory on one node
// (package inmem) or shared through Redis (package redis). A request is
// allowed only when every limit allows it, and a refused request consumes
// nothing. An error means the limiter could not decide (Redis down): the
// caller fails open or closed as the operator chose, never with a 401.
type RateLimiter interface {
	Allow(ctx context.Context, s Subject, l *Limits, cost int) (LimitDecision, error)
}
