package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
)

// windowEndLua is window_end(p, s): the end, in unix seconds, of the UTC
// calendar window of period p (1 minute, 2 hour, 3 day, 4 month) that holds
// the instant s (unix seconds). Unix time has no leap seconds, so minutes,
// hours and days are division; a month comes from the civil date, by Howard
// Hinnant's civil_from_days. Lua 5.1 numbers are doubles: exact here, as
// every value is an integer far below 2^53. Kept apart so that a test runs
// the very same text on many dates.
const windowEndLua = `
local function window_end(p, s)
  if p == 1 then return (math.floor(s / 60) + 1) * 60 end
  if p == 2 then return (math.floor(s / 3600) + 1) * 3600 end
  local days = math.floor(s / 86400)
  if p == 3 then return (days + 1) * 86400 end
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if m > 12 then m = m - 12 end
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  local len = 31
  if m == 4 or m == 6 or m == 9 or m == 11 then
    len = 30
  elseif m == 2 then
    if y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then len = 29 else len = 28 end
  end
  return (days - (d - 1) + len) * 86400
end
`

// allowScript decides one request against every limit at once, on Redis's
// own clock (TIME, in µs) so that nodes with skewed clocks share one
// timeline, and writes only if every limit allows it.
//
// KEYS: the rate's key if there is a rate, then a key per configured quota,
// minute to month. The rate's key holds GCRA's theoretical arrival time
// (TAT) and expires once the burst has refilled. A quota's key holds
// "<window end>:<used>": the window in the value rather than in the key's
// name, because which window is current is known only from TIME, inside the
// script, and every key must be named in KEYS before it runs. It expires
// shortly after its window ends; until then a value from an earlier window
// counts as nothing used.
//
// ARGV: cost, rate interval (µs; 0: no rate), burst, then the quota of each
// period, minute to month (0: none).
//
// Returns {allowed, retry after µs, rate remaining, rate reset µs, then
// remaining and reset µs of each period}; 0 for what is not configured.
var allowScript = goredis.NewScript(windowEndLua + `
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local allowed = true
local retry = 0
local k = 1

local ratekey, tat, nxt, tau
if interval > 0 then
  ratekey = KEYS[k]
  k = k + 1
  tau = interval * burst
  tat = tonumber(redis.call('GET', ratekey) or 0)
  if tat < now then tat = now end
  if cost > burst then
    allowed = false
    retry = tau
  else
    nxt = tat + cost * interval
    if nxt - now > tau then
      allowed = false
      retry = nxt - now - tau
    end
  end
end

local qkey, qend, qused, qlimit = {}, {}, {}, {}
for p = 1, 4 do
  local limit = tonumber(ARGV[3 + p])
  if limit > 0 then
    qkey[p] = KEYS[k]
    k = k + 1
    qend[p] = window_end(p, sec)
    qlimit[p] = limit
    qused[p] = 0
    local v = redis.call('GET', qkey[p])
    if v then
      local e, u = string.match(v, '^(%d+):(%d+)$')
      if tonumber(e) == qend[p] then qused[p] = tonumber(u) end
    end
    if cost > limit - qused[p] then
      allowed = false
      retry = math.max(retry, qend[p] * 1000000 - now)
    end
  end
end

if allowed then
  if ratekey then
    tat = nxt
    redis.call('SET', ratekey, string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
  end
  for p = 1, 4 do
    if qkey[p] then
      qused[p] = qused[p] + cost
      redis.call('SET', qkey[p], string.format('%d:%d', qend[p], qused[p]),
        'PX', qend[p] * 1000 + 1000 - math.floor(now / 1000))
    end
  end
end

local res = {0, retry, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
if allowed then res[1] = 1 end
if ratekey then
  res[3] = math.max(math.floor((tau - (tat - now)) / interval), 0)
  res[4] = tat - now
end
for p = 1, 4 do
  if qkey[p] then
    res[3 + 2 * p] = math.max(qlimit[p] - qused[p], 0)
    res[4 + 2 * p] = qend[p] * 1000000 - now
  end
end
return res
`)

// Limiter is a keygate.RateLimiter on Redis, shared by every node that
// uses the same Redis and prefix.
type Limiter struct {
	client goredis.UniversalClient
	prefix string
}

var _ keygate.RateLimiter = (*Limiter)(nil)

// New returns a limiter whose keys start with prefix, so that several
// keygate clusters, or tests, can share one Redis. The prefix must not hold
// braces: in a Redis Cluster they would change which slot keys hash to.
func New(client goredis.UniversalClient, prefix string) *Limiter {
	return &Limiter{client: client, prefix: prefix}
}

// Allow decides one request of the given cost (its weight; below 1 counts
// as 1) by s against every limit in lim, in one round trip (two when Redis
// does not yet hold the script). It is allowed only if every limit allows
// it, and only then is anything consumed.
//
// A cost that a limit can never allow (above the burst or the quota) is
// refused with RetryAfter the longest wait that limit ever asks for: a full
// burst's refill (Burst × Interval) for a rate, the window's end for a
// quota. Retrying then will be refused again, but a client that honours it
// does not spin.
//
// An unreachable Redis, or any error from it, is EUNAVAILABLE, never a
// refusal. Times are in µs, Redis's clock tick; counts are exact up to 2^53.
func (l *Limiter) Allow(ctx context.Context, s keygate.Subject, lim *keygate.Limits, cost int) (keygate.LimitDecision, error) {
	d := keygate.LimitDecision{Allowed: true}
	if lim == nil || lim.IsZero() {
		return d, nil
	}
	base := l.subjectKey(s.ID)
	keys := make([]string, 0, 1+keygate.PeriodCount)
	args := make([]any, 3, 3+keygate.PeriodCount)
	args[0] = max(cost, 1)
	args[1], args[2] = int64(0), 0
	var burst int64
	if lim.Rate.Interval > 0 {
		burst = int64(max(lim.Rate.Burst, 1))
		args[1], args[2] = max(lim.Rate.Interval.Microseconds(), 1), burst
		keys = append(keys, limitKey(base, "rate", lim.RateOnRoute, s.Route))
	}
	for i, q := range lim.Quotas {
		args = append(args, max(q.Limit, 0))
		if q.Limit > 0 {
			keys = append(keys, limitKey(base, keygate.Period(i+1).String(), q.OnRoute, s.Route))
		}
	}
	res, err := allowScript.Run(ctx, l.client, keys, args...).Int64Slice()
	if err == nil && len(res) != 4+2*keygate.PeriodCount {
		err = fmt.Errorf("rate limit script answered %d values", len(res))
	}
	if err != nil {
		return keygate.LimitDecision{}, keygate.Unavailable(err, "rate limit store unavailable")
	}
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	d.Allowed, d.RetryAfter = res[0] == 1, us(res[1])
	if burst > 0 {
		d.Rate = keygate.LimitState{Limit: burst, Remaining: res[2], Reset: us(res[3])}
	}
	for i, q := range lim.Quotas {
		if q.Limit > 0 {
			d.Quotas[i] = keygate.LimitState{Limit: q.Limit, Remaining: res[4+2*i], Reset: us(res[5+2*i])}
		}
	}
	return d, nil
}

// subjectKey is the part every key of a subject starts with: the prefix and
// the subject's ID as a Redis Cluster hash tag, so that all the keys one
// decision touches are in one slot, as a script needs. The ID's length
// comes first: the tag is never empty (Redis would then hash the whole
// key), and the key stays unambiguous whatever braces or colons the ID
// holds (Redis ends the tag at the first "}", wherever that is; it is
// the same for all of a subject's keys).
func (l *Limiter) subjectKey(id string) string { return hashTagged(l.prefix, id) }

// hashTagged is prefix and id as a Redis Cluster hash tag, then ":": the
// start of every key about id, so that one script's keys share a slot.
func hashTagged(prefix, id string) string {
	return prefix + "{" + strconv.Itoa(len(id)) + ":" + id + "}:"
}

// limitKey names one limit's counter: shared by the subject's routes, or
// the subject's on one route (the route comes last, so it may hold
// anything).
func limitKey(base, limit string, onRoute bool, route string) string {
	if onRoute {
		return base + limit + ":" + route
	}
	return base + limit
}
