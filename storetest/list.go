package storetest

import (
	"fmt"
	"testing"

	"github.com/keygate/keygate"
)

func testPageClamping(t *testing.T, s suite) {
	e := s.env(t)
	for i := range keygate.MaxPageSize + 1 {
		check(t, e.store.CreateConsumer(e.ctx, newConsumer(fmt.Sprintf("c%04d", i))))
	}
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"zero means the default", 0, keygate.DefaultPageSize},
		{"negative means one", -5, 1},
		{"over the maximum means the maximum", keygate.MaxPageSize + 1, keygate.MaxPageSize},
		{"the maximum", keygate.MaxPageSize, keygate.MaxPageSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := e.store.ListConsumers(e.ctx, keygate.Page{Limit: tt.limit})
			check(t, err)
			if len(got) != tt.want {
				t.Errorf("%d consumers, want %d", len(got), tt.want)
			}
			if next != got[len(got)-1].ID {
				t.Errorf("next = %q, want the last id listed, %q", next, got[len(got)-1].ID)
			}
		})
	}
}

// testEmptyLists checks that list fields left nil come back empty, not nil,
// so that JSON shows [] rather than null: from a find, and in the value a
// create or an update hands back (which the admin API echoes).
func testEmptyLists(t *testing.T, s suite) {
	e := s.env(t)
	svc := &keygate.Service{Name: "bare", URL: "http://bare.internal", ConnectTimeout: 1, ReadTimeout: 1, WriteTimeout: 1}
	check(t, e.store.CreateService(e.ctx, svc))
	c := &keygate.Consumer{Username: "bare"}
	check(t, e.store.CreateConsumer(e.ctx, c))
	r := &keygate.Route{Name: "bare", Service: keygate.Ref{ID: svc.ID}, Methods: []string{"GET"}}
	check(t, e.store.CreateRoute(e.ctx, r))
	k := &keygate.APIKey{Consumer: keygate.Ref{ID: c.ID}, Identifier: "bare", SecretHash: []byte{1}, Status: keygate.KeyActive}
	check(t, e.store.CreateKey(e.ctx, k))
	plan := &keygate.Plan{Name: "bare"}
	check(t, e.store.CreatePlan(e.ctx, plan))

	gotSvc, err := e.store.FindService(e.ctx, svc.ID)
	check(t, err)
	gotRoute, err := e.store.FindRoute(e.ctx, r.ID)
	check(t, err)
	gotConsumer, err := e.store.FindConsumer(e.ctx, c.ID)
	check(t, err)
	gotKey, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	gotPlan, err := e.store.FindPlan(e.ctx, plan.ID)
	check(t, err)

	// Updates that set every list to nil.
	updSvc, err := e.store.UpdateService(e.ctx, svc.ID, func(s *keygate.Service) error { s.Tags = nil; return nil })
	check(t, err)
	updRoute, err := e.store.UpdateRoute(e.ctx, r.ID, func(r *keygate.Route) error {
		r.Hosts, r.Paths, r.Tags = nil, nil, nil
		return nil
	})
	check(t, err)
	updConsumer, err := e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error {
		c.Groups, c.Tags = nil, nil
		return nil
	})
	check(t, err)
	updPlan, err := e.store.UpdatePlan(e.ctx, plan.ID, func(p *keygate.Plan) error { p.Tags, p.Routes = nil, nil; return nil })
	check(t, err)

	tests := []struct {
		name  string
		lists map[string][]string
	}{
		{"found", map[string][]string{
			"service tags": gotSvc.Tags, "route hosts": gotRoute.Hosts, "route paths": gotRoute.Paths,
			"route tags": gotRoute.Tags, "consumer groups": gotConsumer.Groups, "consumer tags": gotConsumer.Tags,
			"key allowed_services": gotKey.AllowedServices, "key allowed_routes": gotKey.AllowedRoutes,
			"key allowed_cidrs": gotKey.AllowedCIDRs, "key tags": gotKey.Tags, "plan tags": gotPlan.Tags,
		}},
		{"handed back by create", map[string][]string{
			"service tags": svc.Tags, "route hosts": r.Hosts, "route paths": r.Paths, "route tags": r.Tags,
			"consumer groups": c.Groups, "consumer tags": c.Tags,
			"key allowed_services": k.AllowedServices, "key allowed_routes": k.AllowedRoutes,
			"key allowed_cidrs": k.AllowedCIDRs, "key tags": k.Tags, "plan tags": plan.Tags,
		}},
		{"handed back by update", map[string][]string{
			"service tags": updSvc.Tags, "route hosts": updRoute.Hosts, "route paths": updRoute.Paths,
			"route tags": updRoute.Tags, "consumer groups": updConsumer.Groups, "consumer tags": updConsumer.Tags,
			"plan tags": updPlan.Tags,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, l := range tt.lists {
				if l == nil || len(l) != 0 {
					t.Errorf("%s = %#v, want []string{}", name, l)
				}
			}
		})
	}
	for name, routes := range map[string][]keygate.PlanRoute{"found": gotPlan.Routes, "handed back by create": plan.Routes,
		"handed back by update": updPlan.Routes} {
		if routes == nil || len(routes) != 0 {
			t.Errorf("%s: plan routes = %#v, want []keygate.PlanRoute{}", name, routes)
		}
	}
}
