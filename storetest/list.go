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
// so that JSON shows [] rather than null.
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

	gotSvc, err := e.store.FindService(e.ctx, svc.ID)
	check(t, err)
	gotRoute, err := e.store.FindRoute(e.ctx, r.ID)
	check(t, err)
	gotConsumer, err := e.store.FindConsumer(e.ctx, c.ID)
	check(t, err)
	gotKey, err := e.store.FindKey(e.ctx, k.ID)
	check(t, err)
	lists := map[string][]string{
		"service tags": gotSvc.Tags, "route hosts": gotRoute.Hosts, "route paths": gotRoute.Paths,
		"route tags": gotRoute.Tags, "consumer groups": gotConsumer.Groups, "consumer tags": gotConsumer.Tags,
		"key allowed_services": gotKey.AllowedServices, "key allowed_routes": gotKey.AllowedRoutes,
		"key allowed_cidrs": gotKey.AllowedCIDRs, "key tags": gotKey.Tags,
	}
	for name, l := range lists {
		if l == nil || len(l) != 0 {
			t.Errorf("%s = %#v, want []string{}", name, l)
		}
	}
}
