package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// createService creates a service through the form and returns its id.
func (b *browser) createService(name, upstream string) string {
	b.tb.Helper()
	want(b.tb, b.get("/ui/services"), http.StatusOK)
	p := b.post("/ui/services", url.Values{"name": {name}, "url": {upstream}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/ui/services/") {
		b.tb.Fatalf("create service: %d to %q:\n%s", p.status, p.loc, p.body)
	}
	return strings.TrimPrefix(p.loc, "/ui/services/")
}

// createRoute creates a route of service through the form and returns its id.
func (b *browser) createRoute(service string, form url.Values) string {
	b.tb.Helper()
	want(b.tb, b.get("/ui/services/"+service), http.StatusOK)
	p := b.post("/ui/services/"+service+"/routes", form)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/ui/routes/") {
		b.tb.Fatalf("create route: %d to %q:\n%s", p.status, p.loc, p.body)
	}
	return strings.TrimPrefix(p.loc, "/ui/routes/")
}

func TestServicesAndRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	svc := b.createService("orders", "http://orders.internal:8080/api")
	want(t, b.get("/ui/services"), http.StatusOK, "orders", "http://orders.internal:8080/api")

	rt := b.createRoute(svc, url.Values{"name": {"orders-read"}, "paths": {"/orders, /v2/orders"}, "methods": {"get head"},
		"strip_path": {"1"}, "key_auth": {"1"}})
	r, err := e.api.Store.FindRoute(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	if r.Service.ID != svc || len(r.Paths) != 2 || r.Paths[1] != "/v2/orders" || strings.Join(r.Methods, ",") != "GET,HEAD" ||
		!r.StripPath || r.KeyAuth == nil || r.KeyAuth.KeyNames[0] != keygate.DefaultKeyName {
		t.Fatalf("stored route: %+v", r)
	}
	want(t, b.get("/ui/services/"+svc), http.StatusOK, "orders-read", "/v2/orders", "API key")
	want(t, b.get("/ui/routes"), http.StatusOK, "orders-read", ">orders<")

	t.Run("edit", func(t *testing.T) {
		want(t, b.get("/ui/services/"+svc), http.StatusOK)
		p := b.post("/ui/services/"+svc, url.Values{"name": {"orders"}, "url": {"https://orders-v2.internal/api"}, "retries": {"2"},
			"connect_timeout": {"1000"}, "read_timeout": {"5000"}, "write_timeout": {"5000"}, "tags": {"team-a, prod"}})
		want(t, p, http.StatusSeeOther)
		s, _ := e.api.Store.FindService(ctx, svc)
		if s.URL != "https://orders-v2.internal/api" || s.Retries != 2 || s.ReadTimeout != 5000 || len(s.Tags) != 2 {
			t.Fatalf("stored service: %+v", s)
		}
		want(t, b.get("/ui/routes/"+rt), http.StatusOK)
		p = b.post("/ui/routes/"+rt, url.Values{"name": {"orders-all"}, "paths": {"/orders"}})
		want(t, p, http.StatusSeeOther)
		r, _ := e.api.Store.FindRoute(ctx, rt)
		if r.Name != "orders-all" || len(r.Methods) != 0 || r.KeyAuth != nil || r.StripPath {
			t.Fatalf("edited route: %+v", r)
		}
		// The audit trail names the console user, with what changed.
		want(t, b.get("/ui/audit?target="+svc), http.StatusOK, "service.created", "service.updated", "user:olga")
	})

	t.Run("bad input", func(t *testing.T) {
		b.get("/ui/services")
		want(t, b.post("/ui/services", url.Values{"name": {"orders"}, "url": {"http://x.internal"}}), http.StatusConflict, "already", `value="http://x.internal"`)
		want(t, b.post("/ui/services", url.Values{"name": {"pay"}, "url": {"ftp://x"}}), http.StatusBadRequest, "url: scheme")
		want(t, b.post("/ui/services", url.Values{"name": {"pay"}}), http.StatusBadRequest, "url: required")
		b.get("/ui/services/" + svc)
		want(t, b.post("/ui/services/"+svc, url.Values{"name": {"orders"}, "url": {"http://a.internal"}, "retries": {"many"}}), http.StatusBadRequest, "Retries: a whole number")
		want(t, b.post("/ui/services/"+svc, url.Values{"name": {"orders"}, "url": {"http://a.internal"}, "read_timeout": {"0"}}), http.StatusBadRequest, "read_timeout")
		if s, _ := e.api.Store.FindService(ctx, svc); s.URL != "https://orders-v2.internal/api" {
			t.Fatalf("a refused edit changed the service: %+v", s)
		}
		want(t, b.post("/ui/services/"+svc+"/routes", url.Values{"paths": {"orders"}}), http.StatusBadRequest, "paths", `value="orders"`)
		want(t, b.post("/ui/services/"+svc+"/routes", url.Values{"name": {"orders-all"}, "paths": {"/x"}}), http.StatusConflict, "already")
		want(t, b.post("/ui/routes/"+rt, url.Values{"paths": {"/ok"}, "methods": {"FETCH!"}}), http.StatusBadRequest, "methods")
		want(t, b.post("/ui/routes/nothing", url.Values{}), http.StatusNotFound)
		want(t, b.get("/ui/services/nothing"), http.StatusNotFound)
	})

	t.Run("auditor cannot", func(t *testing.T) {
		aud := e.browser(t)
		aud.signIn("aud", "aud's password")
		pg := aud.get("/ui/services/" + svc)
		want(t, pg, http.StatusOK, "orders")
		if strings.Contains(pg.body, "New route") || strings.Contains(pg.body, "delete-service") {
			t.Error("the auditor is offered a change")
		}
		want(t, aud.post("/ui/services", url.Values{"name": {"x"}, "url": {"http://x.internal"}}), http.StatusForbidden)
		want(t, aud.post("/ui/routes/"+rt+"/delete", url.Values{}), http.StatusForbidden)
		want(t, aud.post("/ui/services/"+svc+"/delete", url.Values{}), http.StatusForbidden)
	})

	t.Run("delete", func(t *testing.T) {
		b.get("/ui/services/" + svc)
		want(t, b.post("/ui/services/"+svc+"/delete", url.Values{}), http.StatusConflict, "route")
		b.get("/ui/routes/" + rt)
		p := b.post("/ui/routes/"+rt+"/delete", url.Values{})
		if p.status != http.StatusSeeOther || p.loc != "/ui/services/"+svc {
			t.Fatalf("delete route: %d to %q", p.status, p.loc)
		}
		b.get("/ui/services/" + svc)
		want(t, b.post("/ui/services/"+svc+"/delete", url.Values{}), http.StatusSeeOther)
		if _, err := e.api.Store.FindService(ctx, svc); keygate.ErrorCode(err) != keygate.ENOTFOUND {
			t.Fatalf("deleted service: %v", err)
		}
	})
}

func TestRotateAndTimeline(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("ada", "ada's password")
	id := b.createConsumer("acme")
	_, old := b.createKey(id, url.Values{"name": {"ci"}})
	keys, _, _ := e.api.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: id}, keygate.Page{})
	keyID := keys[0].ID

	want(t, b.get("/ui/keys/"+keyID+"/rotate"), http.StatusOK, "Overlap in hours", `value="24"`)
	want(t, b.post("/ui/keys/"+keyID+"/rotate", url.Values{"grace_hours": {"9999"}}), http.StatusBadRequest, "Overlap: a whole number")
	p := b.post("/ui/keys/"+keyID+"/rotate", url.Values{"grace_hours": {"2"}})
	want(t, p, http.StatusCreated, "Key rotated", "Copy this key now", "keeps working until")
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("rotation page Cache-Control = %q", cc)
	}
	m := keyPattern.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no key on the rotation page:\n%s", p.body)
	}
	for _, k := range []string{old, m[1]} { // both work during the overlap
		if res, _ := e.api.Server.Verifier.VerifyKey(ctx, k, keygate.Target{}); res.Code != keygate.CodeValid {
			t.Fatalf("during the overlap a key verifies as %s", res.Code)
		}
	}
	prev, _ := e.api.Store.FindKey(ctx, keyID)
	if prev.ExpiresAt == nil || prev.ExpiresAt.Sub(e.api.Clock.Now()).Hours() > 2.01 {
		t.Fatalf("old key expires at %v, want in 2 hours", prev.ExpiresAt)
	}
	tl := b.get("/ui/keys/" + keyID)
	want(t, tl, http.StatusOK, "Lifecycle", "key.created", "key.rotated", "user:ada")
	if strings.Contains(tl.body, m[1]) || strings.Contains(tl.body, old) {
		t.Error("the timeline shows a key")
	}
	want(t, b.get("/ui/keys/nothing"), http.StatusNotFound)
	if pg := b.get("/ui/audit?action=key.rotated"); !strings.Contains(pg.body, "key.rotated") || strings.Contains(pg.body, ">consumer.created<") {
		t.Errorf("the audit trail filtered by action:\n%s", pg.body)
	}

	aud := e.browser(t)
	aud.signIn("aud", "aud's password")
	want(t, aud.get("/ui/keys/"+keyID), http.StatusOK, "key.rotated")
	want(t, aud.post("/ui/keys/"+m[1][:0]+keyID+"/rotate", url.Values{}), http.StatusForbidden)
}

func TestKeyringPage(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn("ada", "ada's password")
	want(t, b.get("/ui/keyring"), http.StatusOK, "Current version", "Rewrap", "<progress")
}

func TestServiceSearchAndPaging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 30 {
		s := keygate.NewService()
		s.Name, s.URL = fmt.Sprintf("svc-%02d", i), "http://upstream.internal"
		if i%10 == 3 {
			s.Name = fmt.Sprintf("billing-%02d", i)
		}
		if err := e.api.Store.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
		rt := keygate.NewRoute()
		rt.Name, rt.Service, rt.Paths = "r-"+s.Name, keygate.Ref{ID: s.ID}, []string{"/" + s.Name}
		if err := e.api.Store.CreateRoute(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn("aud", "aud's password")
	p := b.get("/ui/services")
	want(t, p, http.StatusOK, "svc-00", `rel="next"`)
	if strings.Contains(p.body, "svc-29") {
		t.Error("the first page shows the last service")
	}
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(p.body)[1]
	want(t, b.get(strings.ReplaceAll(next, "&amp;", "&")), http.StatusOK, "svc-29")
	p = b.get("/ui/services?q=BILLING")
	want(t, p, http.StatusOK, "billing-03", "billing-13", "billing-23")
	if strings.Contains(p.body, "svc-00") || strings.Contains(p.body, `rel="next"`) {
		t.Error("the search shows what does not match, or a next page")
	}
	want(t, b.get("/ui/services?q=nothing-like-it"), http.StatusOK, "No services match")
	want(t, b.get("/ui/routes?q=/billing-13"), http.StatusOK, "r-billing-13")
	want(t, b.get("/ui/plans?q="+strings.Repeat("x", 201)), http.StatusBadRequest, "Search")
}

func TestKeyEdit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plan := keygate.NewPlan()
	plan.Name = "tin"
	if err := e.api.Store.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	id := b.createConsumer("acme")
	b.createKey(id, url.Values{"name": {"ci"}})
	keys, _, _ := e.api.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: id}, keygate.Page{})
	keyID := keys[0].ID
	want(t, b.get("/ui/keys/"+keyID), http.StatusOK, "Edit key", ">tin<")
	want(t, b.post("/ui/keys/"+keyID, url.Values{"name": {"deploy"}, "plan": {"nope"}}), http.StatusBadRequest, "plan")
	want(t, b.post("/ui/keys/"+keyID, url.Values{"name": {strings.Repeat("n", 300)}}), http.StatusBadRequest, "name")
	want(t, b.post("/ui/keys/"+keyID, url.Values{"name": {"deploy"}, "plan": {plan.ID}}), http.StatusSeeOther)
	k, _ := e.api.Store.FindKey(ctx, keyID)
	if k.Name != "deploy" || k.Plan == nil || k.Plan.ID != plan.ID {
		t.Fatalf("edited key: %+v", k)
	}
	aud := e.browser(t)
	aud.signIn("aud", "aud's password")
	want(t, aud.post("/ui/keys/"+keyID, url.Values{"name": {"x"}}), http.StatusForbidden)
}
