package e2e

import (
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// TestGatewayKeyCacheMetrics: /metrics counts the key cache's hits, misses
// and entries as requests go through the gateway. A made-up identifier is a
// cache miss each time: unknown to the filter of issued identifiers, it is
// read only within the budget for unknown identifiers, and never cached.
func TestGatewayKeyCacheMetrics(t *testing.T) {
	t.Parallel()
	g := startGatewayWith(t, "--key-cache-size", "1000")
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
	g.waitLog(t, "key filter built", 1)
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
	metrics := scrape(t, g.adminURL+"/metrics")
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
