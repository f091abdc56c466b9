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
