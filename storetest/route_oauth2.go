package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// testRouteOAuth2 checks that oauth2 round-trips as hmac_auth does, and
// that a PATCH replaces and then removes it.
func testRouteOAuth2(t *testing.T, s suite) {
	e := s.env(t)
	svc := e.service(t, "billing")
	custom := &keygate.OAuth2AuthConfig{Scopes: []string{"billing"},
		MethodScopes: map[string][]string{"POST": {"billing:write"}}, Audience: "https://api.example",
		Issuers: []keygate.OAuth2Issuer{{Local: true}, {Issuer: "https://idp.example", JWKSURI: "https://idp.example/jwks",
			ConsumerClaim: keygate.ClaimClientID, ConsumerBy: keygate.ConsumerByUsername}},
		HideCredentials: true, Leeway: 5}
	tests := []struct {
		name   string
		oauth2 *keygate.OAuth2AuthConfig
	}{
		{"defaults", keygate.NewOAuth2AuthConfig()},
		{"every setting", custom},
		{"none", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRoute(fmt.Sprintf("oauth2-route-%d", i), keygate.Ref{ID: svc.ID})
			r.OAuth2 = tt.oauth2
			check(t, e.store.CreateRoute(e.ctx, r))
			got, err := e.store.FindRoute(e.ctx, r.ID)
			check(t, err)
			wantEqual(t, got, r)
			if (got.OAuth2 == nil) != (tt.oauth2 == nil) {
				t.Errorf("oauth2 = %+v, want %+v", got.OAuth2, tt.oauth2)
			}
		})
	}

	t.Run("PATCH sets, replaces and removes oauth2", func(t *testing.T) {
		r := e.route(t, "oauth2-patched", svc)
		patch := func(doc string) *keygate.Route {
			t.Helper()
			e.clock.Advance(time.Minute)
			updated, err := e.store.UpdateRoute(e.ctx, r.ID, func(r *keygate.Route) error { return json.Unmarshal([]byte(doc), r) })
			check(t, err)
			e.wantChanges(t, keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Updated, ID: r.ID})
			got, err := e.store.FindRoute(e.ctx, r.ID)
			check(t, err)
			wantEqual(t, got, updated)
			return got
		}
		got := patch(`{"oauth2": {"scopes": ["a"], "method_scopes": {"GET": ["b"]}}}`)
		want := keygate.NewOAuth2AuthConfig()
		want.Scopes, want.MethodScopes = []string{"a"}, map[string][]string{"GET": {"b"}}
		wantEqual(t, got.OAuth2, want)

		got = patch(`{"oauth2": {"leeway": 10}}`) // replaced whole: the scopes go
		want = keygate.NewOAuth2AuthConfig()
		want.Leeway = 10
		wantEqual(t, got.OAuth2, want)

		got = patch(`{"oauth2": null}`)
		if got.OAuth2 != nil {
			t.Errorf("oauth2 = %+v after a PATCH to null, want nil", got.OAuth2)
		}
	})
}
