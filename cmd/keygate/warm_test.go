package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth/keyauth"
)

// heldWarmUp holds the warm-up's first store read until released.
type heldWarmUp struct {
	keyauth.RecentKeys
	release chan struct{}
}

func (h *heldWarmUp) RecentlyUsedKeys(ctx context.Context, since time.Time, after string, limit int) ([]keygate.KeyWithConsumer, error) {
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return h.RecentKeys.RecentlyUsedKeys(ctx, since, after, limit)
}

// Stays in-process (a wiring test): it holds the warm-up's store reads back
// and closes the store under the node, which the binary cannot be told to.
//
// TestWarmRestart: a node restarted with --warm-window serves at once but
// reports ready (/readyz, --ready-path) only after it loaded the keys used
// recently, which it then verifies without the store; other keys need it.
func TestWarmRestart(t *testing.T) {
	dir := t.TempDir()
	first := startGatewayWith(t, func(c *Config) { c.DataDir = dir })
	first.service(t, "orders", first.upstream.URL, nil)
	first.route(t, "orders", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	first.consumer(t, "alice")
	used := []*keygate.IssuedKey{first.key(t, "alice", keygate.KeyRequest{}), first.key(t, "alice", keygate.KeyRequest{})}
	unused := first.key(t, "alice", keygate.KeyRequest{})
	for _, k := range used {
		if code, _, _ := first.call(t, "GET", "/orders", hdr("apikey", k.Key)); code != http.StatusOK {
			t.Fatalf("first node: %d, want 200", code)
		}
	}
	if err := first.main.Close(); err != nil { // writes the usage counts
		t.Fatal(err)
	}

	held := &heldWarmUp{release: make(chan struct{})}
	g := startGatewayMain(t, func(m *Main) {
		m.Config.DataDir, m.Config.WarmWindow, m.Config.ReadyPath = dir, time.Hour, "/.keygate/ready"
		m.Config.HealthPath = "/.keygate/health"
		// No usage metering: its last flush would wait for the store closed below.
		m.Config.UsageFlushInterval = 0
		m.WarmFrom = held
	})
	// The store is open once Run has returned; the warm-up waits for release.
	held.RecentKeys = g.main.Store
	readiness := func() (admin, proxy int) {
		resp, err := http.Get(g.main.AdminURL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		proxy, _, _ = g.call(t, "GET", "/.keygate/ready", nil)
		return resp.StatusCode, proxy
	}
	if admin, proxy := readiness(); admin != http.StatusServiceUnavailable || proxy != http.StatusServiceUnavailable {
		t.Errorf("while warming: /readyz %d, ready path %d, want 503 and 503", admin, proxy)
	}
	if code, _, _ := g.call(t, "GET", "/.keygate/health", nil); code != http.StatusOK {
		t.Errorf("while warming: health %d, want 200 (the listener serves)", code)
	}
	close(held.release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		admin, proxy := readiness()
		if admin == http.StatusOK && proxy == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the warm-up: /readyz %d, ready path %d, want 200 and 200", admin, proxy)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Without the store, only what the cache holds still verifies.
	g.main.Store.Close()
	tests := []struct {
		name string
		key  string
		want int
	}{
		{"used before the restart", used[0].Key, http.StatusOK},
		{"also used", used[1].Key, http.StatusOK},
		{"never used: not preloaded, the store is needed", unused.Key, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, _ := g.call(t, "GET", "/orders", hdr("apikey", tt.key)); code != tt.want {
				t.Errorf("%d, want %d", code, tt.want)
			}
		})
	}
}
