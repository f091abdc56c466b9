package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// Each target reports 1 for its state and 0 for the others.
func TestUpstreamTargets(t *testing.T) {
	m := New()
	m.UpstreamTargets(func() []TargetHealth {
		return []TargetHealth{{Service: "orders", Target: "http://a:8080", State: "unhealthy"}}
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, line := range []string{
		`keygate_upstream_target_health{service="orders",state="unhealthy",target="http://a:8080"} 1`,
		`keygate_upstream_target_health{service="orders",state="healthy",target="http://a:8080"} 0`,
		`keygate_upstream_target_health{service="orders",state="unchecked",target="http://a:8080"} 0`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("no %s in\n%s", line, body)
		}
	}
}
