package keygate

import (
	"context"
	"time"
)

// Rate is a limit: Per requests per Period, with up to Burst of them at
// once (0 means 1).
type Rate struct {
	Per    int
	Period time.Duration
	Burst  int
}

// RateDecision is a limiter's answer for one request.
type RateDecision struct {
	Allowed bool
	// Limit is the burst; Remaining how many more requests of cost 1 would
	// be allowed right now.
	Limit, Remaining int
	// RetryAfter is how long until this request would be allowed (0 when
	// allowed); Reset how long until the subject is back to a full burst.
	RetryAfter, Reset time.Duration
}

// RateLimiter applies rates to subjects (a key, a consumer, an address): in
// memory on one node (package inmem) or shared through Redis (package
// redis). A refused request consumes nothing. An error means the limiter
// could not decide (Redis down): the caller fails open or closed as the
// operator chose, never with a 401.
type RateLimiter interface {
	Allow(ctx context.Context, subject string, rate Rate, cost int) (RateDecision, error)
}
