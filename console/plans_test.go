package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

func TestPlans(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	want(t, b.get("/ui/plans"), http.StatusOK, "No plans yet")
	p := b.post("/ui/plans", url.Values{"name": {"gold"}, "rate": {"12.5"}, "burst": {"20"}, "quota_day": {"10000"}, "limit_by": {"consumer"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/ui/plans/") {
		t.Fatalf("create plan: %d to %q:\n%s", p.status, p.loc, p.body)
	}
	id := strings.TrimPrefix(p.loc, "/ui/plans/")
	pl, err := e.api.Store.FindPlan(ctx, id)
	if err != nil || pl.Rate != 12.5 || pl.Burst != 20 || pl.Quotas.Day != 10000 || pl.LimitBy != keygate.LimitByConsumer {
		t.Fatalf("stored plan: %+v, %v", pl, err)
	}
	want(t, b.get("/ui/plans"), http.StatusOK, "gold", "12.5/s (burst 20)", "10000/day")

	want(t, b.post("/ui/plans", url.Values{"name": {"gold"}, "limit_by": {"key"}}), http.StatusConflict, "already")
	want(t, b.post("/ui/plans", url.Values{"name": {"x"}, "rate": {"fast"}, "limit_by": {"key"}}), http.StatusBadRequest, "Rate: a number")
	want(t, b.post("/ui/plans", url.Values{"name": {"x"}, "burst": {"5"}, "limit_by": {"key"}}), http.StatusBadRequest, "burst: needs a rate")
	want(t, b.post("/ui/plans", url.Values{"name": {"x"}, "limit_by": {"moon"}}), http.StatusBadRequest, "limit_by")

	b.get("/ui/plans/" + id)
	want(t, b.post("/ui/plans/"+id, url.Values{"name": {"gold"}, "quota_month": {"-1"}, "limit_by": {"key"}}), http.StatusBadRequest, "quotas.month")
	want(t, b.post("/ui/plans/"+id, url.Values{"name": {"gold"}, "rate": {"5"}, "quota_hour": {"100"}, "limit_by": {"key"}}), http.StatusSeeOther)
	pl, _ = e.api.Store.FindPlan(ctx, id)
	if pl.Rate != 5 || pl.Burst != 0 || pl.Quotas.Day != 0 || pl.Quotas.Hour != 100 || pl.LimitBy != keygate.LimitByKey {
		t.Fatalf("edited plan: %+v", pl)
	}

	aud := e.browser(t)
	aud.signIn("aud", "aud's password")
	want(t, aud.get("/ui/plans/"+id), http.StatusOK, "gold")
	want(t, aud.post("/ui/plans/"+id+"/delete", url.Values{}), http.StatusForbidden)

	// A plan a consumer has cannot go.
	c := keygate.NewConsumer()
	c.Username = "acme"
	c.Plan = &keygate.Ref{ID: id}
	if err := e.api.Store.CreateConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	b.get("/ui/plans/" + id)
	want(t, b.post("/ui/plans/"+id+"/delete", url.Values{}), http.StatusConflict, "consumer")
	if _, err := e.api.Store.UpdateConsumer(ctx, c.ID, func(c *keygate.Consumer) error { c.Plan = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	want(t, b.post("/ui/plans/"+id+"/delete", url.Values{}), http.StatusSeeOther)
	want(t, b.get("/ui/audit?target="+id), http.StatusOK, "plan.created", "plan.updated", "plan.deleted", "user:olga")
}
