package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
)

// gcra is GCRA on one key holding the theoretical arrival time (TAT), in
// microseconds on Redis's own clock, so that nodes with skewed clocks still
// share one timeline. A refused request writes nothing. The key expires
// when the subject has fully recovered.
//
// KEYS[1] subject key; ARGV interval (µs per request), burst, cost.
// Returns {allowed, remaining, retry_after µs, reset µs}.
var gcra = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local window = interval * burst
local nxt = tat + cost * interval
if nxt - now > window then
  return {0, math.floor((window - (tat - now)) / interval), nxt - now - window, tat - now}
end
redis.call('SET', KEYS[1], nxt, 'PX', math.ceil((nxt - now) / 1000) + 1)
return {1, math.floor((window - (nxt - now)) / interval), 0, nxt - now}
`)

// Limiter is a keygate.RateLimiter on Redis.
type Limiter struct {
	client goredis.UniversalClient
	prefix string
}

var _ keygate.RateLimiter = (*Limiter)(nil)

// New returns a limiter whose keys start with prefix (so that several
// keygate clusters, or tests, can share one Redis).
func New(client goredis.UniversalClient, prefix string) *Limiter {
	return &Limiter{client: client, prefix: prefix}
}

// Allow decides one request of cost by subject under rate, in one round
// trip. An unreachable Redis is an error (EUNAVAILABLE), never a refusal.
func (l *Limiter) Allow(ctx context.Context, subject string, rate keygate.Rate, cost int) (keygate.RateDecision, error) {
	burst := max(rate.Burst, 1)
	if rate.Per <= 0 || rate.Period <= 0 {
		return keygate.RateDecision{Allowed: true, Limit: burst, Remaining: burst}, nil
	}
	interval := max(rate.Period.Microseconds()/int64(rate.Per), 1)
	res, err := gcra.Run(ctx, l.client, []string{l.prefix + "rl:" + subject}, interval, burst, max(cost, 1)).Int64Slice()
	if err != nil {
		return keygate.RateDecision{}, keygate.Unavailable(err, "rate limit store unavailable")
	}
	if len(res) != 4 {
		return keygate.RateDecision{}, fmt.Errorf("redis: rate limit script answered %d values", len(res))
	}
	return keygate.RateDecision{Allowed: res[0] == 1, Limit: burst, Remaining: int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond, Reset: time.Duration(res[3]) * time.Microsecond}, nil
}
