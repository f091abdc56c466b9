package e2e

import (
	"context"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// reconcileBound is how long a change may take to reach another node through
// the change log alone: the default interval of one second, plus the
// moment a run and a request take.
const reconcileBound = 1500 * time.Millisecond

// sharedStore returns the flags that put a node on the test's one store:
// PostgreSQL when KEYGATE_TEST_POSTGRES_URL is set, as in a real cluster,
// else the SQLite file of the first node's data dir.
func sharedStore(tb testing.TB) func(first *gateway) []string {
	tb.Helper()
	var url, schema string
	if os.Getenv("KEYGATE_TEST_POSTGRES_URL") != "" {
		url, schema = postgresStore(tb)
	}
	return func(first *gateway) []string {
		flags := []string{"--store", url, "--store-schema", schema}
		if first != nil {
			flags = append(flags, "--data-dir", first.dataDir)
		}
		return flags
	}
}

// keyStatus calls route r on g with key.
func keyStatus(tb testing.TB, g *gateway, key string) func() int {
	return func() int {
		s, _, _ := g.call(tb, "GET", "/r", hdr("apikey", key))
		return s
	}
}

// Without Redis, changes reach the other nodes through the change log: a
// route created and a key revoked on one node are honoured by the other
// within the reconcile interval.
func TestReconcileWithoutRedis(t *testing.T) {
	// Not parallel, as every test that measures time: alone in the package.
	onStore := sharedStore(t)
	var a *gateway
	start := func() *gateway {
		return startGatewayWith(t, append(onStore(a), "--reconcile-interval", "1s")...)
	}
	a = start()
	b := start() // without the Redis bus, with the reconciler
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "acme")
	k := a.key(t, "acme", keygate.KeyRequest{})
	within(t, reconcileBound, "route created on a, on b", http.StatusOK, keyStatus(t, b, k.Key))

	var took []time.Duration
	for range 3 {
		k := a.key(t, "acme", keygate.KeyRequest{})
		for _, g := range []*gateway{a, b} { // both cache the key as valid
			if s := keyStatus(t, g, k.Key)(); s != http.StatusOK {
				t.Fatalf("new key: %d", s)
			}
		}
		if _, err := a.admin.RevokeKey(context.Background(), k.ID); err != nil {
			t.Fatal(err)
		}
		took = append(took, within(t, reconcileBound, "key revoked on a, on b", http.StatusUnauthorized, keyStatus(t, b, k.Key)))
	}
	slices.Sort(took)
	t.Logf("revocation reached the other node through the change log in %v (max of %d)", took[len(took)-1], len(took))
}

// A change whose Redis message a node missed reaches it through the change
// log, without waiting for the node to get Redis back (which would resync
// it whole): b and c lose Redis while a revokes; b, with the reconciler,
// refuses the key within the interval, while c, without, still accepts it.
func TestReconcileWhenRedisLosesTheMessage(t *testing.T) {
	// Not parallel, as every test that measures time: alone in the package.
	url, _ := testRedis(t)
	cableB, urlB := redisCable(t, url)
	cableC, urlC := redisCable(t, url)
	nodes := cluster(t,
		[]string{"--reconcile-interval", "1s"},
		[]string{"--redis-url", urlB, "--redis-timeout", "100ms", "--reconcile-interval", "1s"},
		[]string{"--redis-url", urlC, "--redis-timeout", "100ms"}, // and no reconciler (baseFlags)
	)
	a, b, c := nodes[0], nodes[1], nodes[2]
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "acme")
	k := a.key(t, "acme", keygate.KeyRequest{})
	for _, g := range []*gateway{b, c} {
		g.waitLog(t, "change bus: subscribed", 1) // its first resync is behind it
		within(t, time.Second, "key before", http.StatusOK, keyStatus(t, g, k.Key))
	}
	// The key's creation reaches c through Redis a moment later and drops
	// what c cached: let it, then cache the key on c again, so that c holds
	// it as valid for as long as nothing tells it otherwise.
	time.Sleep(200 * time.Millisecond)
	for _, g := range []*gateway{b, c} {
		if s := keyStatus(t, g, k.Key)(); s != http.StatusOK {
			t.Fatalf("key before: %d", s)
		}
	}

	cableB.cut()
	cableC.cut()
	if _, err := a.admin.RevokeKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	took := within(t, reconcileBound, "b, cut off from Redis, after the revoke", http.StatusUnauthorized, keyStatus(t, b, k.Key))
	t.Logf("the revoke reached b through the change log in %v", took)
	if s := keyStatus(t, c, k.Key)(); s != http.StatusOK {
		t.Errorf("c, cut off from Redis and without the reconciler, answers %d: the Redis bus reached it, so b's refusal proves nothing", s)
	}
}
