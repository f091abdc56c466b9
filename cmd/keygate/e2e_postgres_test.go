package main

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/postgres"
)

// postgresStore returns the PostgreSQL URL of KEYGATE_TEST_POSTGRES_URL and
// a new schema on it, dropped when the test ends; without the variable the
// test is skipped.
func postgresStore(tb testing.TB) (url, schema string) {
	tb.Helper()
	url = os.Getenv("KEYGATE_TEST_POSTGRES_URL")
	if url == "" {
		tb.Skip("KEYGATE_TEST_POSTGRES_URL not set: set it to a PostgreSQL database to run keygate on PostgreSQL end to end")
	}
	schema = "keygate_e2e_" + rand.Text()[:12]
	tb.Cleanup(func() {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			tb.Error(err)
			return
		}
		db := stdlib.OpenDB(*cfg)
		defer db.Close()
		if _, err := db.Exec(`DROP SCHEMA IF EXISTS ` + pgx.Identifier{schema}.Sanitize() + ` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return url, schema
}

// TestPostgresGateway runs two keygate nodes on one PostgreSQL store: a key
// issued through one node's admin API authenticates at the other's gateway,
// and a node started again finds everything where it was.
func TestPostgresGateway(t *testing.T) {
	url, schema := postgresStore(t)
	onPostgres := func(c *Config) { c.Store, c.StoreSchema = url, schema }
	a := startGatewayWith(t, onPostgres)
	if _, ok := a.main.Store.(*postgres.DB); !ok {
		t.Fatalf("the store is a %T, want *postgres.DB", a.main.Store)
	}
	b := startGatewayWith(t, onPostgres)

	a.service(t, "orders", a.upstream.URL+"/api", nil)
	a.route(t, "partner", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "alice")
	key := a.key(t, "alice", keygate.KeyRequest{})

	// Node b learns of routes when it reloads them (cross-node propagation
	// is not part of the store); its keys come from the store on a miss.
	if err := b.main.Proxy.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
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
	c := startGatewayWith(t, onPostgres)
	if status, _, _ := c.call(t, "GET", "/partner/items", hdr("apikey", key.Key)); status != http.StatusUnauthorized {
		t.Errorf("node c: a revoked key: %d, want 401", status)
	}
	fresh := c.key(t, "alice", keygate.KeyRequest{})
	if status, _, body := c.call(t, "GET", "/partner/items", hdr("apikey", fresh.Key)); status != http.StatusOK {
		t.Errorf("node c: a key it issued: %d %s", status, body)
	}
}

// TestStoreFlag: --store is checked before anything starts, and backup
// refuses a PostgreSQL store with a message instead of failing halfway.
func TestStoreFlag(t *testing.T) {
	m := &Main{Config: Config{DataDir: t.TempDir(), Store: "mysql://localhost/keygate", RootKey: testRootKey,
		ProxyListen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "--store") {
		t.Errorf("Run with --store mysql://...: %v, want an error about --store", err)
	}

	out, err := runCLI(t, "backup", "--store", "postgres://u:hunter2@127.0.0.1:1/db", "--out", t.TempDir()+"/b.kgb")
	if err == nil || !strings.Contains(out+err.Error(), "PostgreSQL") {
		t.Errorf("backup of a PostgreSQL store: %v %s, want a refusal naming PostgreSQL", err, out)
	}
	if err != nil && strings.Contains(out+err.Error(), "hunter2") {
		t.Errorf("backup's message shows the password: %v %s", err, out)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"password", "postgres://keygate:hunter2@db:5432/kg", "postgres://keygate:xxxxx@db:5432/kg"},
		{"no password", "postgres://keygate@db/kg", "postgres://keygate@db/kg"},
		{"no user", "postgres://db/kg?sslmode=disable", "postgres://db/kg?sslmode=disable"},
		{"at in the query", "postgres://db/kg?x=a@b", "postgres://db/kg?x=a@b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURL(tt.in); got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
