package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/keygate/keygate"
)

func mustPlan(tb testing.TB, e *env, name string) *keygate.Plan {
	tb.Helper()
	p := keygate.NewPlan()
	p.Name = name
	if err := e.api.Store.CreatePlan(context.Background(), p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// A user asks from an application's page to move it to another plan: an
// access request of kind plan_change, pending until an admin approves it
// (or approved at once by an access rule); only for their own
// applications, and only with the form's CSRF token.
func TestPlanChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustPlan(t, e, "basic")
	pro := mustPlan(t, e, "pro")
	enterprise := mustPlan(t, e, "enterprise")
	b := e.browser(t)
	b.signIn("alice", "alice's password")
	app := "/portal/apps/" + e.acme.ID
	want(t, b.get(app), http.StatusOK, "Change plan", `action="/portal/apps/`+e.acme.ID+`/plan"`, "Current plan")

	p := b.post(app+"/plan", url.Values{"plan": {"pro"}, "reason": {"more traffic"}})
	want(t, b.follow(p), http.StatusOK, "plan change is waiting for approval", "plan change", "pending")
	reqs, _, _ := e.api.Store.ListAccessRequests(ctx, keygate.AccessRequestFilter{ConsumerID: e.acme.ID}, keygate.Page{Limit: 10})
	if len(reqs) != 1 || reqs[0].Kind != keygate.AccessKindPlanChange || reqs[0].Plan != "pro" || reqs[0].RequestedBy != "portal:alice" {
		t.Fatalf("requests: %+v", reqs)
	}
	if _, err := e.api.Client.ApproveAccess(ctx, reqs[0].ID, "ok"); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.api.Store.FindConsumer(ctx, e.acme.ID); c.Plan == nil || c.Plan.ID != pro.ID {
		t.Fatalf("acme's plan after approval: %+v", c.Plan)
	}
	page := b.get(app)
	want(t, page, http.StatusOK, "approved")
	wantNot(t, page, "Pick up key (once)") // a plan change has no key to pick up

	t.Run("a rule approves at once", func(t *testing.T) {
		if _, err := e.api.Store.UpdateConsumer(ctx, e.acme.ID, func(c *keygate.Consumer) error { c.Groups = []string{"partners"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.api.Client.CreateAccessRule(ctx, &keygate.AccessRule{Name: "to-enterprise", Plan: "enterprise",
			ConsumerGroups: []string{"partners"}, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		want(t, b.follow(b.post(app+"/plan", url.Values{"plan": {"enterprise"}})), http.StatusOK, "approved at once")
		if c, _ := e.api.Store.FindConsumer(ctx, e.acme.ID); c.Plan == nil || c.Plan.ID != enterprise.ID {
			t.Fatalf("acme's plan: %+v, want enterprise", c.Plan)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		want(t, b.post(app+"/plan", url.Values{"plan": {""}}), http.StatusBadRequest, "plan: choose")
		want(t, b.post(app+"/plan", url.Values{"plan": {"nosuch"}}), http.StatusBadRequest)
	})
	t.Run("not another's application", func(t *testing.T) {
		want(t, b.post("/portal/apps/"+e.globex.ID+"/plan", url.Values{"plan": {"pro"}}), http.StatusNotFound, "among your applications")
		if reqs, _, _ := e.api.Store.ListAccessRequests(ctx, keygate.AccessRequestFilter{ConsumerID: e.globex.ID}, keygate.Page{Limit: 10}); len(reqs) != 0 {
			t.Fatalf("globex has requests %+v", reqs)
		}
	})
	t.Run("CSRF", func(t *testing.T) {
		want(t, b.post(app+"/plan", url.Values{"plan": {"basic"}, "csrf": {"forged"}}), http.StatusForbidden)
		b.origin = "https://evil.example"
		want(t, b.post(app+"/plan", url.Values{"plan": {"basic"}}), http.StatusForbidden)
		b.origin = ""
		if c, _ := e.api.Store.FindConsumer(ctx, e.acme.ID); c.Plan == nil || c.Plan.ID != enterprise.ID {
			t.Fatalf("acme's plan after forged posts: %+v", c.Plan)
		}
	})
}
