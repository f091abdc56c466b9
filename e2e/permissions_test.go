package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// TestGatewayPermissionsAndPlanChange runs issue 23's part B through the
// binary: a route's permissions by method (403 for a key without them, on
// at once when a role gains them), and a plan change asked for through an
// access request and auto-approved, after which the new limits apply at
// once, the day's usage counted so far is kept, and the key never stops
// working.
func TestGatewayPermissionsAndPlanChange(t *testing.T) {
	clock := newFileClock(t, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	g := startGatewayWith(t, append(clock.flags(), "--usage-flush-interval", "50ms")...)
	ctx := context.Background()
	for _, p := range []string{"documents.read", "documents.write"} {
		if _, err := g.admin.CreatePermission(ctx, &keygate.Permission{Name: p}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.admin.CreateRole(ctx, &keygate.Role{Name: "editor", Permissions: []string{"documents.read"}}); err != nil {
		t.Fatal(err)
	}
	g.service(t, "docs", g.upstream.URL, nil)
	g.route(t, "docs", "docs", func(r *keygate.Route) {
		r.KeyAuth = keygate.NewKeyAuthConfig()
		r.Methods = []string{"GET", "POST", "DELETE"}
		r.Permissions = map[string]string{"GET": "documents.read", "POST": "documents.write", "*": "documents.write AND documents.read"}
	})
	small, big := keygate.NewPlan(), keygate.NewPlan()
	small.Name, small.Quotas = "small", keygate.Quotas{Day: 4}
	big.Name, big.Quotas = "big", keygate.Quotas{Day: 6}
	g.plan(t, small)
	g.plan(t, big)
	alice := keygate.NewConsumer()
	alice.Username, alice.Groups, alice.Plan, alice.Roles = "alice", []string{"partners"}, planRef("small"), []string{"editor"}
	if _, err := g.admin.CreateConsumer(ctx, alice); err != nil {
		t.Fatal(err)
	}
	k := g.key(t, "alice", keygate.KeyRequest{})
	call := func(method string) int {
		status, _, _ := g.call(t, method, "/docs", hdr("apikey", k.Key))
		return status
	}

	t.Run("permissions by method", func(t *testing.T) {
		if s := call("GET"); s != http.StatusOK {
			t.Fatalf("GET: %d, want 200", s)
		}
		if s := call("POST"); s != http.StatusForbidden {
			t.Fatalf("POST without documents.write: %d, want 403", s)
		}
		if s := call("DELETE"); s != http.StatusForbidden {
			t.Fatalf("DELETE (\"*\"): %d, want 403", s)
		}
		if _, err := g.admin.UpdateRole(ctx, "editor", map[string]any{"permissions": []string{"documents.read", "documents.write"}}); err != nil {
			t.Fatal(err)
		}
		if s := call("POST"); s != http.StatusOK {
			t.Fatalf("POST once the role has documents.write: %d, want 200", s)
		}
	})
	// 2 of small's 4 a day used (the 403s are refused before the limits
	// and count nothing); use up the rest.
	used := 2
	for used < 4 {
		if s := call("GET"); s != http.StatusOK {
			t.Fatalf("request %d of small's 4: %d", used+1, s)
		}
		used++
	}
	if s := call("GET"); s != http.StatusTooManyRequests {
		t.Fatalf("past small's quota: %d, want 429", s)
	}

	t.Run("a plan change, auto-approved, keeps the day's usage", func(t *testing.T) {
		if _, err := g.admin.CreateAccessRule(ctx, &keygate.AccessRule{Name: "to-big", Plan: "big", ConsumerGroups: []string{"partners"}, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		req, err := g.admin.RequestAccess(ctx, keygate.AccessRequestInput{Kind: keygate.AccessKindPlanChange, Consumer: keygate.Ref{Name: "alice"}, Plan: "big"})
		if err != nil || req.Status != keygate.AccessApproved {
			t.Fatalf("request: %+v %v", req, err)
		}
		// big allows 6 a day: 4 are used, so 2 more, not 6.
		for i := range 2 {
			if s := call("GET"); s != http.StatusOK {
				t.Fatalf("request %d under big: %d, want 200", i+1, s)
			}
		}
		if s := call("GET"); s != http.StatusTooManyRequests {
			t.Fatalf("past big's quota: %d, want 429 (usage kept)", s)
		}
		// The key is still alice's and on big's limits: the verify API
		// applies them as the gateway does, and says so.
		res, err := g.admin.VerifyKey(ctx, keygate.VerifyRequest{Key: k.Key, IP: "127.0.0.1"})
		if err != nil || res.Code != keygate.CodeUsageExceeded || res.KeyID == "" || len(res.Limits) != 1 || res.Limits[0].Limit != 6 {
			t.Fatalf("verify after the plan change: %+v %v", res, err)
		}
	})
}
