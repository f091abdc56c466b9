package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/keygate/keygate"
)

func testServiceInUse(t *testing.T, s suite) {
	e := s.env(t)
	svc := e.service(t, "billing")
	r1, r2 := e.route(t, "invoices", svc), e.route(t, "payments", svc)

	for _, ref := range []string{svc.ID, "billing"} {
		wantError(t, e.store.DeleteService(e.ctx, ref), keygate.ECONFLICT, "")
	}
	if _, err := e.store.FindService(e.ctx, svc.ID); err != nil {
		t.Fatalf("service gone after a refused delete: %v", err)
	}
	e.wantChanges(t)

	check(t, e.store.DeleteRoute(e.ctx, r1.ID))
	check(t, e.store.DeleteRoute(e.ctx, r2.Name))
	check(t, e.store.DeleteService(e.ctx, "billing"))
	e.wantChanges(t,
		keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Deleted, ID: r1.ID},
		keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Deleted, ID: r2.ID},
		keygate.Change{Kind: keygate.ServiceChanged, Op: keygate.Deleted, ID: svc.ID})
}

func testRouteService(t *testing.T, s suite) {
	t.Run("create resolves the service by id or name and keeps only the id", func(t *testing.T) {
		e := s.env(t)
		svc := e.service(t, "billing")
		tests := []struct {
			name string
			ref  keygate.Ref
		}{
			{"by id", keygate.Ref{ID: svc.ID}},
			{"by name", keygate.Ref{Name: "billing"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newRoute("route-"+tt.ref.String(), tt.ref)
				check(t, e.store.CreateRoute(e.ctx, r))
				if want := (keygate.Ref{ID: svc.ID}); r.Service != want {
					t.Errorf("created route's service = %+v, want %+v", r.Service, want)
				}
				got, err := e.store.FindRoute(e.ctx, r.ID)
				check(t, err)
				wantEqual(t, got, r)
				e.wantChanges(t, keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Created, ID: r.ID})
			})
		}
	})

	t.Run("create with a missing service is NOT_FOUND and stores nothing", func(t *testing.T) {
		e := s.env(t)
		e.service(t, "billing")
		for _, ref := range []keygate.Ref{{Name: "nothing"}, {ID: missingID}} {
			r := newRoute("orphan", ref)
			wantError(t, e.store.CreateRoute(e.ctx, r), keygate.ENOTFOUND, "service")
			if r.ID != "" {
				t.Errorf("failed create set id %q", r.ID)
			}
		}
		routes, _, err := e.store.ListRoutes(e.ctx, keygate.RouteFilter{}, keygate.Page{})
		check(t, err)
		if len(routes) != 0 {
			t.Errorf("%d routes stored, want none", len(routes))
		}
		e.wantChanges(t)
	})

	t.Run("update resolves a new service and refuses a missing one", func(t *testing.T) {
		e := s.env(t)
		r := e.route(t, "invoices", e.service(t, "billing"))
		other := e.service(t, "ledger")

		updated, err := e.store.UpdateRoute(e.ctx, "invoices", func(r *keygate.Route) error {
			r.Service = keygate.Ref{Name: "ledger"}
			return nil
		})
		check(t, err)
		if want := (keygate.Ref{ID: other.ID}); updated.Service != want {
			t.Errorf("service = %+v, want %+v", updated.Service, want)
		}
		e.wantChanges(t, keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Updated, ID: r.ID})

		_, err = e.store.UpdateRoute(e.ctx, "invoices", func(r *keygate.Route) error {
			r.Service, r.Paths = keygate.Ref{Name: "nothing"}, []string{"/lost"}
			return nil
		})
		wantError(t, err, keygate.ENOTFOUND, "service")
		got, err := e.store.FindRoute(e.ctx, r.ID)
		check(t, err)
		wantEqual(t, got, updated)
		e.wantChanges(t)
	})
}

func testRouteConfig(t *testing.T, s suite) {
	tests := []struct {
		name    string
		keyAuth *keygate.KeyAuthConfig
		acl     *keygate.ACLConfig
	}{
		{"open route", nil, nil},
		{"key auth", &keygate.KeyAuthConfig{KeyNames: []string{"apikey", "x-api-key"}, KeyInHeader: true, KeyInBearer: true, HideCredentials: true, Anonymous: "guest"}, nil},
		{"key auth and allow list", &keygate.KeyAuthConfig{KeyNames: []string{"apikey"}, KeyInQuery: true}, &keygate.ACLConfig{Allow: []string{"gold", "silver"}}},
		{"key auth and deny list", &keygate.KeyAuthConfig{KeyNames: []string{"apikey"}, KeyInHeader: true}, &keygate.ACLConfig{Deny: []string{"banned"}, HideGroupsHeader: true}},
	}
	e := s.env(t)
	svc := e.service(t, "billing")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRoute(fmt.Sprintf("route-%d", i), keygate.Ref{ID: svc.ID})
			r.KeyAuth, r.ACL, r.StripPath, r.PreserveHost = tt.keyAuth, tt.acl, false, true
			check(t, e.store.CreateRoute(e.ctx, r))
			got, err := e.store.FindRoute(e.ctx, r.ID)
			check(t, err)
			wantEqual(t, got, r)
		})
	}
}

func testRouteFilter(t *testing.T, s suite) {
	e := s.env(t)
	billing, ledger := e.service(t, "billing"), e.service(t, "ledger")
	var want []string
	for _, name := range []string{"b1", "l1", "b2", "l2", "b3"} {
		svc := billing
		if name[0] == 'l' {
			svc = ledger
		}
		r := e.route(t, name, svc)
		if svc == billing {
			want = append(want, r.ID)
		}
	}
	for _, limit := range []int{1, 2, 100} {
		got := walk(t, func(p keygate.Page) ([]*keygate.Route, string, error) {
			return e.store.ListRoutes(e.ctx, keygate.RouteFilter{ServiceID: billing.ID}, p)
		}, limit, func(r *keygate.Route) string { return r.ID })
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: routes of billing = %v, want %v", limit, got, want)
		}
	}
}
