package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// TestDashboardQueriesExportedMetrics parses the Grafana dashboard in
// deploy/ and checks that every metric its queries name is one New
// exports, so that a renamed metric cannot leave a panel empty.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("../deploy/grafana/keygate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("keygate.json: %v", err)
	}
	exported := exportedNames(t)
	name := regexp.MustCompile(`\bkeygate_[a-z0-9_]+\b`)
	check := func(where, expr string) {
		names := name.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: query %q names no keygate metric", where, expr)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%s: %s is not exported by metrics.New", where, n)
			}
		}
	}
	queries := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
			queries++
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			check("variable "+v.Name, v.Definition)
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries: the dashboard did not parse as expected", queries)
	}
}

// exportedNames gathers every series name New exports, each vector
// touched first (a vector without children gathers nothing); a histogram
// gives its _bucket, _sum and _count.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := New()
	m.ConsumerLabels()
	r := m.Route("r", "s")
	r.Request(200, "api_key", "alice", 1, 2)
	r.Auth("granted")
	m.RateLimited(true)
	m.RateLimitFailed(true)
	m.OAuth2Token("issued")
	m.UsageFlushed(1)
	m.UsageFlushFailed()
	m.UsageDropped(1)
	m.WebhookDelivery("delivered")
	m.JobRun("lifecycle", false)
	m.StoreError("authenticate")
	m.AccessLogDropped(1)
	m.KeyCache(func() KeyCacheStats { return KeyCacheStats{} })
	m.KeyFilter(func() KeyFilterStats { return KeyFilterStats{} })
	m.UpstreamTargets(func() []TargetHealth { return []TargetHealth{{Service: "s", Target: "t", State: "healthy"}} })
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		n := f.GetName()
		names[n] = true
		if ms := f.GetMetric(); len(ms) > 0 && ms[0].GetHistogram() != nil {
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
		}
	}
	return names
}
