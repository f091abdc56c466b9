package redis

import (
	"context"
	"crypto/rand"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
)

// testClient connects to KEYGATE_TEST_REDIS_URL, or skips; the test's keys
// get a prefix of their own and are deleted when it ends.
func testClient(tb testing.TB) (goredis.UniversalClient, string) {
	tb.Helper()
	url := os.Getenv("KEYGATE_TEST_REDIS_URL")
	if url == "" {
		tb.Skip("KEYGATE_TEST_REDIS_URL is not set: no Redis to test against")
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := goredis.NewClient(opts)
	prefix := "keygate-test:" + rand.Text() + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

func TestRedisLimiterDecisions(t *testing.T) {
	c, prefix := testClient(t)
	l := New(c, prefix)
	ctx := t.Context()
	rate := keygate.Rate{Per: 1, Period: time.Hour, Burst: 3} // nothing recovers during the test
	for i, want := range []int{2, 1, 0} {
		d, err := l.Allow(ctx, "k", rate, 1)
		if err != nil || !d.Allowed || d.Remaining != want || d.Limit != 3 {
			t.Fatalf("request %d: %+v %v", i, d, err)
		}
	}
	for range 5 { // refusals consume nothing
		d, err := l.Allow(ctx, "k", rate, 1)
		if err != nil || d.Allowed || d.RetryAfter < 59*time.Minute || d.RetryAfter > time.Hour {
			t.Fatalf("over the burst: %+v %v", d, err)
		}
	}
	if d, _ := l.Allow(ctx, "other", rate, 3); !d.Allowed || d.Remaining != 0 {
		t.Errorf("another subject with cost 3: %+v", d)
	}
	if ttl := c.PTTL(ctx, prefix+"rl:k").Val(); ttl <= 0 || ttl > 3*time.Hour+time.Second {
		t.Errorf("the key lives %v: it should expire once the subject has recovered", ttl)
	}
}

// Three gateways sharing one Redis, hammering one key limited to 100/s with
// a burst of 10, are allowed what the limit allows, within 1%.
func TestRedisLimiterIsExactAcrossNodes(t *testing.T) {
	c, prefix := testClient(t)
	rate := keygate.Rate{Per: 100, Period: time.Second, Burst: 10}
	var nodes []*Limiter
	for range 3 {
		opts := *c.(*goredis.Client).Options()
		node := goredis.NewClient(&opts)
		t.Cleanup(func() { node.Close() })
		nodes = append(nodes, New(node, prefix))
	}
	const duration = 3 * time.Second
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 12 {
		wg.Go(func() {
			l := nodes[i%len(nodes)]
			for time.Since(start) < duration {
				d, err := l.Allow(context.Background(), "shared", rate, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	want := float64(rate.Burst) + 100*elapsed
	if got := float64(allowed.Load()); math.Abs(got-want) > 0.01*want+2 {
		t.Errorf("allowed %v in %.2fs, want %.0f ± 1%%", got, elapsed, want)
	}
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
	d, err := New(c, "x:").Allow(t.Context(), "k", keygate.Rate{Per: 1, Period: time.Second}, 1)
	if keygate.ErrorCode(err) != keygate.EUNAVAILABLE || d.Allowed {
		t.Fatalf("decision %+v, error %v: want EUNAVAILABLE", d, err)
	}
}
