package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// Permission is what an endpoint needs of the token that calls it. Every
// route declares one in permissions; a role holds a set of them (rolePerms).
type Permission string

const (
	// PermRead reads gateway configuration, credentials' metadata, usage and
	// the audit trail.
	PermRead Permission = "read"
	// PermWrite changes them.
	PermWrite Permission = "write"
	// PermRoot changes the keyring and the admin tokens: what could lock
	// everyone out or hand out the whole API.
	PermRoot Permission = "root"
	// PermRootRead lists the admin tokens: who holds access, for an audit.
	PermRootRead Permission = "root-read"
	// PermVerify asks whether a key may be used (POST /v1/keys/verify).
	PermVerify Permission = "verify"
	// PermAny is anything a valid token of any role may read (the API's
	// description).
	PermAny Permission = "any"
)

// rolePerms is what each role may do; a role not listed may do nothing.
var rolePerms = map[string][]Permission{
	keygate.RoleAdmin:    {PermRead, PermWrite, PermRoot, PermRootRead, PermVerify, PermAny},
	keygate.RoleOperator: {PermRead, PermWrite, PermVerify, PermAny},
	keygate.RoleAuditor:  {PermRead, PermRootRead, PermAny},
	keygate.RoleVerifier: {PermVerify, PermAny},
}

// Roles lists the admin token roles, most powerful first.
func Roles() []string {
	return []string{keygate.RoleAdmin, keygate.RoleOperator, keygate.RoleAuditor, keygate.RoleVerifier}
}

// permissions is the permission each endpoint needs, by its mux pattern.
// Handler registers no route missing here without complaint: the route
// table test fails, and until then the route is for admins only (PermRoot).
var permissions = map[string]Permission{
	"GET /v1/openapi.json": PermAny,

	"POST /v1/admin-tokens":        PermRoot,
	"GET /v1/admin-tokens":         PermRootRead,
	"DELETE /v1/admin-tokens/{id}": PermRoot,

	"POST /v1/services":                  PermWrite,
	"GET /v1/services":                   PermRead,
	"GET /v1/services/{service}":         PermRead,
	"PATCH /v1/services/{service}":       PermWrite,
	"DELETE /v1/services/{service}":      PermWrite,
	"GET /v1/services/{service}/routes":  PermRead,
	"GET /v1/services/{service}/targets": PermRead,
	"PUT /v1/services/{service}/targets": PermWrite,
	"POST /v1/services/{service}/deploy": PermWrite,

	"POST /v1/routes":           PermWrite,
	"GET /v1/routes":            PermRead,
	"GET /v1/routes/{route}":    PermRead,
	"PATCH /v1/routes/{route}":  PermWrite,
	"DELETE /v1/routes/{route}": PermWrite,

	"POST /v1/consumers":                 PermWrite,
	"GET /v1/consumers":                  PermRead,
	"GET /v1/consumers/{consumer}":       PermRead,
	"PATCH /v1/consumers/{consumer}":     PermWrite,
	"DELETE /v1/consumers/{consumer}":    PermWrite,
	"POST /v1/consumers/{consumer}/keys": PermWrite,
	"GET /v1/consumers/{consumer}/keys":  PermRead,

	"GET /v1/keys":              PermRead,
	"GET /v1/keys/{id}":         PermRead,
	"PATCH /v1/keys/{id}":       PermWrite,
	"POST /v1/keys/{id}/revoke": PermWrite,
	"POST /v1/keys/{id}/rotate": PermWrite,
	"DELETE /v1/keys/{id}":      PermWrite,
	"POST /v1/keys/verify":      PermVerify,
	"POST /v1/leaks":            PermWrite, // with a token; a signed report needs none
	"GET /v1/audit":             PermRead,
	"GET /v1/audit/chain":       PermRead,
	"GET /v1/audit/head":        PermRead,
	"GET /v1/audit/verify":      PermRead,
	"GET /v1/audit/export":      PermRead,

	"POST /v1/consumers/{consumer}/hmac-credentials":             PermWrite,
	"GET /v1/consumers/{consumer}/hmac-credentials":              PermRead,
	"GET /v1/consumers/{consumer}/hmac-credentials/{id}":         PermRead,
	"POST /v1/consumers/{consumer}/hmac-credentials/{id}/revoke": PermWrite,
	"DELETE /v1/consumers/{consumer}/hmac-credentials/{id}":      PermWrite,
	"GET /v1/hmac-credentials":                                   PermRead,

	"POST /v1/webhooks":                      PermWrite,
	"POST /v1/consumers/{consumer}/webhooks": PermWrite,
	"GET /v1/webhooks":                       PermRead,
	"GET /v1/webhooks/{id}":                  PermRead,
	"PATCH /v1/webhooks/{id}":                PermWrite,
	"DELETE /v1/webhooks/{id}":               PermWrite,
	"GET /v1/webhooks/{id}/deliveries":       PermRead,
	"POST /v1/webhooks/{id}/test":            PermWrite,

	"GET /v1/keyring":                       PermRead, // versions and states, never key material
	"GET /v1/nodes":                         PermRead,
	"POST /v1/keyring/rotate":               PermRoot,
	"POST /v1/keyring/rewrap":               PermRoot,
	"DELETE /v1/keyring/versions/{version}": PermRoot,

	"POST /v1/access-requests":              PermWrite,
	"GET /v1/access-requests":               PermRead,
	"GET /v1/access-requests/{id}":          PermRead,
	"POST /v1/access-requests/{id}/approve": PermWrite,
	"POST /v1/access-requests/{id}/deny":    PermWrite,
	"POST /v1/access-requests/{id}/pickup":  PermWrite, // with a token; a pickup token needs none
	"POST /v1/access-rules":                 PermWrite,
	"GET /v1/access-rules":                  PermRead,
	"GET /v1/access-rules/{rule}":           PermRead,
	"PATCH /v1/access-rules/{rule}":         PermWrite,
	"DELETE /v1/access-rules/{rule}":        PermWrite,

	"POST /v1/plans":          PermWrite,
	"GET /v1/plans":           PermRead,
	"GET /v1/plans/{plan}":    PermRead,
	"PATCH /v1/plans/{plan}":  PermWrite,
	"DELETE /v1/plans/{plan}": PermWrite,
	"GET /v1/usage":           PermRead,

	"GET /v1/analytics/verifications":     PermRead,
	"POST /v1/permissions":                PermWrite,
	"GET /v1/permissions":                 PermRead,
	"GET /v1/permissions/{permission}":    PermRead,
	"PATCH /v1/permissions/{permission}":  PermWrite,
	"DELETE /v1/permissions/{permission}": PermWrite,
	"POST /v1/roles":                      PermWrite,
	"GET /v1/roles":                       PermRead,
	"GET /v1/roles/{role}":                PermRead,
	"PATCH /v1/roles/{role}":              PermWrite,
	"DELETE /v1/roles/{role}":             PermWrite,

	"POST /v1/consumers/{consumer}/oauth-clients": PermWrite,
	"GET /v1/consumers/{consumer}/oauth-clients":  PermRead,
	"GET /v1/oauth-clients":                       PermRead,
	"GET /v1/oauth-clients/{id}":                  PermRead,
	"POST /v1/oauth-clients/{id}/rotate-secret":   PermWrite,
	"POST /v1/oauth-clients/{id}/revoke":          PermWrite,
	"DELETE /v1/oauth-clients/{id}":               PermWrite,
	"POST /v1/routes/{route}/payload-key":         PermWrite,
	"GET /v1/payload-sessions":                    PermRead,
	"GET /v1/payload-sessions/{id}":               PermRead,
	"DELETE /v1/payload-sessions/{id}":            PermWrite,
}

// openPatterns are the routes that need no token at all.
var openPatterns = []string{"GET /healthz"}

// EndpointPermission returns the permission the endpoint registered as
// method and path pattern (e.g. "GET", "/v1/services/{service}") needs;
// false when it declares none. HEAD is GET's.
func EndpointPermission(method, pattern string) (Permission, bool) {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	p, ok := permissions[method+" "+pattern]
	return p, ok
}

// Allowed says whether a token of role may call the endpoint registered as
// method and path pattern. An unknown role, or an endpoint that declares no
// permission, is allowed to admins only. The console asks it too, to show
// only what a user may do.
func Allowed(role, method, pattern string) bool {
	p, ok := EndpointPermission(method, pattern)
	if !ok {
		p = PermRoot
	}
	return slices.Contains(rolePerms[role], p)
}

// authorize answers whether token t may call the endpoint that the mux
// matched as muxPattern ("METHOD /path"), as an EFORBIDDEN naming the role
// and the action when not.
func authorize(t *keygate.AdminToken, muxPattern string) error {
	method, pattern, _ := strings.Cut(muxPattern, " ")
	if Allowed(t.Role, method, pattern) {
		return nil
	}
	p, ok := EndpointPermission(method, pattern)
	if !ok {
		p = PermRoot
	}
	var may []string
	for _, role := range Roles() {
		if slices.Contains(rolePerms[role], p) {
			may = append(may, role)
		}
	}
	return keygate.Errorf(keygate.EFORBIDDEN, "admin token role %q may not %s %s (needs %s: %s)",
		t.Role, method, pattern, p, strings.Join(may, ", "))
}

// consumerScoped refuses, for a token scoped to consumers, every endpoint
// but those under /v1/consumers/{consumer} for one of them (and the API's
// description). It runs after the mux has matched, which knows {consumer}.
// An unknown consumer is refused like another's, so the token cannot learn
// which exist.
func (s *Server) consumerScoped(fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		t := TokenFrom(r.Context())
		if t == nil || len(t.Consumers) == 0 || r.Pattern == "GET /v1/openapi.json" {
			return fn(w, r)
		}
		if !strings.Contains(r.Pattern, "{consumer}") {
			return keygate.Errorf(keygate.EFORBIDDEN, "admin token %q is scoped to its consumers: it may call only /v1/consumers/{consumer}/... for them, not %s", t.Name, r.Pattern)
		}
		ref := r.PathValue("consumer")
		c, err := s.Store.FindConsumer(r.Context(), ref)
		switch {
		case keygate.ErrorCode(err) == keygate.ENOTFOUND || err == nil && !t.MayActFor(c.ID):
			return keygate.Errorf(keygate.EFORBIDDEN, "admin token %q is scoped to its consumers, not consumer %q", t.Name, ref)
		case err != nil:
			return err
		}
		return fn(w, r)
	}
}

type tokenKey struct{}

func withToken(ctx context.Context, t *keygate.AdminToken) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// TokenFrom returns the admin token a request was authenticated with; nil
// for a request without one (a signed leak report, an access pickup).
func TokenFrom(ctx context.Context) *keygate.AdminToken {
	t, _ := ctx.Value(tokenKey{}).(*keygate.AdminToken)
	return t
}

// registry records the routes Handler registers, in order, so tests can
// walk every one of them.
type registry struct{ patterns []string }

func (r *registry) add(pattern string) {
	if slices.Contains(r.patterns, pattern) {
		panic(fmt.Sprintf("adminapi: route %s registered twice", pattern))
	}
	r.patterns = append(r.patterns, pattern)
}

// Routes returns the mux patterns ("METHOD /path") of every endpoint the
// last Handler call registered.
func (s *Server) Routes() []string {
	return slices.Clone(s.routes.patterns)
}
