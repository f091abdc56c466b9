package keygate

import (
	"slices"
	"strings"
	"testing"
)

func TestEffectivePermissions(t *testing.T) {
	k := &APIKey{Permissions: []string{"b", "a"}, Roles: []string{"editor"}}
	c := &Consumer{Permissions: []string{"a", "c"}, Roles: []string{"viewer", "editor"}}
	roles := map[string][]string{"editor": {"w", "r"}, "viewer": {"r"}}
	perms, held := EffectivePermissions(k, c, roles)
	if want := []string{"a", "b", "c", "r", "w"}; !slices.Equal(perms, want) {
		t.Errorf("permissions %v, want %v", perms, want)
	}
	if want := []string{"editor", "viewer"}; !slices.Equal(held, want) {
		t.Errorf("roles %v, want %v", held, want)
	}
	if perms, held := EffectivePermissions(&APIKey{}, nil, nil); perms != nil || held != nil {
		t.Errorf("nothing held: %v %v", perms, held)
	}
}

func TestValidateGrants(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"documents.read", "api:*", "a-b_c"}, ""},
		{[]string{"ok", "Bad"}, "permissions[1]: may contain only"},
		{[]string{"ok", "ok"}, `permissions[1]: "ok" listed twice`},
		{[]string{""}, "permissions[0]: empty"},
		{[]string{strings.Repeat("a", 129)}, "longer than 128"},
	}
	for _, tt := range tests {
		err := ValidateGrants("permissions", tt.names)
		if got := ErrorMessage(err); tt.want == "" && err != nil || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("%v: %v, want %q", tt.names, err, tt.want)
		}
	}
}

func TestRoutePermissionsValidate(t *testing.T) {
	base := func() *Route {
		r := NewRoute()
		r.Name, r.Service, r.Paths, r.KeyAuth = "docs", Ref{Name: "s"}, []string{"/docs"}, NewKeyAuthConfig()
		return r
	}
	tests := []struct {
		name string
		edit func(*Route)
		want string
	}{
		{"methods and *", func(r *Route) { r.Permissions = map[string]string{"GET": "a", "*": "b"} }, ""},
		{"lower-case method", func(r *Route) { r.Permissions = map[string]string{"get": "a"} }, `permissions: method "get"`},
		{"empty query", func(r *Route) { r.Permissions = map[string]string{"GET": " "} }, "permissions.GET: empty query"},
		{"no key_auth", func(r *Route) { r.KeyAuth = nil; r.Permissions = map[string]string{"GET": "a"} }, "permissions: needs key_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			err := r.Validate()
			if got := ErrorMessage(err); tt.want == "" && err != nil || tt.want != "" && !strings.HasPrefix(got, tt.want) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
	r := base()
	r.Permissions = map[string]string{"GET": "a", "*": "b"}
	if r.PermissionQuery("GET") != "a" || r.PermissionQuery("PUT") != "b" {
		t.Error("PermissionQuery")
	}
}

func TestAccessRequestInputKinds(t *testing.T) {
	tests := []struct {
		name string
		in   AccessRequestInput
		want string
	}{
		{"key", AccessRequestInput{Consumer: Ref{Name: "a"}, Services: []string{"s"}}, ""},
		{"plan change", AccessRequestInput{Kind: AccessKindPlanChange, Consumer: Ref{Name: "a"}, Plan: "gold"}, ""},
		{"plan change without plan", AccessRequestInput{Kind: AccessKindPlanChange, Consumer: Ref{Name: "a"}}, "plan: required"},
		{"plan change with routes", AccessRequestInput{Kind: AccessKindPlanChange, Consumer: Ref{Name: "a"}, Plan: "g", Routes: []string{"r"}}, "services: a plan change"},
		{"key not an id", AccessRequestInput{Kind: AccessKindPlanChange, Consumer: Ref{Name: "a"}, Plan: "g", Key: "k"}, "key: must be a key's id"},
		{"unknown kind", AccessRequestInput{Kind: "x", Consumer: Ref{Name: "a"}}, "kind: must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if got := ErrorMessage(err); tt.want == "" && err != nil || tt.want != "" && !strings.HasPrefix(got, tt.want) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}
