package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
)

// windowScript is a payload session's anti-replay window (as
// sessioncrypto.Window) kept in Redis, so that every node of a cluster
// shares it: KEYS[1] holds the highest sequence number accepted, KEYS[2] a
// bitmap of the ARGV[2] numbers below it, bit (n mod size) for n. Both
// expire with the session (ARGV[3], ms). ARGV[1] is the sequence number,
// below 2^53 (Lua's numbers are doubles). Returns 1 (new, recorded) or 0
// (seen, or too far behind). Memory per session: size/8 bytes and a number.
var windowScript = goredis.NewScript(`
local seq = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local top = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq > top then
  if seq - top >= size then
    redis.call('DEL', KEYS[2])
  else
    for n = top + 1, seq - 1 do
      redis.call('SETBIT', KEYS[2], n % size, 0)
    end
  end
  redis.call('SETBIT', KEYS[2], seq % size, 1)
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  return 1
end
if top - seq >= size then
  return 0
end
if redis.call('SETBIT', KEYS[2], seq % size, 1) == 1 then
  return 0
end
return 1
`)

// PayloadWindow is the anti-replay window of payload sessions shared by
// every node through Redis: an envelope accepted by one node is refused by
// all of them, whichever node a load balancer sends it to. One round trip
// per envelope.
type PayloadWindow struct {
	client goredis.UniversalClient
	prefix string
	size   int
	now    func() time.Time
}

// MaxSharedSequence is the highest sequence number the shared window takes.
const MaxSharedSequence = 1<<53 - 1

// NewPayloadWindow returns a window of size numbers (sessioncrypto.WindowSize)
// whose keys start with prefix (no braces, as for New). now is the node's
// clock (time.Now when nil), which says how long to keep a session's window.
func NewPayloadWindow(client goredis.UniversalClient, prefix string, size int, now func() time.Time) *PayloadWindow {
	if now == nil {
		now = time.Now
	}
	return &PayloadWindow{client: client, prefix: prefix, size: size, now: now}
}

// Accept records seq for session until until (the session's end) and
// reports whether it is new. An unreachable Redis is EUNAVAILABLE: the
// request then fails rather than risk a replay.
func (w *PayloadWindow) Accept(ctx context.Context, session string, seq uint64, until time.Time) (bool, error) {
	if seq == 0 || seq > MaxSharedSequence {
		return false, nil
	}
	ttl := max(until.Sub(w.now()).Milliseconds(), 1)
	base := hashTagged(w.prefix, session) + "pe:"
	res, err := windowScript.Run(ctx, w.client, []string{base + "top", base + "seen"}, seq, w.size, ttl).Int64()
	if err != nil {
		return false, keygate.Unavailable(err, "payload replay window unavailable")
	}
	return res == 1, nil
}
