package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/postgres"
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
	t.Parallel()
	noProxy := unusedAddr(t)
	admin := startGatewayWith(t, "--role", "admin", "--proxy-listen", noProxy)
	if admin.proxyURL != "" || admin.adminURL == "" {
		t.Errorf("admin node: ProxyURL %q, AdminURL %q; want only an admin URL", admin.proxyURL, admin.adminURL)
	}
	refused(t, noProxy, "admin node's --proxy-listen")
	admin.service(t, "orders", admin.upstream.URL, nil)
	admin.route(t, "orders", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	admin.consumer(t, "alice")
	key := admin.key(t, "alice", keygate.KeyRequest{})
	admin.waitLog(t, "lease taken: running the job here", 1) // the admin node runs the jobs

	noAdmin := unusedAddr(t)
	gw := startGatewayWith(t, "--role", "gateway", "--admin-listen", noAdmin, "--data-dir", admin.dataDir,
		"--health-path", "/.keygate/health")
	if gw.adminURL != "" || gw.proxyURL == "" {
		t.Errorf("gateway node: ProxyURL %q, AdminURL %q; want only a proxy URL", gw.proxyURL, gw.adminURL)
	}
	refused(t, noAdmin, "gateway node's --admin-listen")
	if gw.holdsJobs() {
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

// TestJobLeaseMovesOnPostgres runs two admin nodes and a gateway on one
// PostgreSQL schema, with a short job lease: the jobs run on exactly one
// admin node, never on the gateway, and when that node stops, the other
// takes them over within the bound.
func TestJobLeaseMovesOnPostgres(t *testing.T) {
	t.Parallel()
	url, schema := postgresStore(t)
	// Each renewal may take a third of the TTL: long enough for PostgreSQL on
	// a loaded CI machine, short enough for a quick takeover.
	const ttl = 900 * time.Millisecond
	node := func(role string) *gateway {
		return startGatewayWith(t, "--store", url, "--store-schema", schema, "--role", role, "--job-lease-ttl", ttl.String())
	}
	a, b, gw := node("both"), node("admin"), node("gateway")
	admins := []*gateway{a, b}
	holders := func() (n int, holder *gateway) {
		if gw.holdsJobs() {
			t.Fatal("the gateway node runs the jobs")
		}
		for _, g := range admins {
			if g.holdsJobs() {
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
	if other.node == first.node {
		t.Fatalf("two nodes are both %q", first.node)
	}

	// The holder stops (it releases the lease on the way out): the other
	// takes over at its next try, a third of the TTL; the bound leaves room
	// for a loaded machine.
	stopped := time.Now()
	if err := first.stop(t); err != nil {
		t.Fatalf("keygate's exit after SIGTERM: %v", err)
	}
	admins = []*gateway{other}
	within(t, 2*time.Second, "the other admin node holds the jobs' lease", 1, func() int { n, _ := holders(); return n })
	t.Logf("jobs' lease moved %v after its holder stopped (ttl %v)", time.Since(stopped), ttl)
	// The store agrees: the lease is the other node's.
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if held, err := db.AcquireLease(ctx, jobsLease, other.node, ttl); err != nil || !held {
		t.Errorf("the lease is not %s's: %v %v", other.node, held, err)
	}
	if held, err := db.AcquireLease(ctx, jobsLease, first.node, ttl); err != nil || held {
		t.Errorf("the stopped node could take the lease back: %v %v", held, err)
	}
	// The jobs run there, on the shared store, without failing.
	if line := other.proc.logged("lifecycle jobs failed; retrying at the next tick", 1); line != nil {
		t.Errorf("the jobs failed on %s: %v", other.node, line)
	}
}

// jobsLease is the name of the lease the lifecycle jobs run under.
const jobsLease = "lifecycle-jobs"

// holdsJobs says whether the node holds the jobs' lease now, by its log:
// it took the lease more often than it lost it, and it is running.
func (g *gateway) holdsJobs() bool {
	select {
	case <-g.proc.exited:
		return false
	default:
	}
	taken, lost := 0, 0
	for g.proc.logged("lease taken: running the job here", taken+1) != nil {
		taken++
	}
	for g.proc.logged("lease lost: job stopped", lost+1) != nil {
		lost++
	}
	return taken > lost
}
