package metrics

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRouteMetrics(t *testing.T) {
	m := New()
	m.ConsumerLabels()
	r := m.Route("orders", "orders-api")
	r.Request(200, "api_key", "alice", 3*time.Millisecond, 4*time.Millisecond)
	r.Request(204, "api_key", "alice", time.Millisecond, 2*time.Millisecond)
	r.Request(401, "none", "", 0, time.Millisecond)
	r.Request(999, "made-up", "", 0, time.Millisecond) // out of range: 5xx, none
	r.Auth("granted")
	r.Auth("made-up") // counts as invalid
	want := []string{
		`keygate_auth_outcomes_total{outcome="granted",route="orders"} 1`,
		`keygate_auth_outcomes_total{outcome="invalid",route="orders"} 1`,
		`keygate_consumer_requests_total{consumer="alice",route="orders",status_class="2xx"} 2`,
		`keygate_gateway_duration_seconds_count{route="orders",service="orders-api"} 4`,
		`keygate_requests_total{credential="api_key",route="orders",service="orders-api",status_class="2xx"} 2`,
		`keygate_requests_total{credential="none",route="orders",service="orders-api",status_class="4xx"} 1`,
		`keygate_requests_total{credential="none",route="orders",service="orders-api",status_class="5xx"} 1`,
		`keygate_upstream_duration_seconds_count{route="orders",service="orders-api"} 2`,
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "keygate_") {
			continue
		}
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name, v := f.GetName(), s.GetCounter().GetValue()
			if h := s.GetHistogram(); h != nil {
				name, v = name+"_count", float64(h.GetSampleCount())
			}
			if v != 0 {
				got = append(got, fmt.Sprintf("%s{%s} %v", name, strings.Join(labels, ","), v))
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
