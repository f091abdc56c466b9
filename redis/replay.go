package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth/hmacauth"
)

// replayScript remembers one signature of a credential, once: KEYS[1] is the
// credential's sorted set of signatures scored by when they expire, on
// Redis's clock (ms). Expired ones are dropped first; a signature already
// there is a replay; a credential at its share records nothing.
//
// ARGV: the signature, how long to remember it (ms), the credential's share.
// Returns 0 (new, recorded), 1 (a replay) or 2 (over the share).
var replayScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 2
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 0
`)

// ReplayGuard is an hmacauth.ReplayGuard shared by every node through Redis,
// so that a signature accepted by one node is a replay on all of them.
type ReplayGuard struct {
	client           goredis.UniversalClient
	prefix           string
	maxPerCredential int
	now              func() time.Time
}

var _ hmacauth.ReplayGuard = (*ReplayGuard)(nil)

// NewReplayGuard returns a guard whose keys start with prefix (no braces,
// as for New) and that remembers at most maxPerCredential unexpired
// signatures of one credential (default 100,000), so that one credential
// cannot fill Redis. now is the clock signatures' dates are read on
// (time.Now when nil).
func NewReplayGuard(client goredis.UniversalClient, prefix string, maxPerCredential int, now func() time.Time) *ReplayGuard {
	if maxPerCredential <= 0 {
		maxPerCredential = 100_000
	}
	if now == nil {
		now = time.Now
	}
	return &ReplayGuard{client: client, prefix: prefix, maxPerCredential: maxPerCredential, now: now}
}

// Seen records key, a signature of credential, until until, and reports
// whether it was recorded already, in one round trip. The node's clock only
// says how long to remember it; when it expires is Redis's clock's.
// A credential at its share is hmacauth.ErrReplayQuota; an unreachable
// Redis is EUNAVAILABLE, and the request then fails rather than risk a
// replay.
func (g *ReplayGuard) Seen(ctx context.Context, credential, key string, until time.Time) (bool, error) {
	ttl := max(until.Sub(g.now()).Milliseconds(), 1)
	k := hashTagged(g.prefix, credential) + "replay"
	res, err := replayScript.Run(ctx, g.client, []string{k}, key, ttl, g.maxPerCredential).Int64()
	if err != nil {
		return false, keygate.Unavailable(err, "replay guard unavailable")
	}
	switch res {
	case 0:
		return false, nil
	case 1:
		return true, nil
	case 2:
		return false, hmacauth.ErrReplayQuota
	}
	return false, keygate.Unavailable(fmt.Errorf("replay script answered %d", res), "replay guard unavailable")
}
