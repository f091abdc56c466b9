package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

func (g *gateway) plan(tb testing.TB, p *keygate.Plan) *keygate.Plan {
	tb.Helper()
	p, err := g.admin.CreatePlan(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func planRef(name string) *keygate.Ref { return &keygate.Ref{Name: name} }

// wantHeaders checks response headers; a value of "" means absent.
func wantHeaders(tb testing.TB, h http.Header, kv ...string) {
	tb.Helper()
	for i := 0; i < len(kv); i += 2 {
		if got := h.Get(kv[i]); got != kv[i+1] {
			tb.Errorf("%s = %q, want %q", kv[i], got, kv[i+1])
		}
	}
}

func TestGatewayEnforcesUsagePlans(t *testing.T) {
	t.Parallel()
	clock := newFileClock(t, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	g := startGatewayWith(t, append(clock.flags(), "--usage-flush-interval", "50ms")...)
	ctx := context.Background()
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.route(t, "costly", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })

	basic := keygate.NewPlan()
	basic.Name, basic.Rate, basic.Burst, basic.Quotas = "basic", 1, 3, keygate.Quotas{Minute: 5}
	g.plan(t, basic)
	alice := keygate.NewConsumer()
	alice.Username, alice.Plan = "alice", planRef("basic")
	if _, err := g.admin.CreateConsumer(ctx, alice); err != nil {
		t.Fatal(err)
	}
	k := g.key(t, "alice", keygate.KeyRequest{})
	call := func() (int, http.Header, []byte) { return g.call(t, "GET", "/r", hdr("apikey", k.Key)) }

	t.Run("a burst is allowed, with the limits in headers", func(t *testing.T) {
		status, h, body := call()
		if status != http.StatusOK {
			t.Fatalf("status = %d: %s", status, body)
		}
		wantHeaders(t, h, "X-RateLimit-Limit-Second", "3", "X-RateLimit-Remaining-Second", "2",
			"X-RateLimit-Limit-Minute", "5", "X-RateLimit-Remaining-Minute", "4",
			"RateLimit-Limit", "3", "RateLimit-Remaining", "2", "RateLimit-Reset", "1", "Retry-After", "")
		for range 2 {
			if status, _, body := call(); status != http.StatusOK {
				t.Fatalf("status = %d: %s", status, body)
			}
		}
	})
	t.Run("beyond the burst: 429, and refusals consume nothing", func(t *testing.T) {
		for range 10 {
			status, h, body := call()
			if status != http.StatusTooManyRequests || decodeMessage(t, body) != "API rate limit exceeded" {
				t.Fatalf("status = %d, body %s; want 429 API rate limit exceeded", status, body)
			}
			wantHeaders(t, h, "Retry-After", "1", "X-RateLimit-Remaining-Second", "0", "X-RateLimit-Remaining-Minute", "2",
				"RateLimit-Remaining", "0")
		}
		clock.Advance(2 * time.Second) // two requests' worth of rate
		for i := range 2 {
			status, h, body := call()
			if status != http.StatusOK {
				t.Fatalf("request %d after 2 s: status = %d: %s", i, status, body)
			}
			wantHeaders(t, h, "X-RateLimit-Remaining-Minute", strconv.Itoa(1-i))
		}
	})
	t.Run("the minute's quota ends at the minute, whatever the rate allows", func(t *testing.T) {
		clock.Advance(time.Second) // 3 s into the minute; the rate would allow one
		status, h, _ := call()
		if status != http.StatusTooManyRequests {
			t.Fatalf("status = %d, want 429", status)
		}
		wantHeaders(t, h, "Retry-After", "57", "X-RateLimit-Remaining-Minute", "0",
			"RateLimit-Limit", "5", "RateLimit-Remaining", "0", "RateLimit-Reset", "57")
		clock.Advance(57 * time.Second)
		if status, h, _ := call(); status != http.StatusOK || h.Get("X-RateLimit-Remaining-Minute") != "4" {
			t.Fatalf("next minute: status = %d, remaining %q; want 200 and 4", status, h.Get("X-RateLimit-Remaining-Minute"))
		}
	})
	t.Run("a key's own plan overrides its consumer's", func(t *testing.T) {
		gold := keygate.NewPlan()
		gold.Name, gold.Rate = "gold", 1000
		g.plan(t, gold)
		k2 := g.key(t, "alice", keygate.KeyRequest{Plan: planRef("gold")})
		for range 20 {
			status, h, _ := g.call(t, "GET", "/r", hdr("apikey", k2.Key))
			if status != http.StatusOK || h.Get("X-RateLimit-Limit-Second") != "1000" {
				t.Fatalf("status = %d, limit %q; want 200 under gold's 1000", status, h.Get("X-RateLimit-Limit-Second"))
			}
		}
	})
	t.Run("a route's cost and limits of its own", func(t *testing.T) {
		metered := keygate.NewPlan()
		metered.Name, metered.Quotas = "metered", keygate.Quotas{Hour: 10}
		rate := 1.0
		metered.Routes = []keygate.PlanRoute{{Route: keygate.Ref{Name: "costly"}, Cost: 4, Rate: &rate, Burst: 8}}
		g.plan(t, metered)
		bob := keygate.NewConsumer()
		bob.Username, bob.Plan = "bob", planRef("metered")
		if _, err := g.admin.CreateConsumer(ctx, bob); err != nil {
			t.Fatal(err)
		}
		kb := g.key(t, "bob", keygate.KeyRequest{})
		costly := func() (int, http.Header) {
			status, h, _ := g.call(t, "GET", "/costly", hdr("apikey", kb.Key))
			return status, h
		}
		plain := func() (int, http.Header) {
			status, h, _ := g.call(t, "GET", "/r", hdr("apikey", kb.Key))
			return status, h
		}
		_, h := costly()
		wantHeaders(t, h, "X-RateLimit-Remaining-Hour", "6", "X-RateLimit-Limit-Second", "8", "X-RateLimit-Remaining-Second", "4")
		_, h = plain() // the plan's quota is shared with the other routes; its rate is not
		wantHeaders(t, h, "X-RateLimit-Remaining-Hour", "5", "X-RateLimit-Limit-Second", "")
		_, h = costly()
		wantHeaders(t, h, "X-RateLimit-Remaining-Hour", "1", "X-RateLimit-Remaining-Second", "0")
		if status, _ := costly(); status != http.StatusTooManyRequests {
			t.Fatalf("cost 4 with 1 left: status = %d, want 429", status)
		}
		if status, h := plain(); status != http.StatusOK || h.Get("X-RateLimit-Remaining-Hour") != "0" {
			t.Fatalf("cost 1 with 1 left: status = %d, remaining %q; want 200 and 0", status, h.Get("X-RateLimit-Remaining-Hour"))
		}
	})
	t.Run("limit_by consumer: a consumer's keys share the limits", func(t *testing.T) {
		shared := keygate.NewPlan()
		shared.Name, shared.Quotas, shared.LimitBy = "shared", keygate.Quotas{Day: 3}, keygate.LimitByConsumer
		g.plan(t, shared)
		carol := keygate.NewConsumer()
		carol.Username, carol.Plan = "carol", planRef("shared")
		if _, err := g.admin.CreateConsumer(ctx, carol); err != nil {
			t.Fatal(err)
		}
		k1, k2 := g.key(t, "carol", keygate.KeyRequest{}), g.key(t, "carol", keygate.KeyRequest{})
		var statuses []int
		for _, key := range []string{k1.Key, k2.Key, k1.Key, k2.Key} {
			status, _, _ := g.call(t, "GET", "/r", hdr("apikey", key))
			statuses = append(statuses, status)
		}
		if statuses[2] != http.StatusOK || statuses[3] != http.StatusTooManyRequests {
			t.Fatalf("statuses %v, want the 4th refused", statuses)
		}
	})
	t.Run("rotating a key does not reset its limits", func(t *testing.T) {
		daily := keygate.NewPlan()
		daily.Name, daily.Quotas = "daily", keygate.Quotas{Day: 3}
		g.plan(t, daily)
		old := g.key(t, "alice", keygate.KeyRequest{Plan: planRef("daily")})
		for range 2 {
			if status, _, _ := g.call(t, "GET", "/r", hdr("apikey", old.Key)); status != http.StatusOK {
				t.Fatalf("status = %d, want 200", status)
			}
		}
		rotation, err := g.admin.RotateKey(ctx, old.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		next := rotation.Key.Key
		if status, h, _ := g.call(t, "GET", "/r", hdr("apikey", next)); status != http.StatusOK || h.Get("X-RateLimit-Remaining-Day") != "0" {
			t.Fatalf("successor: status = %d, remaining %q; want 200 and 0 (the predecessor's count)", status, h.Get("X-RateLimit-Remaining-Day"))
		}
		for _, key := range []string{next, old.Key} {
			if status, _, _ := g.call(t, "GET", "/r", hdr("apikey", key)); status != http.StatusTooManyRequests {
				t.Fatalf("status = %d, want 429: the chain's quota is spent", status)
			}
		}
	})
	t.Run("taking the plan away lifts the limits at once", func(t *testing.T) {
		if _, err := g.admin.UpdateConsumer(ctx, "carol", map[string]any{"plan": nil}); err != nil {
			t.Fatal(err)
		}
		k3 := g.key(t, "carol", keygate.KeyRequest{})
		status, h, _ := g.call(t, "GET", "/r", hdr("apikey", k3.Key))
		if status != http.StatusOK || h.Get("RateLimit-Limit") != "" {
			t.Fatalf("status = %d, RateLimit-Limit %q; want 200 without limits", status, h.Get("RateLimit-Limit"))
		}
	})
	t.Run("changing a plan applies on the next request", func(t *testing.T) {
		if _, err := g.admin.UpdatePlan(ctx, "basic", map[string]any{"quotas": map[string]any{"minute": 50}}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
		if _, h, _ := call(); h.Get("X-RateLimit-Limit-Minute") != "50" {
			t.Fatalf("X-RateLimit-Limit-Minute = %q, want 50", h.Get("X-RateLimit-Limit-Minute"))
		}
	})
	t.Run("hide_client_headers leaves the headers out but keeps Retry-After", func(t *testing.T) {
		quiet := keygate.NewPlan()
		quiet.Name, quiet.Quotas, quiet.HideClientHeaders = "quiet", keygate.Quotas{Hour: 1}, true
		g.plan(t, quiet)
		kq := g.key(t, "alice", keygate.KeyRequest{Plan: planRef("quiet")})
		status, h, _ := g.call(t, "GET", "/r", hdr("apikey", kq.Key))
		if status != http.StatusOK {
			t.Fatalf("status = %d, want 200", status)
		}
		wantHeaders(t, h, "RateLimit-Limit", "", "X-RateLimit-Limit-Hour", "")
		status, h, _ = g.call(t, "GET", "/r", hdr("apikey", kq.Key))
		if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Fatalf("status = %d, Retry-After %q; want 429 with Retry-After", status, h.Get("Retry-After"))
		}
		wantHeaders(t, h, "RateLimit-Remaining", "", "X-RateLimit-Remaining-Hour", "")
	})
	t.Run("usage counts what was served and refused", func(t *testing.T) {
		// The node writes its counts every 50 ms (--usage-flush-interval).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			report, err := g.admin.Usage(ctx, client.UsageQuery{Consumer: "alice", From: clock.Now().Add(-time.Hour), To: clock.Now().Add(time.Minute),
				Granularity: keygate.ByHour})
			if err != nil {
				t.Fatal(err)
			}
			var allowed, rejected int64
			for _, row := range report.Data {
				if row.CredentialID == k.ID {
					allowed, rejected = allowed+row.Allowed, rejected+row.Rejected
				}
			}
			// 3 + 2 + 1 + 1 served, 10 + 1 refused.
			if allowed == 7 && rejected == 11 {
				break
			}
			if allowed > 7 || rejected > 11 || time.Now().After(deadline) {
				t.Fatalf("usage of alice's key: %d allowed, %d rejected; want 7 and 11 (%+v)", allowed, rejected, report.Data)
			}
		}
	})
}

// The keygate plans commands.

func TestCLIPlans(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	ctx := t.Context()
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")
	admin(t, "routes", "create", "--name", "reports", "--service", "orders", "--path", "/reports")
	admin(t, "routes", "create", "--name", "search", "--service", "orders", "--path", "/search")

	out := admin(t, "plans", "create", "--name", "partner", "--description", "for partners", "--rate", "2.5", "--burst", "10",
		"--quota-day", "1000", "--quota-month", "20000", "--route-cost", "reports=10", "--tag", "b2b", "--hide-client-headers")
	wantTable(t, out, planHeader, []string{"partner", "2.5/s", "10", "day:1000,month:20000", "key", "true", "1"})
	p, err := e.Client.Plan(ctx, "partner")
	if err != nil {
		t.Fatal(err)
	}
	reports, err := e.Client.Route(ctx, "reports")
	if err != nil {
		t.Fatal(err)
	}
	if p.Description != "for partners" || p.Rate != 2.5 || p.Burst != 10 || p.Quotas != (keygate.Quotas{Day: 1000, Month: 20000}) ||
		len(p.Routes) != 1 || p.Routes[0].Route.ID != reports.ID || p.Routes[0].Cost != 10 || p.Tags[0] != "b2b" || !p.HideClientHeaders {
		t.Fatalf("created %+v", p)
	}
	admin(t, "plans", "create", "--name", "free", "--quota-minute", "10", "--limit-by", "consumer")
	wantTable(t, admin(t, "plans", "list"), planHeader, []string{"partner", "true"}, []string{"free", "-", "minute:10", "consumer", "false"})
	wantTable(t, admin(t, "plans", "get", "partner"), planHeader, []string{"partner", "key", "true", "1"})
	if got := adminJSON[keygate.Plan](t, "plans", "get", "free"); got.HideClientHeaders {
		t.Errorf("created without --hide-client-headers: %+v", got)
	}

	page := adminJSON[keygate.List[*keygate.Plan]](t, "plans", "list", "--size", "1")
	if len(page.Data) != 1 || page.Offset == "" {
		t.Fatalf("first page %+v", page)
	}
	if got := adminJSON[keygate.Plan](t, "plans", "get", p.ID); got.Name != "partner" {
		t.Errorf("get by id: %+v", got)
	}

	// A per-route rate set through the API, which update must keep.
	rate := 1.0
	if _, err := e.Client.UpdatePlan(ctx, "partner", map[string]any{"routes": []keygate.PlanRoute{
		{Route: keygate.Ref{Name: "reports"}, Cost: 10, Rate: &rate}}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		check func(*keygate.Plan) bool
	}{
		{"one quota keeps the others", []string{"--quota-hour", "100"}, func(p *keygate.Plan) bool {
			return p.Quotas == keygate.Quotas{Hour: 100, Day: 1000, Month: 20000} && p.Rate == 2.5 && p.Burst == 10 && p.HideClientHeaders
		}},
		{"--hide-client-headers=false shows the headers", []string{"--hide-client-headers=false"}, func(p *keygate.Plan) bool {
			return !p.HideClientHeaders && p.Quotas.Hour == 100
		}},
		{"other flags leave the headers shown", []string{"--burst", "12"}, func(p *keygate.Plan) bool {
			return !p.HideClientHeaders && p.Burst == 12
		}},
		{"--hide-client-headers hides them", []string{"--hide-client-headers"}, func(p *keygate.Plan) bool {
			return p.HideClientHeaders && p.Burst == 12
		}},
		{"a quota of 0 removes it", []string{"--quota-day", "0"}, func(p *keygate.Plan) bool {
			return p.Quotas == keygate.Quotas{Hour: 100, Month: 20000}
		}},
		{"a route cost keeps the route's other settings", []string{"--route-cost", "reports=20"}, func(p *keygate.Plan) bool {
			return len(p.Routes) == 1 && p.Routes[0].Cost == 20 && p.Routes[0].Rate != nil && *p.Routes[0].Rate == 1
		}},
		{"a new route cost is added", []string{"--route-cost", "search=2"}, func(p *keygate.Plan) bool {
			return len(p.Routes) == 2 && p.Routes[0].Cost == 20 && p.Routes[1].Cost == 2
		}},
		{"clear routes", []string{"--clear-routes", "--route-cost", "search=3"}, func(p *keygate.Plan) bool {
			return len(p.Routes) == 1 && p.Routes[0].Cost == 3 && p.Routes[0].Rate == nil
		}},
		{"rate, burst, limit-by and description", []string{"--rate", "0.5", "--burst", "0", "--limit-by", "ip", "--description", ""}, func(p *keygate.Plan) bool {
			return p.Rate == 0.5 && p.Burst == 0 && p.LimitBy == keygate.LimitByIP && p.Description == "" && len(p.Routes) == 1
		}},
		{"rename", []string{"--name", "partners"}, func(p *keygate.Plan) bool { return p.Name == "partners" && p.Tags[0] == "b2b" }},
	}
	ref := p.ID
	for _, tt := range tests {
		t.Run("update "+tt.name, func(t *testing.T) {
			if got := adminJSON[keygate.Plan](t, append([]string{"plans", "update", ref}, tt.args...)...); !tt.check(&got) {
				t.Errorf("updated %+v, routes %+v", got, got.Routes)
			}
		})
	}

	if out := admin(t, "plans", "delete", "free"); out != "Deleted plan free.\n" {
		t.Errorf("delete printed %q", out)
	}
	if got := adminJSON[keygate.List[*keygate.Plan]](t, "plans", "list"); len(got.Data) != 1 {
		t.Errorf("after delete %+v", got.Data)
	}
}

func TestCLIPlanErrors(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	admin(t, "plans", "create", "--name", "gold", "--rate", "1")
	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"burst without rate", []string{"plans", "create", "--name", "p", "--burst", "5"}, "burst: needs a rate (INVALID"},
		{"negative rate", []string{"plans", "create", "--name", "p", "--rate", "-1"}, "rate: must be 0 (none) or between"},
		{"unknown limit-by", []string{"plans", "create", "--name", "p", "--limit-by", "tenant"}, "limit_by: must be one of"},
		{"unknown route", []string{"plans", "create", "--name", "p", "--route-cost", "nope=2"}, `routes[0].route: no route "nope"`},
		{"route cost without =", []string{"plans", "create", "--name", "p", "--route-cost", "reports"}, "--route-cost: must be ROUTE=COST"},
		{"route cost not a number", []string{"plans", "update", "gold", "--route-cost", "reports=x"}, "--route-cost: must be ROUTE=COST"},
		{"duplicate name", []string{"plans", "create", "--name", "gold"}, "(CONFLICT"},
		{"update a missing plan", []string{"plans", "update", "nope", "--rate", "2"}, "(NOT_FOUND"},
		{"get a missing plan", []string{"plans", "get", "nope"}, "(NOT_FOUND"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runAdmin(t, "", tt.args...)
			if !reported(err) || out != "" || !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, tt.msg) {
				t.Errorf("err %v, stdout %q, stderr %q; want an error about %s", err, out, errOut, tt.msg)
			}
		})
	}
}

// Consumers and keys take --plan by id or name; --plan "" removes a
// consumer's; a plan in use cannot be deleted.
func TestCLIPlanAssignment(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	gold := adminJSON[keygate.Plan](t, "plans", "create", "--name", "gold", "--rate", "10")
	silver := adminJSON[keygate.Plan](t, "plans", "create", "--name", "silver", "--quota-day", "100")

	out := admin(t, "consumers", "create", "--username", "alice", "--plan", "gold")
	wantTable(t, out, consumerHeader, []string{"alice", gold.ID})
	c := adminJSON[keygate.Consumer](t, "consumers", "create", "--username", "bob", "--plan", silver.ID)
	if c.Plan == nil || c.Plan.ID != silver.ID {
		t.Errorf("by id: %+v", c.Plan)
	}
	if c := adminJSON[keygate.Consumer](t, "consumers", "create", "--username", "carol"); c.Plan != nil {
		t.Errorf("without --plan: %+v", c.Plan)
	}

	c = adminJSON[keygate.Consumer](t, "consumers", "update", "alice", "--plan", "silver")
	if c.Plan == nil || c.Plan.ID != silver.ID {
		t.Errorf("update --plan: %+v", c.Plan)
	}
	if c = adminJSON[keygate.Consumer](t, "consumers", "update", "alice", "--group", "gold"); c.Plan == nil || c.Plan.ID != silver.ID {
		t.Errorf("an update without --plan changed it: %+v", c.Plan)
	}
	wantTable(t, admin(t, "consumers", "update", "alice", "--plan", ""), consumerHeader, []string{"alice", "gold", "-"})
	if c, err := e.Client.Consumer(t.Context(), "alice"); err != nil || c.Plan != nil {
		t.Errorf(`after --plan "": %v %+v`, err, c)
	}

	issued := adminJSON[keygate.IssuedKey](t, "keys", "create", "carol", "--plan", "gold", "--name", "ci")
	if !strings.HasPrefix(issued.Key, "kg_test_") || issued.Plan == nil || issued.Plan.ID != gold.ID {
		t.Fatalf("keys create --plan: %+v", issued)
	}
	out = admin(t, "keys", "create", "carol", "--plan", "silver")
	if !strings.Contains(out, "will not be shown again") || !strings.Contains(out, silver.ID) {
		t.Errorf("keys create --plan printed:\n%s", out)
	}
	wantTable(t, admin(t, "keys", "list", "--consumer", "carol"), keyHeader, []string{issued.ID, "ci", gold.ID}, []string{silver.ID})
	if res := adminJSON[keygate.VerifyResponse](t, "keys", "verify", issued.Key); !res.Valid || res.KeyID != issued.ID {
		t.Errorf("verify: %+v", res)
	}

	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"consumer with an unknown plan", []string{"consumers", "create", "--username", "dave", "--plan", "nope"}, `plan: no plan "nope" (INVALID`},
		{"update to an unknown plan", []string{"consumers", "update", "bob", "--plan", "nope"}, `plan: no plan "nope" (INVALID`},
		{"key with an unknown plan", []string{"keys", "create", "carol", "--plan", "nope"}, `plan: no plan "nope" (INVALID`},
		{"delete a plan in use", []string{"plans", "delete", "silver"}, "in use"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := runAdmin(t, "", tt.args...)
			if !reported(err) || !strings.Contains(errOut, tt.msg) {
				t.Errorf("err %v, stderr %q; want an error about %s", err, errOut, tt.msg)
			}
		})
	}
}
