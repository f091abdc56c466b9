package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

func TestAccessRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc := adminapitest.CreateService(t, e.api.Client, "orders", "http://127.0.0.1:9", nil)
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	want(t, b.get("/ui/access-rules"), http.StatusOK, "No access rules", "New access rule")
	want(t, b.get("/ui/access"), http.StatusOK, "/ui/access-rules")

	t.Run("bad input", func(t *testing.T) {
		want(t, b.post("/ui/access-rules", url.Values{"name": {"partners"}, "plan": {"gold"}}), http.StatusBadRequest, "consumer_groups")
		want(t, b.post("/ui/access-rules", url.Values{"name": {"partners"}, "plan": {"gold"}, "groups": {"partners"}, "services": {"nope"}}),
			http.StatusBadRequest, "nope")
		if rules, _, _ := e.api.Store.ListAccessRules(ctx, keygate.Page{}); len(rules) != 0 {
			t.Fatalf("refused forms left %d rules", len(rules))
		}
	})

	p := b.post("/ui/access-rules", url.Values{"name": {"partners"}, "plan": {"gold"}, "groups": {"partners, resellers"},
		"services": {"orders"}, "enabled": {"on"}})
	want(t, p, http.StatusSeeOther)
	rules, _, _ := e.api.Store.ListAccessRules(ctx, keygate.Page{})
	if len(rules) != 1 || rules[0].Services[0] != svc.ID || len(rules[0].ConsumerGroups) != 2 || !rules[0].Enabled {
		t.Fatalf("rules = %+v", rules)
	}
	id := rules[0].ID
	want(t, b.get("/ui/access-rules"), http.StatusOK, "partners, resellers", ">orders<", "gold")
	want(t, b.get("/ui/access-rules/"+id), http.StatusOK, `value="orders"`, "Save rule")

	t.Run("auditor cannot", func(t *testing.T) {
		aud := e.browser(t)
		aud.signIn("aud", "aud's password")
		if pg := aud.get("/ui/access-rules/" + id); strings.Contains(pg.body, "Delete rule") {
			t.Error("the auditor is offered a change")
		}
		want(t, aud.post("/ui/access-rules", url.Values{"name": {"x"}}), http.StatusForbidden)
		want(t, aud.post("/ui/access-rules/"+id, url.Values{"name": {"x"}}), http.StatusForbidden)
		want(t, aud.post("/ui/access-rules/"+id+"/delete", url.Values{}), http.StatusForbidden)
	})

	want(t, b.post("/ui/access-rules/"+id, url.Values{"name": {"partners"}, "plan": {""}, "groups": {"partners"}}), http.StatusBadRequest, "plan")
	want(t, b.post("/ui/access-rules/"+id, url.Values{"name": {"partners"}, "plan": {"silver"}, "groups": {"partners"}}), http.StatusSeeOther)
	r, _ := e.api.Store.FindAccessRule(ctx, id)
	if r.Plan != "silver" || r.Enabled || len(r.Services) != 0 {
		t.Fatalf("after edit: %+v", r)
	}
	want(t, b.get("/ui/audit?target="+id), http.StatusOK, "user:olga")
	want(t, b.post("/ui/access-rules/"+id+"/delete", url.Values{}), http.StatusSeeOther)
	want(t, b.get("/ui/access-rules/"+id), http.StatusNotFound)
}
