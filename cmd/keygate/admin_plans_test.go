package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

func TestCLIPlans(t *testing.T) {
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
			if !errors.Is(err, errReported) || out != "" || !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, tt.msg) {
				t.Errorf("err %v, stdout %q, stderr %q; want an error about %s", err, out, errOut, tt.msg)
			}
		})
	}
}

// Consumers and keys take --plan by id or name; --plan "" removes a
// consumer's; a plan in use cannot be deleted.
func TestCLIPlanAssignment(t *testing.T) {
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
			if !errors.Is(err, errReported) || !strings.Contains(errOut, tt.msg) {
				t.Errorf("err %v, stderr %q; want an error about %s", err, errOut, tt.msg)
			}
		})
	}
}
