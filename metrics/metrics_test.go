package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCountersAreExposed(t *testing.T) {
	m := New()
	m.RateLimited(true)
	m.RateLimited(true)
	m.RateLimited(false)
	m.RateLimitFailed(true)
	m.RateLimitFailed(false)
	m.RateLimitFailed(false)
	m.UsageFlushed(7)
	m.UsageFlushFailed()
	m.UsageDropped(2)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`keygate_rate_limit_decisions_total{result="allowed"} 2`,
		`keygate_rate_limit_decisions_total{result="limited"} 1`,
		`keygate_rate_limit_decisions_total{result="failed_open"} 1`,
		`keygate_rate_limit_decisions_total{result="failed_closed"} 2`,
		`keygate_usage_records_written_total 7`,
		`keygate_usage_write_failures_total 1`,
		`keygate_usage_records_dropped_total 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestKeyCacheCountsAreExposed(t *testing.T) {
	m := New()
	m.KeyCache(func() KeyCacheStats {
		return KeyCacheStats{Hits: 10, MissHits: 4, Misses: 3, Evictions: 2, MissEvictions: 5, Keys: 7, CachedMisses: 1}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`keygate_key_cache_hits_total{entry="key"} 10`,
		`keygate_key_cache_hits_total{entry="absent"} 4`,
		`keygate_key_cache_misses_total 3`,
		`keygate_key_cache_evictions_total{entry="key"} 2`,
		`keygate_key_cache_evictions_total{entry="absent"} 5`,
		`keygate_key_cache_entries{entry="key"} 7`,
		`keygate_key_cache_entries{entry="absent"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
