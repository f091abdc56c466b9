package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// unusedAddr returns a loopback address nothing listens on (it did a
// moment ago), so a test can show that a node does not listen there.
func unusedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// refused checks that nothing accepts connections at addr.
func refused(tb testing.TB, addr, what string) {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		tb.Errorf("%s: something listens at %s", what, addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		tb.Errorf("%s: dial %s: %v, want connection refused", what, addr, err)
	}
}

// An admin node answers the admin API and runs the jobs but has no proxy
// listener; a gateway node on the same store serves what the admin node
// configured but has no admin listener and runs no jobs.
func TestRoles(t *testing.T) {
	noProxy := unusedAddr(t)
	admin := startGatewayWith(t, func(c *Config) { c.Role, c.ProxyListen = roleAdmin, noProxy })
	if admin.main.ProxyURL() != "" || admin.main.AdminURL() == "" {
		t.Errorf("admin node: ProxyURL %q, AdminURL %q; want only an admin URL", admin.main.ProxyURL(), admin.main.AdminURL())
	}
	refused(t, noProxy, "admin node's --proxy-listen")
	admin.service(t, "orders", admin.upstream.URL, nil)
	admin.route(t, "orders", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	admin.consumer(t, "alice")
	key := admin.key(t, "alice", keygate.KeyRequest{})
	within(t, 5*time.Second, "admin node holds the jobs' lease", 1, func() int {
		if admin.main.JobLease != nil && admin.main.JobLease.Held() {
			return 1
		}
		return 0
	})

	noAdmin := unusedAddr(t)
	gw := startGatewayWith(t, func(c *Config) {
		c.Role, c.AdminListen, c.DataDir = roleGateway, noAdmin, admin.main.Config.DataDir
		c.HealthPath = "/.keygate/health"
	})
	if gw.main.AdminURL() != "" || gw.main.ProxyURL() == "" {
		t.Errorf("gateway node: ProxyURL %q, AdminURL %q; want only a proxy URL", gw.main.ProxyURL(), gw.main.AdminURL())
	}
	refused(t, noAdmin, "gateway node's --admin-listen")
	if gw.main.JobLease != nil {
		t.Error("gateway node runs the jobs")
	}
	if status, _, body := gw.call(t, "GET", "/orders/items", hdr("apikey", key.Key)); status != http.StatusOK {
		t.Errorf("gateway node: a key issued by the admin node: %d %s", status, body)
	}
	if status, _, _ := gw.call(t, "GET", "/orders/items", nil); status != http.StatusUnauthorized {
		t.Errorf("gateway node without a key: %d, want 401", status)
	}
	// With no admin listener, load balancers check the proxy listener.
	if status, _, body := gw.call(t, "GET", "/.keygate/health", nil); status != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("gateway node's health path: %d %s, want 200 ok", status, body)
	}
}

// A refused --role (or --job-lease-ttl) names its flag, before anything
// starts; --dev runs everything on one node.
func TestRoleRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unknown role", func(c *Config) { c.Role = "edge" }, `--role: "edge" is not gateway, admin or both`},
		{"dev split", func(c *Config) { c.Role, c.Dev = roleGateway, true }, "--role: --dev"},
		{"lease ttl", func(c *Config) { c.JobLeaseTTL = time.Millisecond }, "--job-lease-ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Main{Config: Config{DataDir: t.TempDir(), RootKey: testRootKey, ProxyListen: "127.0.0.1:0",
				AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			tt.edit(&m.Config)
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
	out, err := runCLI(t, "serve", "--role", "edge", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(out+err.Error(), "--role") {
		t.Errorf("serve --role edge: %v %s, want a refusal naming --role", err, out)
	}
}

// TestJobLeaseMovesOnPostgres runs two admin nodes and a gateway on one
// PostgreSQL schema, with a short job lease: the jobs run on exactly one
// admin node, never on the gateway, and when that node stops, the other
// takes them over within the bound.
func TestJobLeaseMovesOnPostgres(t *testing.T) {
	url, schema := postgresStore(t)
	// Each renewal may take a third of the TTL: long enough for PostgreSQL on
	// a loaded CI machine, short enough for a quick takeover.
	const ttl = 900 * time.Millisecond
	node := func(role string) *gateway {
		return startGatewayWith(t, func(c *Config) {
			c.Store, c.StoreSchema, c.Role, c.JobLeaseTTL = url, schema, role, ttl
		})
	}
	a, b, gw := node(roleBoth), node(roleAdmin), node(roleGateway)
	if gw.main.JobLease != nil {
		t.Fatal("the gateway node runs the jobs")
	}
	admins := []*gateway{a, b}
	holders := func() (n int, holder *gateway) {
		for _, g := range admins {
			if g.main.JobLease.Held() {
				n, holder = n+1, g
			}
		}
		return n, holder
	}
	within(t, 5*time.Second, "nodes holding the jobs' lease", 1, func() int { n, _ := holders(); return n })
	// Exactly one, renewal after renewal (three of them).
	for end := time.Now().Add(ttl); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if n, _ := holders(); n != 1 {
			t.Fatalf("%d nodes hold the jobs' lease, want 1", n)
		}
	}
	_, first := holders()
	other := a
	if first == a {
		other = b
	}
	if other.main.Holder == first.main.Holder {
		t.Fatalf("two nodes are both %q", first.main.Holder)
	}

	// The holder stops (it releases the lease on the way out): the other
	// takes over at its next try, a third of the TTL; the bound leaves room
	// for a loaded machine.
	stopped := time.Now()
	if err := first.main.Close(); err != nil {
		t.Fatal(err)
	}
	admins = []*gateway{other}
	within(t, 2*time.Second, "the other admin node holds the jobs' lease", 1, func() int { n, _ := holders(); return n })
	t.Logf("jobs' lease moved %v after its holder stopped (ttl %v)", time.Since(stopped), ttl)
	// The store agrees: the lease is the other node's.
	ctx := context.Background()
	if held, err := other.main.Store.AcquireLease(ctx, jobsLease, other.main.Holder, ttl); err != nil || !held {
		t.Errorf("the lease is not %s's: %v %v", other.main.Holder, held, err)
	}
	if held, err := other.main.Store.AcquireLease(ctx, jobsLease, first.main.Holder, ttl); err != nil || held {
		t.Errorf("the stopped node could take the lease back: %v %v", held, err)
	}
	// The jobs run there: RunOnce works on the shared store.
	if _, err := other.main.Jobs.RunOnce(ctx); err != nil {
		t.Error(err)
	}
}
