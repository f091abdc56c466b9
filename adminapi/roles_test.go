package adminapi_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// rootOnly are the endpoints an operator may not call: the keyring's
// changes and the admin tokens.
var rootOnly = []string{
	"POST /v1/keyring/rotate",
	"POST /v1/keyring/rewrap",
	"DELETE /v1/keyring/versions/{version}",
	"POST /v1/admin-tokens",
	"GET /v1/admin-tokens",
	"DELETE /v1/admin-tokens/{id}",
}

// mayCall is what the issue says of each role, written out independently of
// the permission table it checks.
func mayCall(role, route string) bool {
	method, _, _ := strings.Cut(route, " ")
	switch role {
	case keygate.RoleAdmin:
		return true
	case keygate.RoleOperator:
		return !slices.Contains(rootOnly, route)
	case keygate.RoleAuditor:
		return method == http.MethodGet
	case keygate.RoleVerifier:
		return route == "POST /v1/keys/verify" || route == "GET /v1/openapi.json"
	}
	return false
}

// roleTokens stores one token per role and returns them by role.
func roleTokens(tb testing.TB, e *adminapitest.Env) map[string]string {
	tb.Helper()
	tokens := map[string]string{}
	for _, role := range adminapi.Roles() {
		tok := must[*keygate.NewAdminToken](tb)(e.Client.CreateAdminToken(context.Background(),
			keygate.AdminTokenRequest{Name: role + "-token", Role: role}))
		tokens[role] = tok.Token
	}
	return tokens
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestRouteTableDeclaresPermissions fails for a route registered without a
// permission, and for a permission of a route no longer registered.
func TestRouteTableDeclaresPermissions(t *testing.T) {
	e := adminapitest.New(t)
	routes := e.Server.Routes()
	if len(routes) < 70 {
		t.Fatalf("only %d routes registered: %v", len(routes), routes)
	}
	declared := adminapi.DeclaredPermissions()
	for _, route := range routes {
		if route == "GET /healthz" {
			continue // the one route without a token
		}
		if _, ok := declared[route]; !ok {
			t.Errorf("route %s declares no permission: add it to permissions in adminapi/roles.go", route)
		}
	}
	for route := range declared {
		if !slices.Contains(routes, route) {
			t.Errorf("permissions lists %s, which is not registered", route)
		}
	}
}

// TestRolesOnEveryRoute calls every registered route with a token of every
// role: a role that may not call it gets 403 EFORBIDDEN naming the role and
// the action, and changes nothing; a role that may gets past the check.
func TestRolesOnEveryRoute(t *testing.T) {
	e := adminapitest.New(t)
	tokens := roleTokens(t, e)
	routes := e.Server.Routes()
	// The admin last: what it may do (rotate the keyring) changes state the
	// others' checks do not depend on anyway.
	roles := []string{keygate.RoleVerifier, keygate.RoleAuditor, keygate.RoleOperator, keygate.RoleAdmin}
	for _, role := range roles {
		for _, route := range routes {
			if route == "GET /healthz" {
				continue
			}
			method, pattern, _ := strings.Cut(route, " ")
			want := mayCall(role, route)
			if got := adminapi.Allowed(role, method, pattern); got != want {
				t.Errorf("Allowed(%s, %s) = %v, want %v", role, route, got, want)
			}
			path := pathParam.ReplaceAllString(pattern, "00000000-0000-4000-8000-000000000000")
			body := ""
			if method != http.MethodGet && method != http.MethodDelete {
				body = "{}"
			}
			r := request(t, e, method, path, body, map[string]string{"Authorization": "Bearer " + tokens[role]})
			switch {
			case want && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
				t.Errorf("%s %s: %d %s %q, want past the role check", role, route, r.status, r.err.Code, r.err.Message)
			case !want:
				r.wantError(t, http.StatusForbidden, keygate.EFORBIDDEN, `role "`+role+`" may not `+route)
			}
		}
	}
	// A refused request changes nothing: its only trace is its answer and
	// the request.denied entry of the audit trail.
	for _, role := range []string{keygate.RoleVerifier, keygate.RoleAuditor} {
		events, _, err := e.Store.ListAudit(context.Background(), keygate.AuditFilter{Actor: "admin:" + role + "-token"}, keygate.Page{Limit: 1000})
		check(t, err)
		events = slices.DeleteFunc(events, func(ev *keygate.AuditEvent) bool { return ev.Result == keygate.AuditDenied })
		if len(events) != 0 {
			t.Errorf("the %s changed things: %+v", role, events[0])
		}
	}
}

// TestUnknownRole checks that a token of a role the API does not know (one
// stored by a newer version, say) may do nothing.
func TestUnknownRole(t *testing.T) {
	e := adminapitest.New(t)
	check(t, e.Store.CreateAdminToken(context.Background(), &keygate.AdminToken{
		Name: "future", Hash: adminapi.HashAdminToken("future-token-0123456789"), Role: "superuser"}))
	for _, route := range []string{"GET /v1/services", "GET /v1/openapi.json", "POST /v1/keys/verify"} {
		method, path, _ := strings.Cut(route, " ")
		request(t, e, method, path, "", map[string]string{"Authorization": "Bearer future-token-0123456789"}).
			wantError(t, http.StatusForbidden, keygate.EFORBIDDEN, `role "superuser" may not`)
	}
}

func TestAdminTokens(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	newService(t, e.Client, "billing")

	auditor := must[*keygate.NewAdminToken](t)(e.Client.CreateAdminToken(ctx, keygate.AdminTokenRequest{Name: "sec-team", Role: keygate.RoleAuditor}))
	if auditor.Token == "" || auditor.ID == "" || auditor.Role != keygate.RoleAuditor || auditor.Services != nil {
		t.Fatalf("created %+v", auditor)
	}
	verifier := must[*keygate.NewAdminToken](t)(e.Client.CreateAdminToken(ctx, keygate.AdminTokenRequest{
		Name: "billing-verify", Role: keygate.RoleVerifier, Services: []string{"billing", "billing"}}))
	billing := must[*keygate.Service](t)(e.Client.Service(ctx, "billing"))
	if !slices.Equal(verifier.Services, []string{billing.ID}) {
		t.Errorf("verifier services = %v, want [%s] (ids, once)", verifier.Services, billing.ID)
	}

	t.Run("the token works with its role", func(t *testing.T) {
		c := client.New(e.URL(), auditor.Token)
		must[[]*keygate.Service](t)(func() ([]*keygate.Service, error) {
			s, _, err := c.Services(ctx, keygate.Page{})
			return s, err
		}())
		_, err := c.CreateService(ctx, keygate.NewService())
		wantAPIError(t, err, http.StatusForbidden, keygate.EFORBIDDEN)
		_, err = c.CreateAdminToken(ctx, keygate.AdminTokenRequest{Name: "escalate", Role: keygate.RoleAdmin})
		wantAPIError(t, err, http.StatusForbidden, keygate.EFORBIDDEN)
		// An auditor sees who holds access.
		listed, _, err := c.AdminTokens(ctx, keygate.Page{})
		check(t, err)
		if len(listed) != 3 {
			t.Errorf("listed %d tokens, want 3", len(listed))
		}
	})

	t.Run("the secret is shown once", func(t *testing.T) {
		r := request(t, e, "GET", "/v1/admin-tokens", "", nil)
		for _, secret := range []string{auditor.Token, verifier.Token} {
			if strings.Contains(r.body, secret) {
				t.Errorf("list shows a token's secret: %s", r.body)
			}
			if strings.Contains(e.Logs.String(), secret) {
				t.Errorf("logs show a token's secret")
			}
		}
		if strings.Contains(r.body, `"token"`) || strings.Contains(r.body, "hash") {
			t.Errorf("list has a token or hash field: %s", r.body)
		}
	})

	t.Run("bad requests name the field", func(t *testing.T) {
		tests := []struct{ name, body, msg string }{
			{"no name", `{"role":"auditor"}`, "name: required"},
			{"a bad name", `{"name":"a b","role":"auditor"}`, "name:"},
			{"no role", `{"name":"x"}`, "role: required"},
			{"an unknown role", `{"name":"x","role":"root"}`, "role: must be admin, operator, auditor or verifier"},
			{"services for an auditor", `{"name":"x","role":"auditor","services":["billing"]}`, "services: only a verifier"},
			{"an unknown service", `{"name":"x","role":"verifier","services":["nope"]}`, `services[0]: no service "nope"`},
			{"an unknown field", `{"name":"x","role":"auditor","scopes":[]}`, "scopes"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				request(t, e, "POST", "/v1/admin-tokens", tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
			})
		}
		request(t, e, "POST", "/v1/admin-tokens", `{"name":"sec-team","role":"auditor"}`, nil).
			wantError(t, 409, keygate.ECONFLICT, "sec-team")
	})

	t.Run("creation and deletion are audited under the acting token", func(t *testing.T) {
		check(t, e.Client.DeleteAdminToken(ctx, auditor.ID))
		events, _, err := e.Store.ListAudit(ctx, keygate.AuditFilter{TargetID: auditor.ID}, keygate.Page{})
		check(t, err)
		var got []string
		for _, ev := range events {
			got = append(got, ev.Actor+" "+ev.Action)
		}
		want := []string{"admin:test admin_token.created", "admin:test admin_token.deleted"}
		if !slices.Equal(got, want) {
			t.Errorf("audit %q, want %q", got, want)
		}
		// A deleted token stops working at once.
		_, _, err = client.New(e.URL(), auditor.Token).Services(ctx, keygate.Page{})
		wantAPIError(t, err, http.StatusUnauthorized, keygate.EUNAUTHORIZED)
		wantAPIError(t, e.Client.DeleteAdminToken(ctx, auditor.ID), http.StatusNotFound, keygate.ENOTFOUND)
	})

	t.Run("the last admin token stays", func(t *testing.T) {
		tokens, _, err := e.Client.AdminTokens(ctx, keygate.Page{})
		check(t, err)
		var self string
		for _, tok := range tokens {
			if tok.Name == "test" {
				self = tok.ID
			}
		}
		request(t, e, "DELETE", "/v1/admin-tokens/"+self, "", nil).wantError(t, 409, keygate.ECONFLICT, "last admin token")
		other := must[*keygate.NewAdminToken](t)(e.Client.CreateAdminToken(ctx, keygate.AdminTokenRequest{Name: "second-admin", Role: keygate.RoleAdmin}))
		check(t, client.New(e.URL(), other.Token).DeleteAdminToken(ctx, self))
		_, _, err = e.Client.Services(ctx, keygate.Page{})
		wantAPIError(t, err, http.StatusUnauthorized, keygate.EUNAUTHORIZED)
	})
}

func TestVerifierRestrictedToServices(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	newService(t, e.Client, "billing")
	newService(t, e.Client, "orders")
	newRoute(t, e.Client, "invoices", "billing")
	newRoute(t, e.Client, "carts", "orders")
	newConsumer(t, e.Client, "alice")
	key := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{}))

	restricted := must[*keygate.NewAdminToken](t)(e.Client.CreateAdminToken(ctx, keygate.AdminTokenRequest{
		Name: "billing-verify", Role: keygate.RoleVerifier, Services: []string{"billing"}}))
	anyService := must[*keygate.NewAdminToken](t)(e.Client.CreateAdminToken(ctx, keygate.AdminTokenRequest{
		Name: "verify-all", Role: keygate.RoleVerifier}))

	tests := []struct {
		name  string
		token string
		req   keygate.VerifyRequest
		msg   string // "": a verdict; else the 403's message
	}{
		{"its service by name", restricted.Token, keygate.VerifyRequest{Service: "billing"}, ""},
		{"a route of its service", restricted.Token, keygate.VerifyRequest{Route: "invoices"}, ""},
		{"its service and a route of it", restricted.Token, keygate.VerifyRequest{Service: "billing", Route: "invoices"}, ""},
		{"another service", restricted.Token, keygate.VerifyRequest{Service: "orders"}, `not for service "orders"`},
		{"a route of another service", restricted.Token, keygate.VerifyRequest{Route: "carts"}, `not for route "carts"`},
		{"its service with another's route", restricted.Token, keygate.VerifyRequest{Service: "billing", Route: "carts"}, `not for route "carts"`},
		{"an unknown service, refused alike", restricted.Token, keygate.VerifyRequest{Service: "nope"}, `not for service "nope"`},
		{"an unknown route, refused alike", restricted.Token, keygate.VerifyRequest{Route: "nope"}, `not for route "nope"`},
		{"no service at all", restricted.Token, keygate.VerifyRequest{}, "name one in service"},
		{"an unrestricted verifier, no service", anyService.Token, keygate.VerifyRequest{}, ""},
		{"an unrestricted verifier, any service", anyService.Token, keygate.VerifyRequest{Service: "orders"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Key = key.Key
			res, err := client.New(e.URL(), tt.token).VerifyKey(ctx, tt.req)
			if tt.msg == "" {
				check(t, err)
				if res.Code != keygate.CodeValid {
					t.Errorf("code %s, want VALID", res.Code)
				}
				return
			}
			wantAPIError(t, err, http.StatusForbidden, keygate.EFORBIDDEN)
			if e := apiError(t, err); !strings.Contains(e.Message, tt.msg) || !strings.Contains(e.Message, "billing-verify") {
				t.Errorf("message %q, want one naming the token and %q", e.Message, tt.msg)
			}
		})
	}
	t.Run("and nothing else", func(t *testing.T) {
		_, _, err := client.New(e.URL(), restricted.Token).Services(ctx, keygate.Page{})
		wantAPIError(t, err, http.StatusForbidden, keygate.EFORBIDDEN)
	})
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestConsumerScopedToken calls every route with operator and auditor
// tokens scoped to alice: only what their role allows under
// /v1/consumers/{consumer} for alice gets past the checks; bob, a consumer
// that does not exist, and every other endpoint are FORBIDDEN.
func TestConsumerScopedToken(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	newConsumer(t, e.Client, "alice")
	newConsumer(t, e.Client, "bob")
	tokens := map[string]string{}
	for _, role := range []string{keygate.RoleOperator, keygate.RoleAuditor} {
		tok := must[*keygate.NewAdminToken](t)(e.Client.CreateAdminToken(ctx, keygate.AdminTokenRequest{
			Name: "portal-" + role, Role: role, Consumers: []string{"alice"}}))
		tokens[role] = tok.Token
	}
	for role, token := range tokens {
		for _, route := range e.Server.Routes() {
			if route == "GET /healthz" {
				continue
			}
			method, pattern, _ := strings.Cut(route, " ")
			scoped := strings.Contains(pattern, "{consumer}") || route == "GET /v1/openapi.json"
			for _, consumer := range []string{"alice", "bob", "nobody"} {
				if consumer != "alice" && !strings.Contains(pattern, "{consumer}") ||
					consumer == "alice" && route == "DELETE /v1/consumers/{consumer}" { // at the end
					continue
				}
				path := strings.ReplaceAll(pattern, "{consumer}", consumer)
				path = pathParam.ReplaceAllString(path, "00000000-0000-4000-8000-000000000000")
				body := ""
				if method != http.MethodGet && method != http.MethodDelete {
					body = "{}"
				}
				r := request(t, e, method, path, body, map[string]string{"Authorization": "Bearer " + token})
				want := mayCall(role, route) && scoped && consumer == "alice"
				switch {
				case want && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
					t.Errorf("%s for %s: %s: %d %q, want past the checks", role, consumer, route, r.status, r.err.Message)
				case !want && !mayCall(role, route):
					r.wantError(t, http.StatusForbidden, keygate.EFORBIDDEN, `role "`+role+`" may not`)
				case !want && !scoped:
					r.wantError(t, http.StatusForbidden, keygate.EFORBIDDEN, "scoped to its consumers: it may call only")
				case !want:
					r.wantError(t, http.StatusForbidden, keygate.EFORBIDDEN, `scoped to its consumers, not consumer "`+consumer+`"`)
				}
			}
		}
	}
	// The scoped operator does a portal's work for alice, and nothing for bob.
	c := client.New(e.URL(), tokens[keygate.RoleOperator])
	alice := must[*keygate.Consumer](t)(c.Consumer(ctx, "alice"))
	k := must[*keygate.IssuedKey](t)(c.CreateKey(ctx, "alice", keygate.KeyRequest{}))
	if k.Consumer.ID != alice.ID {
		t.Errorf("key for %+v, want alice", k.Consumer)
	}
	_, err := c.CreateKey(ctx, "bob", keygate.KeyRequest{})
	wantAPIError(t, err, http.StatusForbidden, keygate.EFORBIDDEN)
	_, err = c.RevokeKey(ctx, k.ID) // not under /v1/consumers/{consumer}
	wantAPIError(t, err, http.StatusForbidden, keygate.EFORBIDDEN)
	check(t, c.DeleteConsumer(ctx, "alice"))
	wantAPIError(t, c.DeleteConsumer(ctx, "bob"), http.StatusForbidden, keygate.EFORBIDDEN)

	t.Run("only an operator or auditor token is scoped", func(t *testing.T) {
		for _, role := range []string{keygate.RoleAdmin, keygate.RoleVerifier} {
			request(t, e, "POST", "/v1/admin-tokens", `{"name":"x","role":"`+role+`","consumers":["alice"]}`, nil).
				wantError(t, 400, keygate.EINVALID, "consumers: only an operator or auditor token")
		}
		request(t, e, "POST", "/v1/admin-tokens", `{"name":"x","role":"operator","consumers":["carol"]}`, nil).
			wantError(t, 400, keygate.EINVALID, `consumers[0]: no consumer "carol"`)
	})
}
