package console_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func TestUsage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("aud", "aud's password") // auditors read usage

	plan := keygate.NewPlan()
	plan.Name, plan.Quotas.Day = "silver", 1000
	if err := e.api.Store.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"acme", "globex"} {
		c := keygate.NewConsumer()
		c.Username = name
		if name == "acme" {
			c.Plan = &keygate.Ref{ID: plan.ID}
		}
		if err := e.api.Store.CreateConsumer(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	now := e.api.Clock.Now().UTC().Truncate(time.Minute)
	recs := []keygate.UsageRecord{
		{Minute: now, ConsumerID: ids[0], CredentialID: "k1", RouteID: "r1", Allowed: 250, Rejected: 3},
		{Minute: now.Add(-3 * time.Hour), ConsumerID: ids[0], CredentialID: "k1", RouteID: "r1", Allowed: 100, Rejected: 40},
		{Minute: now.Add(-2 * time.Hour), ConsumerID: ids[1], CredentialID: "k2", RouteID: "r1", Allowed: 7},
	}
	if err := e.api.Store.AddUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}

	p := b.get("/ui/usage")
	want(t, p, http.StatusOK, `<svg class="chart"`, "357 allowed, 43 rejected in all", ">acme<", ">globex<", `class="allowed"`)
	if strings.Index(p.body, ">acme<") > strings.Index(p.body, ">globex<") {
		t.Error("top consumers are not ordered by requests")
	}
	if strings.Contains(p.body, "style=") || strings.Contains(p.body, "<script") {
		t.Error("the chart uses inline style or script")
	}

	p = b.get("/ui/usage?consumer=acme&range=7d")
	want(t, p, http.StatusOK, "350 allowed, 43 rejected in all", "Quota against plan", "silver")
	if !strings.Contains(p.body, "of 1000") {
		t.Errorf("no day quota use:\n%s", p.body)
	}
	want(t, b.get("/ui/usage?consumer=nobody"), http.StatusBadRequest, "Consumer: no consumer")
	want(t, b.get("/ui/usage?range=1y"), http.StatusBadRequest, "Range")

	c := b.get("/ui/usage.csv?consumer=globex")
	want(t, c, http.StatusOK)
	if ct := c.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(c.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV headers: %v", c.header)
	}
	rows, err := csv.NewReader(strings.NewReader(c.body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "start" || rows[1][1] != ids[1] || rows[1][4] != "7" {
		t.Fatalf("CSV: %q, %v", rows, err)
	}
}
