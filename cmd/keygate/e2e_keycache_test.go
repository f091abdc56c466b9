package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// TestGatewayKeyCacheMetrics: /metrics counts the key cache's hits, misses
// and entries as requests go through the gateway. A made-up identifier is a
// cache miss each time: unknown to the filter of issued identifiers, it is
// read only within the budget for unknown identifiers, and never cached.
func TestGatewayKeyCacheMetrics(t *testing.T) {
	g := startGatewayWith(t, func(c *Config) { c.KeyCacheSize = 1000 })
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "partner", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "alice")
	key := g.key(t, "alice", keygate.KeyRequest{})
	format, _ := apikey.NewFormat("kg_test")
	made, err := format.Generate() // well-formed, never issued
	if err != nil {
		t.Fatal(err)
	}
	unknown := made.Reveal()
	for deadline := time.Now().Add(5 * time.Second); !g.main.KeyFilter.Stats().Built; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the filter of issued identifiers was not built within 5 s")
		}
	}
	for range 3 {
		if status, _, body := g.call(t, "GET", "/partner/x", hdr("apikey", key.Key)); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	for range 2 {
		if status, _, _ := g.call(t, "GET", "/partner/x", hdr("apikey", unknown)); status != 401 {
			t.Fatalf("unknown key: %d", status)
		}
	}
	metrics := scrape(t, g.main.AdminURL()+"/metrics")
	for _, want := range []string{
		`keygate_key_cache_hits_total{entry="key"} 2`,
		`keygate_key_cache_hits_total{entry="absent"} 0`,
		`keygate_key_cache_misses_total 3`,
		`keygate_key_cache_evictions_total{entry="key"} 0`,
		`keygate_key_cache_entries{entry="key"} 1`,
		`keygate_key_cache_entries{entry="absent"} 0`,
		`keygate_key_filter_unknown_reads_total 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "keygate_key_"))
		}
	}
}

func TestKeyCacheSizeMustNotBeNegative(t *testing.T) {
	m := quietMain(t.TempDir(), nil)
	m.Config.KeyCacheSize = -1
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--key-cache-size") {
		m.Close()
		t.Fatalf("err = %v, want one naming --key-cache-size", err)
	}
}
