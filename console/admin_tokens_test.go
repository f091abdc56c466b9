package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var tokenSecret = regexp.MustCompile(`id="secret" class="secret-value" readonly value="([A-Z2-7]{26})"`)

func TestAdminTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("ada", "ada's password")
	want(t, b.get("/ui/admin-tokens"), http.StatusOK, "New admin token")

	t.Run("operator cannot", func(t *testing.T) {
		op := e.browser(t)
		op.signIn("olga", "olga's password")
		want(t, op.get("/ui/admin-tokens"), http.StatusForbidden)
		if strings.Contains(op.get("/ui/").body, "/ui/admin-tokens") {
			t.Error("the operator is offered the admin tokens page")
		}
		want(t, op.post("/ui/admin-tokens", url.Values{"name": {"x"}, "role": {"admin"}}), http.StatusForbidden)
		want(t, op.post("/ui/admin-tokens/whatever/delete", url.Values{}), http.StatusForbidden)
	})
	t.Run("bad input", func(t *testing.T) {
		want(t, b.post("/ui/admin-tokens", url.Values{"name": {"ci"}, "role": {"root"}}), http.StatusBadRequest, "role: must be")
		want(t, b.post("/ui/admin-tokens", url.Values{"name": {"ci"}, "role": {"admin"}, "services": {"orders"}}), http.StatusBadRequest, "services")
		want(t, b.post("/ui/admin-tokens", url.Values{"name": {"ci"}, "role": {"verifier"}, "services": {"nope"}}), http.StatusBadRequest, "nope")
		want(t, b.post("/ui/admin-tokens", url.Values{"csrf": {"bad"}, "name": {"ci"}, "role": {"admin"}}), http.StatusForbidden)
	})

	p := b.post("/ui/admin-tokens", url.Values{"name": {"ci"}, "role": {keygate.RoleAuditor}})
	want(t, p, http.StatusCreated, "Copy this token now", "auditor")
	m := tokenSecret.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no token on the page:\n%s", p.body)
	}
	// The token works, as the auditor it was made.
	if _, _, err := client.New(e.api.URL(), m[1]).Consumers(ctx, keygate.Page{}); err != nil {
		t.Fatalf("the new token: %v", err)
	}
	list := b.get("/ui/admin-tokens")
	want(t, list, http.StatusOK, ">ci<")
	if strings.Contains(list.body, m[1]) {
		t.Error("the list shows the token")
	}
	tokens, _, _ := e.api.Store.ListAdminTokens(ctx, keygate.Page{})
	for _, tk := range tokens {
		if tk.Name == "ci" {
			want(t, b.post("/ui/admin-tokens/"+tk.ID+"/delete", url.Values{}), http.StatusSeeOther)
		} else if tk.Role == keygate.RoleAdmin {
			want(t, b.post("/ui/admin-tokens/"+tk.ID+"/delete", url.Values{}), http.StatusConflict, "last admin token")
		}
	}
	if _, _, err := client.New(e.api.URL(), m[1]).Consumers(ctx, keygate.Page{}); err == nil {
		t.Fatal("a deleted token still works")
	}
}
