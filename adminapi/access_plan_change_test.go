package adminapi_test

import (
	"context"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// TestAccessPlanChange checks plan changes asked for through access
// requests: approved by an admin or at once by a rule, they switch the
// consumer's (or a key's) plan, and the key keeps working as the same key
// before, during and after.
func TestAccessPlanChange(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	silver := must[*keygate.Plan](t)(e.Client.CreatePlan(ctx, &keygate.Plan{Name: "silver", Rate: 1}))
	gold := must[*keygate.Plan](t)(e.Client.CreatePlan(ctx, &keygate.Plan{Name: "gold", Rate: 100}))
	must[*keygate.Plan](t)(e.Client.CreatePlan(ctx, &keygate.Plan{Name: "platinum", Rate: 1000}))
	alice := newConsumer(t, e.Client, "alice", "partners")
	must[*keygate.Consumer](t)(e.Client.UpdateConsumer(ctx, "alice", map[string]any{"plan": "silver"}))
	key := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{}))
	valid := func(t *testing.T) {
		t.Helper()
		res := must[*keygate.VerifyResponse](t)(e.Client.VerifyKey(ctx, keygate.VerifyRequest{Key: key.Key}))
		if res.Code != keygate.CodeValid || res.KeyID != key.ID {
			t.Fatalf("the key: %s %s", res.Code, res.KeyID)
		}
	}
	plan := func(t *testing.T) string {
		t.Helper()
		return must[*keygate.Consumer](t)(e.Client.Consumer(ctx, "alice")).Plan.ID
	}
	valid(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.Logs.String())
		}
	})

	t.Run("an admin approves; the consumer's plan switches", func(t *testing.T) {
		req := must[*keygate.CreatedAccessRequest](t)(e.Client.RequestAccess(ctx, keygate.AccessRequestInput{
			Kind: keygate.AccessKindPlanChange, Consumer: keygate.Ref{Name: "alice"}, Plan: "gold", Reason: "more traffic"}))
		_ = e.Logs
		if req.Status != keygate.AccessPending || req.Kind != keygate.AccessKindPlanChange {
			t.Fatalf("request %+v", req.AccessRequest)
		}
		valid(t) // during
		if got := plan(t); got != silver.ID {
			t.Fatalf("plan %s before approval", got)
		}
		got := must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, req.ID, "ok"))
		if got.Status != keygate.AccessApproved {
			t.Fatalf("status %s", got.Status)
		}
		if got := plan(t); got != gold.ID {
			t.Fatalf("plan %s after approval, want gold", got)
		}
		valid(t) // after: the same key
		_, err := e.Client.PickUpAccess(ctx, req.ID)
		wantAPIError(t, err, 409, keygate.ECONFLICT)
	})

	t.Run("a rule approves at once", func(t *testing.T) {
		must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, &keygate.AccessRule{Name: "to-platinum", Plan: "platinum",
			ConsumerGroups: []string{"partners"}, Enabled: true}))
		req := must[*keygate.CreatedAccessRequest](t)(e.Client.RequestAccess(ctx, keygate.AccessRequestInput{
			Kind: keygate.AccessKindPlanChange, Consumer: keygate.Ref{Name: "alice"}, Plan: "platinum"}))
		if req.Status != keygate.AccessApproved || req.DecidedBy != "rule:to-platinum" {
			t.Fatalf("request %+v", req.AccessRequest)
		}
		if got := plan(t); got == gold.ID || got == silver.ID {
			t.Fatalf("plan %s, want platinum", got)
		}
		valid(t)
	})

	t.Run("a key's own plan", func(t *testing.T) {
		req := must[*keygate.CreatedAccessRequest](t)(e.Client.RequestAccess(ctx, keygate.AccessRequestInput{
			Kind: keygate.AccessKindPlanChange, Consumer: keygate.Ref{ID: alice.ID}, Plan: "silver", Key: key.ID}))
		must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, req.ID, ""))
		k := must[*keygate.APIKey](t)(e.Client.Key(ctx, key.ID))
		if k.Plan == nil || k.Plan.ID != silver.ID || k.Status != keygate.KeyActive {
			t.Fatalf("key %+v plan %+v", k, k.Plan)
		}
		valid(t)
	})

	bad := []struct{ name, body, msg string }{
		{"no plan", `{"kind":"plan_change","consumer":"alice"}`, "plan: required"},
		{"unknown plan", `{"kind":"plan_change","consumer":"alice","plan":"diamond"}`, `plan: no usage plan "diamond"`},
		{"services too", `{"kind":"plan_change","consumer":"alice","plan":"gold","services":["x"]}`, "services: a plan change asks for a plan"},
		{"bad kind", `{"kind":"upgrade","consumer":"alice","plan":"gold"}`, "kind: must be key or plan_change"},
		{"key for a key request", `{"consumer":"alice","services":["x"],"key":"0190a8a2-8a7e-7c3e-9a1b-0123456789ab"}`, "key: only for a plan change"},
		{"someone else's key", `{"kind":"plan_change","consumer":"alice","plan":"gold","key":"0190a8a2-8a7e-7c3e-9a1b-0123456789ab"}`, `key: consumer "`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, "POST", "/v1/access-requests", tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
		})
	}
}
