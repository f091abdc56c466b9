package e2e

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// cluster starts three gateways on one store and one Redis; each may be
// given flags of its own (b's Redis URL, say). The store is PostgreSQL, as in a real
// cluster, when KEYGATE_TEST_POSTGRES_URL is set, else a SQLite file they
// share; what is tested here is that changes made on one node reach the
// others' caches.
func cluster(tb testing.TB, flags ...[]string) []*gateway {
	tb.Helper()
	url, prefix := testRedis(tb)
	var pgURL, pgSchema string
	if os.Getenv("KEYGATE_TEST_POSTGRES_URL") != "" {
		pgURL, pgSchema = postgresStore(tb)
	}
	var nodes []*gateway
	for i := range 3 {
		node := []string{"--redis-url", url, "--redis-prefix", prefix, "--store", pgURL, "--store-schema", pgSchema}
		if i > 0 {
			node = append(node, "--data-dir", nodes[0].dataDir)
		}
		if i < len(flags) {
			node = append(node, flags[i]...)
		}
		nodes = append(nodes, startGatewayWith(tb, node...))
	}
	return nodes
}

// within polls call until it returns want, and reports how long it took.
func within(tb testing.TB, bound time.Duration, what string, want int, call func() int) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		got := call()
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			tb.Fatalf("%s: still %d after %v, want %d", what, got, bound, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestClusterNodesHonourEachOthersChanges(t *testing.T) {
	// Not parallel, as every test that measures time: alone in the package.
	nodes := cluster(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "acme")
	status := func(g *gateway, path, key string) func() int {
		return func() int {
			s, _, _ := g.call(t, "GET", path, hdr("apikey", key))
			return s
		}
	}

	t.Run("a route created on one node serves on the others", func(t *testing.T) {
		k := a.key(t, "acme", keygate.KeyRequest{})
		for _, n := range nodes {
			within(t, time.Second, "route r", http.StatusOK, status(n, "/r", k.Key))
		}
	})

	t.Run("issued on a, used on b, revoked on c: refused everywhere within a second", func(t *testing.T) {
		var took []time.Duration
		for range 20 {
			k := a.key(t, "acme", keygate.KeyRequest{})
			for _, n := range nodes { // every node caches the key as valid
				if s := status(n, "/r", k.Key)(); s != http.StatusOK {
					t.Fatalf("new key: %d", s)
				}
			}
			revoked := time.Now()
			if _, err := c.admin.RevokeKey(ctx, k.ID); err != nil {
				t.Fatal(err)
			}
			for _, n := range []*gateway{a, b} {
				within(t, time.Second, "revoked key", http.StatusUnauthorized, status(n, "/r", k.Key))
				took = append(took, time.Since(revoked))
			}
		}
		slices.Sort(took)
		t.Logf("revocation reached the other nodes in p50 %v, p99 %v, max %v (%d samples)",
			took[len(took)/2], took[len(took)*99/100], took[len(took)-1], len(took))
		if p99 := took[len(took)*99/100]; p99 > 500*time.Millisecond {
			t.Errorf("p99 propagation %v, want < 500 ms", p99)
		}
	})

	t.Run("disabled on c: refused everywhere within a second; enabled: served again", func(t *testing.T) {
		k := a.key(t, "acme", keygate.KeyRequest{})
		for _, n := range nodes {
			within(t, time.Second, "new key", http.StatusOK, status(n, "/r", k.Key))
		}
		for _, step := range []struct {
			enabled bool
			want    int
		}{{false, http.StatusUnauthorized}, {true, http.StatusOK}} {
			if _, err := c.admin.UpdateKey(ctx, k.ID, map[string]any{"enabled": step.enabled}); err != nil {
				t.Fatal(err)
			}
			for _, n := range nodes {
				within(t, time.Second, "key enabled="+strconv.FormatBool(step.enabled), step.want, status(n, "/r", k.Key))
			}
		}
	})

	t.Run("a plan changed on one node applies on the others", func(t *testing.T) {
		p := keygate.NewPlan()
		p.Name, p.Quotas = "shared", keygate.Quotas{Day: 1000}
		a.plan(t, p)
		k := a.key(t, "acme", keygate.KeyRequest{Plan: planRef("shared")})
		if _, err := c.admin.UpdatePlan(ctx, "shared", map[string]any{"quotas": map[string]any{"day": 5}}); err != nil {
			t.Fatal(err)
		}
		within(t, time.Second, "plan on b", 5, func() int {
			_, h, _ := b.call(t, "GET", "/r", hdr("apikey", k.Key))
			n := 0
			if v := h.Get("X-RateLimit-Limit-Day"); v == "5" {
				n = 5
			}
			return n
		})
	})
}

// Config changes reload every node's routing table without dropping the
// requests in flight: they finish on the table they started with.
func TestClusterReloadKeepsRequestsInFlight(t *testing.T) {
	t.Parallel()
	nodes := cluster(t)
	a, b := nodes[0], nodes[1]
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "slow", "s", nil)
	within(t, time.Second, "route on b", http.StatusOK, func() int {
		s, _, _ := b.call(t, "GET", "/slow", nil)
		return s
	})
	done := make(chan int, 10)
	for range 10 {
		go func() {
			s, _, _ := b.call(t, "GET", "/slow?sleep=400ms", nil)
			done <- s
		}()
	}
	time.Sleep(100 * time.Millisecond) // the requests are in flight on b
	for i := range 5 {                 // and the routing table changes under them, five times
		a.route(t, "extra"+strconv.Itoa(i), "s", nil)
	}
	if _, err := a.admin.UpdateRoute(context.Background(), "slow", map[string]any{"paths": []string{"/slow", "/slower"}}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if s := <-done; s != http.StatusOK {
			t.Fatalf("a request in flight during the reloads got %d, want 200", s)
		}
	}
	within(t, time.Second, "the changed route on b", http.StatusOK, func() int {
		s, _, _ := b.call(t, "GET", "/slower", nil)
		return s
	})
}

// A node that lost its connection to Redis missed what was published
// meanwhile: when it reconnects it drops its caches, so a key revoked
// while it was away is refused.
func TestClusterNodeResyncsAfterLosingRedis(t *testing.T) {
	t.Parallel()
	url, _ := testRedis(t)
	cable, cabled := redisCable(t, url)
	nodes := cluster(t, nil, []string{"--redis-url", cabled, "--redis-timeout", "100ms"})
	a, b := nodes[0], nodes[1]
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "acme")
	k := a.key(t, "acme", keygate.KeyRequest{})
	call := func() int {
		s, _, _ := b.call(t, "GET", "/r", hdr("apikey", k.Key))
		return s
	}
	b.waitLog(t, "change bus: subscribed", 1) // b's first resync is behind it
	within(t, time.Second, "b before", http.StatusOK, call)
	// The key's creation reaches b through Redis too, and drops what b
	// cached of the key; b must hold the key after that, so that only the
	// resync can make it refuse it.
	time.Sleep(200 * time.Millisecond)
	within(t, time.Second, "b before, cached", http.StatusOK, call)

	cable.cut()
	if _, err := a.admin.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if s := call(); s != http.StatusOK {
		t.Fatalf("b without Redis already refuses (%d): the test shows nothing", s)
	}
	cable.connect(t, cable.addr)
	within(t, 5*time.Second, "b after reconnecting", http.StatusUnauthorized, call)
}
