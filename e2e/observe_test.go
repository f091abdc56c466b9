package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// TestMetricsCountRequests scrapes /metrics after a few requests through
// the binary and checks the exact counts of each kind, and the access log's
// line of one of them.
func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	clock := newFileClock(t, time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)) // frozen: the burst never refills
	g := startGatewayWith(t, append(clock.flags(), "--access-log", "stderr", "--health-path", "/.keygate/health")...)
	ctx := context.Background()
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	plan := keygate.NewPlan()
	plan.Name, plan.Rate, plan.Burst = "tight", 1, 2
	g.plan(t, plan)
	c := keygate.NewConsumer()
	c.Username, c.Plan = "alice", planRef("tight")
	if _, err := g.admin.CreateConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	k := g.key(t, "alice", keygate.KeyRequest{})
	format, err := apikey.NewFormat("kg_test")
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := format.Generate()
	if err != nil {
		t.Fatal(err)
	}

	for _, want := range []struct {
		key    string
		status int
	}{{k.Key, 200}, {k.Key, 200}, {k.Key, 429}, {"", 401}, {unknown.Reveal(), 401}, {"not-a-key", 401}} {
		if status, _, body := g.call(t, "GET", "/r/x", hdr("apikey", want.key)); status != want.status {
			t.Fatalf("key %.10q: status %d, want %d: %s", want.key, status, want.status, body)
		}
	}
	g.call(t, "GET", "/nowhere", nil)
	g.call(t, "GET", "/.keygate/health", nil) // the gateway's own path: not counted

	got := scrapeSeries(t, g.adminURL)
	for series, want := range map[string]float64{
		`keygate_requests_total{credential="api_key",route="r",service="s",status_class="2xx"}`:              2,
		`keygate_requests_total{credential="api_key",route="r",service="s",status_class="4xx"}`:              3,
		`keygate_requests_total{credential="none",route="r",service="s",status_class="4xx"}`:                 1,
		`keygate_requests_total{credential="none",route="unmatched",service="unmatched",status_class="4xx"}`: 1,
		`keygate_auth_outcomes_total{outcome="granted",route="r"}`:                                           2,
		`keygate_auth_outcomes_total{outcome="rate_limited",route="r"}`:                                      1,
		`keygate_auth_outcomes_total{outcome="missing",route="r"}`:                                           1,
		`keygate_auth_outcomes_total{outcome="unknown",route="r"}`:                                           1,
		`keygate_auth_outcomes_total{outcome="malformed",route="r"}`:                                         1,
		`keygate_rate_limit_decisions_total{result="limited"}`:                                               1,
		`keygate_upstream_duration_seconds_count{route="r",service="s"}`:                                     2,
		`keygate_gateway_duration_seconds_count{route="r",service="s"}`:                                      6,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
	if n := got[`keygate_requests_total{credential="api_key",route="r",service="s",status_class="5xx"}`]; n != 0 {
		t.Errorf("5xx counted: %v", n)
	}

	line := g.waitLog(t, "access", 1)
	for field, want := range map[string]any{"route": "r", "service": "s", "status": 200.0, "consumer": "alice",
		"credential": "api_key", "credential_id": k.ID, "auth": "granted", "method": "GET", "path": "/r/x"} {
		if line[field] != want {
			t.Errorf("access log %s = %v, want %v (line %v)", field, line[field], want, line)
		}
	}
	if id, _ := line["request_id"].(string); id == "" {
		t.Errorf("access log without request_id: %v", line)
	}
	if strings.Contains(g.proc.stderr(), k.Key) {
		t.Fatal("the key reached the log")
	}
}

// scrapeSeries reads /metrics into series → value.
func scrapeSeries(tb testing.TB, adminURL string) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	for line := range strings.SplitSeq(scrape(tb, adminURL+"/metrics"), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			tb.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}
