package adminapi_test

import (
	"context"
	"slices"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

func TestVerifyPermissions(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	for _, name := range []string{"documents.read", "documents.write", "admin", "billing.read"} {
		must[*keygate.Permission](t)(e.Client.CreatePermission(ctx, &keygate.Permission{Name: name}))
	}
	must[*keygate.Role](t)(e.Client.CreateRole(ctx, &keygate.Role{Name: "editor", Permissions: []string{"documents.read", "documents.write"}}))
	newService(t, e.Client, "docs")
	rt := newRoute(t, e.Client, "docs-api", "docs")
	must[*keygate.Route](t)(e.Client.UpdateRoute(ctx, rt.ID, map[string]any{
		"key_auth":    map[string]any{},
		"permissions": map[string]string{"GET": "documents.read", "POST": "documents.write", "*": "admin"},
	}))
	alice := newConsumer(t, e.Client, "alice")
	must[*keygate.Consumer](t)(e.Client.UpdateConsumer(ctx, alice.ID, map[string]any{"permissions": []string{"billing.read"}}))
	reader := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{Permissions: []string{"documents.read"}}))
	editor := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{Roles: []string{"editor"}}))

	tests := []struct {
		name string
		req  keygate.VerifyRequest
		code keygate.VerifyCode
	}{
		{"held", keygate.VerifyRequest{Key: reader.Key, Permissions: "documents.read"}, keygate.CodeValid},
		{"the consumer's", keygate.VerifyRequest{Key: reader.Key, Permissions: "billing.read AND documents.read"}, keygate.CodeValid},
		{"missing", keygate.VerifyRequest{Key: reader.Key, Permissions: "documents.read AND (documents.write OR admin)"}, keygate.CodeInsufficientPermissions},
		{"through a role", keygate.VerifyRequest{Key: editor.Key, Permissions: "documents.read AND (documents.write OR admin)"}, keygate.CodeValid},
		{"route GET", keygate.VerifyRequest{Key: reader.Key, Route: "docs-api", Method: "GET"}, keygate.CodeValid},
		{"route POST", keygate.VerifyRequest{Key: reader.Key, Route: "docs-api", Method: "POST"}, keygate.CodeInsufficientPermissions},
		{"route POST by role", keygate.VerifyRequest{Key: editor.Key, Route: "docs-api", Method: "POST"}, keygate.CodeValid},
		{"route other method", keygate.VerifyRequest{Key: editor.Key, Route: "docs-api", Method: "DELETE"}, keygate.CodeInsufficientPermissions},
		{"route and query", keygate.VerifyRequest{Key: editor.Key, Route: "docs-api", Method: "GET", Permissions: "admin"}, keygate.CodeInsufficientPermissions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := must[*keygate.VerifyResponse](t)(e.Client.VerifyKey(ctx, tt.req))
			if res.Code != tt.code {
				t.Fatalf("code %s, want %s", res.Code, tt.code)
			}
		})
	}

	t.Run("valid answers carry permissions and roles", func(t *testing.T) {
		res := must[*keygate.VerifyResponse](t)(e.Client.VerifyKey(ctx, keygate.VerifyRequest{Key: editor.Key}))
		if want := []string{"billing.read", "documents.read", "documents.write"}; !slices.Equal(res.Permissions, want) || !slices.Equal(res.Roles, []string{"editor"}) {
			t.Fatalf("permissions %v roles %v", res.Permissions, res.Roles)
		}
	})
	t.Run("a role's change applies at once", func(t *testing.T) {
		must[*keygate.Role](t)(e.Client.UpdateRole(ctx, "editor", map[string]any{"permissions": []string{"documents.read"}}))
		res := must[*keygate.VerifyResponse](t)(e.Client.VerifyKey(ctx, keygate.VerifyRequest{Key: editor.Key, Permissions: "documents.write"}))
		if res.Code != keygate.CodeInsufficientPermissions {
			t.Fatalf("code %s after the role lost documents.write", res.Code)
		}
	})
	t.Run("a key's change applies at once", func(t *testing.T) {
		must[*keygate.APIKey](t)(e.Client.UpdateKey(ctx, reader.ID, map[string]any{"permissions": []string{"admin"}}))
		for q, want := range map[string]keygate.VerifyCode{"admin": keygate.CodeValid, "documents.read": keygate.CodeInsufficientPermissions} {
			res := must[*keygate.VerifyResponse](t)(e.Client.VerifyKey(ctx, keygate.VerifyRequest{Key: reader.Key, Permissions: q}))
			if res.Code != want {
				t.Errorf("%s: code %s, want %s", q, res.Code, want)
			}
		}
	})

	bad := []struct{ name, body, msg string }{
		{"bad query", `{"key":"x","permissions":"a AND (b"}`, "permissions: position 7: parenthesis not closed"},
		{"bad name", `{"key":"x","permissions":"a OR B.c"}`, `permissions: position 6: permission name "B.c"`},
		{"method without route", `{"key":"x","method":"GET"}`, "method: needs route"},
		{"bad method", `{"key":"x","route":"docs-api","method":"get"}`, "method: must be an upper-case HTTP method"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, "POST", "/v1/keys/verify", tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
		})
	}
	t.Run("bad route query is refused at save", func(t *testing.T) {
		request(t, e, "PATCH", "/v1/routes/docs-api", `{"permissions":{"GET":"a OR"}}`, nil).
			wantError(t, 400, keygate.EINVALID, "permissions.GET: position 5: expected a permission name")
	})
	t.Run("unknown permission on a key is the body's fault", func(t *testing.T) {
		request(t, e, "POST", "/v1/consumers/alice/keys", `{"permissions":["nope"]}`, nil).
			wantError(t, 400, keygate.EINVALID, `permissions[0]: no permission "nope"`)
	})
}
