package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/postgres/pgtest"
)

// postgresStore returns the PostgreSQL URL of KEYGATE_TEST_POSTGRES_URL and
// a new schema on it, dropped when the test ends; without the variable the
// test is skipped.
func postgresStore(tb testing.TB) (url, schema string) {
	tb.Helper()
	return pgtest.Schema(tb, "keygate_e2e_")
}

// TestPostgresGateway runs two keygate nodes on one PostgreSQL store: a key
// issued through one node's admin API authenticates at the other's gateway,
// and a node started again finds everything where it was.
func TestPostgresGateway(t *testing.T) {
	t.Parallel()
	url, schema := postgresStore(t)
	onPostgres := []string{"--store", url, "--store-schema", schema}
	a := startGatewayWith(t, onPostgres...)
	a.service(t, "orders", a.upstream.URL+"/api", nil)
	a.route(t, "partner", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "alice")
	key := a.key(t, "alice", keygate.KeyRequest{})
	db, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.FindConsumer(context.Background(), "alice"); err != nil {
		t.Fatalf("node a's consumer is not in PostgreSQL: %v", err)
	}

	// Node b loads the routes when it starts (cross-node propagation is not
	// part of the store; this node has none); its keys come from the store
	// on a miss.
	b := startGatewayWith(t, onPostgres...)
	for name, g := range map[string]*gateway{"a": a, "b": b} {
		status, _, body := g.call(t, "GET", "/partner/items", hdr("apikey", key.Key))
		if status != http.StatusOK {
			t.Fatalf("node %s: key from node a: %d %s", name, status, body)
		}
		if e := decodeEcho(t, body); e.Path != "/api/items" || e.Headers["X-Consumer-Username"][0] != "alice" {
			t.Errorf("node %s: upstream saw %s with consumer %v", name, e.Path, e.Headers["X-Consumer-Username"])
		}
		if status, _, _ := g.call(t, "GET", "/partner/items", nil); status != http.StatusUnauthorized {
			t.Errorf("node %s: without a key: %d, want 401", name, status)
		}
	}

	// Revoked on b: b refuses it at once.
	if _, err := b.admin.RevokeKey(context.Background(), key.ID); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := b.call(t, "GET", "/partner/items", hdr("apikey", key.Key)); status != http.StatusUnauthorized {
		t.Errorf("node b: a key it revoked: %d, want 401", status)
	}

	// A third node on the same schema: migrations already applied, the
	// keyring and pepper already there, the revoked key still refused.
	c := startGatewayWith(t, onPostgres...)
	if status, _, _ := c.call(t, "GET", "/partner/items", hdr("apikey", key.Key)); status != http.StatusUnauthorized {
		t.Errorf("node c: a revoked key: %d, want 401", status)
	}
	fresh := c.key(t, "alice", keygate.KeyRequest{})
	if status, _, body := c.call(t, "GET", "/partner/items", hdr("apikey", fresh.Key)); status != http.StatusOK {
		t.Errorf("node c: a key it issued: %d %s", status, body)
	}
}

// PostgreSQL unreachable: the gateway keeps verifying the keys it has
// cached, past their cache lifetime, for the stale window, and answers 503
// — never 401 — for keys it cannot check; admin writes fail with 503. When
// PostgreSQL is back, everything resumes without a restart.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	url, schema := postgresStore(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cable := newCable(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	cabled := strings.Replace(url, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cable.addr, 1)
	if cabled == url {
		t.Skipf("cannot put a cable into %s", url)
	}
	clock := newFileClock(t, time.Now())
	g := startGatewayWith(t, append(clock.flags(), "--store", cabled, "--store-schema", schema, "--stale-cache-window", "10m")...)
	ctx := context.Background()
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "alice")
	cached, uncached := g.key(t, "alice", keygate.KeyRequest{}), g.key(t, "alice", keygate.KeyRequest{})
	call := func(key string) int {
		s, _, _ := g.call(t, "GET", "/r", hdr("apikey", key))
		return s
	}
	if s := call(cached.Key); s != http.StatusOK {
		t.Fatalf("before the outage: %d", s)
	}

	cable.cut()
	clock.Advance(7 * time.Minute) // past the 5-minute cache lifetime, within the stale window
	if s := call(cached.Key); s != http.StatusOK {
		t.Errorf("a cached key during the outage: %d, want 200 (served stale)", s)
	}
	if s := call(uncached.Key); s != http.StatusServiceUnavailable {
		t.Errorf("a key never cached during the outage: %d, want 503", s)
	}
	_, err = g.admin.CreateConsumer(ctx, &keygate.Consumer{Username: "bob", Groups: []string{}, Tags: []string{}})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable {
		t.Errorf("an admin write during the outage: %v, want 503", err)
	}

	cable.connect(t, cable.addr)
	within(t, 10*time.Second, "the key never cached, after the outage", http.StatusOK, func() int {
		clock.Advance(time.Second) // past the moment the verifier waits before asking the store again
		return call(uncached.Key)
	})
	if _, err := g.admin.CreateConsumer(ctx, &keygate.Consumer{Username: "bob", Groups: []string{}, Tags: []string{}}); err != nil {
		t.Errorf("an admin write after the outage: %v", err)
	}
}
