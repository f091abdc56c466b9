package redis

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/ratelimittest"
)

// Indexes of Limits.Quotas and LimitDecision.Quotas.
const minute, hour, day, month = 0, 1, 2, 3

// testClient connects to KEYGATE_TEST_REDIS_URL, or skips; the test's keys
// get a prefix of their own and are deleted when it ends, as other
// packages' tests share the Redis.
func testClient(tb testing.TB) (*goredis.Client, string) {
	tb.Helper()
	c := newClient(tb)
	prefix := "keygate-test:" + rand.Text() + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("deleting the test's keys: %v", err)
		}
		c.Close()
	})
	return c, prefix
}

func TestSemantics(t *testing.T) {
	c, prefix := testClient(t)
	l := New(c, prefix)
	redisNow := func(tb testing.TB) time.Time {
		tb.Helper()
		now, err := c.Time(tb.Context()).Result()
		if err != nil {
			tb.Fatal(err)
		}
		return now
	}
	ratelimittest.RunSemantics(t, func(t *testing.T) ratelimittest.Harness {
		// A case takes about a second: it must not straddle the end of a
		// minute (nor so of an hour, a day, a month), on Redis's clock.
		now := redisNow(t)
		if _, end := keygate.Minute.Window(now); end.Sub(now) < 3*time.Second {
			time.Sleep(end.Sub(now) + 50*time.Millisecond)
		}
		return ratelimittest.Harness{
			Limiter: l,
			Advance: func(_ testing.TB, d time.Duration) { time.Sleep(d) },
			Now:     redisNow,
			// What passes on Redis's clock between the steps' round trips;
			// the cases leave 100 ms of room around every refill.
			Tolerance: 80 * time.Millisecond,
		}
	})
}

// window_end, the Lua that finds calendar windows, agrees with
// keygate.Period.Window on every day from 1970 to 2200 (its first and last
// second, and one in between) and around every month's end.
func TestLuaWindowEnd(t *testing.T) {
	c, _ := testClient(t)
	script := goredis.NewScript(windowEndLua + `
local r = {}
for i = 1, #ARGV do
  local s = tonumber(ARGV[i])
  for p = 1, 4 do r[4 * (i - 1) + p] = window_end(p, s) end
end
return r
`)
	var instants []time.Time
	for day := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 2200; day = day.AddDate(0, 0, 1) {
		instants = append(instants, day, day.Add(13*time.Hour+37*time.Minute+11*time.Second), day.Add(24*time.Hour-time.Second))
	}
	for len(instants) > 0 {
		batch := instants[:min(len(instants), 10_000)]
		instants = instants[len(batch):]
		args := make([]any, len(batch))
		for i, at := range batch {
			args[i] = at.Unix()
		}
		ends, err := script.Run(t.Context(), c, nil, args...).Int64Slice()
		if err != nil {
			t.Fatal(err)
		}
		for i, at := range batch {
			for p := keygate.Minute; p <= keygate.Month; p++ {
				if _, end := p.Window(at); ends[4*i+int(p)-1] != end.Unix() {
					t.Fatalf("the %s of %v ends at %v, want %v", p, at, time.Unix(ends[4*i+int(p)-1], 0).UTC(), end)
				}
			}
		}
	}
}

// Every key a decision touches starts with the prefix, shares the
// subject's hash tag (one Redis Cluster slot), and expires: the rate's once
// the burst has refilled, a quota's shortly after its window ends.
func TestKeys(t *testing.T) {
	c, prefix := testClient(t)
	ctx := t.Context()
	lim := &keygate.Limits{Rate: keygate.Rate{Interval: time.Hour, Burst: 5}, RateOnRoute: true,
		Quotas: [4]keygate.Quota{minute: {Limit: 10, OnRoute: true}, day: {Limit: 10}, month: {Limit: 10}}}
	for i, id := range []string{"plain", "", "}", "{", "{a}", "a}b{c}", "x:y", "ключ"} {
		p := fmt.Sprintf("%s%d:", prefix, i)
		l := New(c, p)
		for _, route := range []string{"r1", "r}2", ""} {
			if d, err := l.Allow(ctx, keygate.Subject{ID: id, Route: route}, lim, 2); err != nil || !d.Allowed {
				t.Fatalf("id %q, route %q: %+v, %v", id, route, d, err)
			}
		}
		now := c.Time(ctx).Val()
		keys, err := c.Keys(ctx, p+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 3+3+1+1 { // a rate and a minute per route, the day and the month shared
			t.Errorf("id %q: %d keys %q", id, len(keys), keys)
		}
		for _, k := range keys {
			if tag := hashTag(k); tag != hashTag(New(c, p).subjectKey(id)) || tag == k {
				t.Errorf("id %q: key %q has hash tag %q", id, k, tag)
			}
			ttl := c.PTTL(ctx, k).Val()
			var want time.Duration
			switch {
			case strings.Contains(k, "}:rate"):
				want = 2 * time.Hour // cost 2, once per hour
			case strings.Contains(k, "}:minute"):
				_, end := keygate.Minute.Window(now)
				want = end.Sub(now) + time.Second
			case strings.HasSuffix(k, "}:day"):
				_, end := keygate.Day.Window(now)
				want = end.Sub(now) + time.Second
			case strings.HasSuffix(k, "}:month"):
				_, end := keygate.Month.Window(now)
				want = end.Sub(now) + time.Second
			default:
				t.Errorf("unexpected key %q", k)
			}
			if ttl < want-2*time.Second || ttl > want+2*time.Second {
				t.Errorf("key %q expires in %v, want %v", k, ttl, want)
			}
		}
	}
}

// hashTag is what Redis Cluster hashes of key: the part between the first
// "{" and the first "}" after it, if not empty, else all of it.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// newClient connects to KEYGATE_TEST_REDIS_URL, or skips.
func newClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	url := os.Getenv("KEYGATE_TEST_REDIS_URL")
	if url == "" {
		tb.Skip("KEYGATE_TEST_REDIS_URL is not set: no Redis to test against")
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	return goredis.NewClient(opts)
}

// Three gateways, each with its own connection, sharing one Redis and
// hammering one subject limited to 100/s with a burst of 10 for 10 s, are
// allowed 1010, within 1%.
func TestAccuracyAcrossNodes(t *testing.T) {
	t.Parallel()
	_, prefix := testClient(t)
	var nodes []keygate.RateLimiter
	for range 3 {
		node := newClient(t)
		t.Cleanup(func() { node.Close() })
		nodes = append(nodes, New(node, prefix))
	}
	ratelimittest.CheckAccuracy(t, nodes, 12, 0)
}

// An unreachable Redis is a failure to decide, never a refusal.
func TestRedisDownIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	lim := &keygate.Limits{Rate: keygate.PerSecond(1, 1)}
	d, err := New(c, "x:").Allow(t.Context(), keygate.Subject{ID: "k"}, lim, 1)
	if keygate.ErrorCode(err) != keygate.EUNAVAILABLE || d.Allowed {
		t.Fatalf("decision %+v, error %v: want EUNAVAILABLE", d, err)
	}
	// No limits need no Redis.
	if d, err := New(c, "x:").Allow(t.Context(), keygate.Subject{ID: "k"}, &keygate.Limits{}, 1); err != nil || !d.Allowed {
		t.Fatalf("no limits: %+v, %v", d, err)
	}
}

func BenchmarkAllow(b *testing.B) {
	c, prefix := testClient(b)
	l := New(c, prefix)
	lim := &keygate.Limits{Rate: keygate.Rate{Interval: time.Microsecond, Burst: 1 << 30},
		Quotas: [4]keygate.Quota{minute: {Limit: 1 << 50}}}
	b.Run("rate+quota", func(b *testing.B) {
		b.ReportAllocs()
		s := keygate.Subject{ID: "bench", Route: "r"}
		for b.Loop() {
			if _, err := l.Allow(b.Context(), s, lim, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rate+quota/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8) // requests in flight, as a gateway has
		b.RunParallel(func(pb *testing.PB) {
			s := keygate.Subject{ID: "bench-" + rand.Text(), Route: "r"}
			for pb.Next() {
				if _, err := l.Allow(context.Background(), s, lim, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
