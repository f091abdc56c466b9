package e2e

import (
	"context"
	"testing"

	"github.com/keygate/keygate"
)

// keygate routes ...

func TestCLIRoutes(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	ctx := context.Background()
	admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal")
	admin(t, "services", "create", "--name", "billing", "--url", "http://billing.internal")

	out := admin(t, "routes", "create", "--name", "api", "--service", "orders", "--path", "/api", "--method", "GET", "--method", "POST",
		"--key-names", "x-api-key", "--key-in-query=false", "--acl-allow", "gold", "--strip-path=false")
	wantTable(t, out, routeHeader, []string{"api", "/api", "GET,POST", "key-auth", "allow:gold"})
	r, err := e.Client.Route(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if r.StripPath || r.KeyAuth == nil || r.KeyAuth.KeyNames[0] != "x-api-key" || r.KeyAuth.KeyInQuery || !r.KeyAuth.KeyInHeader ||
		r.ACL == nil || r.ACL.Allow[0] != "gold" {
		t.Fatalf("created %+v %+v %+v", r, r.KeyAuth, r.ACL)
	}
	admin(t, "routes", "create", "--name", "open", "--service", "billing", "--host", "billing.example.com")

	tests := []struct {
		name  string
		args  []string
		check func(*keygate.Route) bool
	}{
		{"one key-auth setting keeps the others", []string{"--hide-credentials"}, func(r *keygate.Route) bool {
			return r.KeyAuth.HideCredentials && r.KeyAuth.KeyNames[0] == "x-api-key" && !r.KeyAuth.KeyInQuery
		}},
		{"deny replaces allow", []string{"--acl-deny", "banned"}, func(r *keygate.Route) bool {
			return r.ACL.Allow == nil && r.ACL.Deny[0] == "banned"
		}},
		{"plain fields", []string{"--path", "/v2", "--service", "billing", "--tag", "x"}, func(r *keygate.Route) bool {
			return r.Paths[0] == "/v2" && len(r.Paths) == 1 && r.Tags[0] == "x" && r.Methods[1] == "POST" && r.KeyAuth != nil
		}},
		{"remove acl then key auth", []string{"--no-acl", "--key-auth=false"}, func(r *keygate.Route) bool {
			return r.ACL == nil && r.KeyAuth == nil
		}},
		{"key auth with defaults", []string{"--key-auth"}, func(r *keygate.Route) bool {
			return r.KeyAuth != nil && r.KeyAuth.KeyNames[0] == keygate.DefaultKeyName && r.KeyAuth.KeyInQuery
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := adminJSON[keygate.Route](t, append([]string{"routes", "update", "api"}, tt.args...)...); !tt.check(&r) {
				t.Errorf("updated %+v %+v %+v", r, r.KeyAuth, r.ACL)
			}
		})
	}

	wantTable(t, admin(t, "routes", "list", "--service", "billing"), routeHeader, []string{"api"}, []string{"open", "billing.example.com"})
	wantTable(t, admin(t, "routes", "list", "--service", "orders"), routeHeader)
	admin(t, "routes", "delete", "open")
	if got := adminJSON[keygate.List[*keygate.Route]](t, "routes", "list"); len(got.Data) != 1 {
		t.Errorf("after delete: %+v", got.Data)
	}
}
