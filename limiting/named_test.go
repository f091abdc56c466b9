package limiting_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/inmem"
	"github.com/keygate/keygate/limiting"
	"github.com/keygate/keygate/redis"
)

// Two names never share a bucket, a quota refuses as USAGE_EXCEEDED and a
// rate as RATE_LIMITED, and the spends before a refusal stay spent.
func TestApplyNamed(t *testing.T) {
	t.Run("inmem", func(t *testing.T) {
		now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
		testApplyNamed(t, inmem.New(func() time.Time { return now }), "")
	})
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("KEYGATE_TEST_REDIS_URL")
		if url == "" {
			t.Skip("KEYGATE_TEST_REDIS_URL is not set: no Redis to test against")
		}
		opts, err := goredis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := goredis.NewClient(opts)
		prefix := "keygate-test:" + rand.Text() + ":"
		t.Cleanup(func() {
			ctx := context.Background()
			iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
			c.Close()
		})
		testApplyNamed(t, redis.New(c, prefix), prefix)
	})
}

func testApplyNamed(t *testing.T, l keygate.RateLimiter, id string) {
	ctx := context.Background()
	s := keygate.Subject{ID: id + "lineage1"}
	// A month, so that Redis's clock cannot cross a period while it runs.
	tokens := &keygate.NamedLimit{Name: "tokens", Per: "month", Limit: 1000}
	jobs := &keygate.NamedLimit{Name: "jobs", Rate: 1, Burst: 2}

	for i, want := range []int64{650, 300} { // 350 each, twice
		code, got, err := limiting.ApplyNamed(ctx, l, s, []limiting.Spend{{tokens, 350}})
		if err != nil || code != keygate.CodeValid || len(got) != 1 || got[0].Name != "tokens" || got[0].Limit != 1000 || got[0].Remaining != want {
			t.Fatalf("spend %d: %s %+v %v, want VALID with %d left", i, code, got, err, want)
		}
	}
	code, got, err := limiting.ApplyNamed(ctx, l, s, []limiting.Spend{{jobs, 1}, {tokens, 350}})
	if err != nil || code != keygate.CodeUsageExceeded || len(got) != 2 || got[1].Remaining != 300 {
		t.Fatalf("third spend: %s %+v %v, want USAGE_EXCEEDED, 300 left", code, got, err)
	}
	if got[0].Name != "jobs" || got[0].Remaining != 1 {
		t.Errorf("jobs before the refusal: %+v, want spent (1 left)", got[0])
	}
	code, got, _ = limiting.ApplyNamed(ctx, l, s, []limiting.Spend{{jobs, 1}})
	if code != keygate.CodeValid || got[0].Remaining != 0 {
		t.Errorf("jobs: %s %+v, want its own bucket with 0 left", code, got)
	}
	if code, _, _ = limiting.ApplyNamed(ctx, l, s, []limiting.Spend{{jobs, 1}}); code != keygate.CodeRateLimited {
		t.Errorf("jobs past its burst: %s, want RATE_LIMITED", code)
	}
	if code, got, _ = limiting.ApplyNamed(ctx, l, s, []limiting.Spend{{tokens, 0}}); code != keygate.CodeValid || len(got) != 0 {
		t.Errorf("cost 0: %s %+v, want VALID, nothing counted", code, got)
	}
	other := keygate.Subject{ID: id + "lineage2"}
	if code, got, _ = limiting.ApplyNamed(ctx, l, other, []limiting.Spend{{tokens, 350}}); code != keygate.CodeValid || got[0].Remaining != 650 {
		t.Errorf("another subject: %s %+v, want its own budget", code, got)
	}
	if limiting.NamedSubject(s, "a") == limiting.NamedSubject(s, "b") || limiting.NamedSubject(s, "a").ID == s.ID {
		t.Error("named subjects collide")
	}
}
