package adminapi_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// PATCH /v1/keys/{id} changes a key's name, tags and plan; the gateway's
// verifier sees the change at once (its cache dropped the key).
func TestUpdateKey(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	newConsumer(t, e.Client, "alice")
	gold := must[*keygate.Plan](t)(e.Client.CreatePlan(ctx, &keygate.Plan{Name: "gold", Rate: 10}))
	issued := must[*keygate.IssuedKey](t)(e.Client.CreateKey(ctx, "alice", keygate.KeyRequest{Name: "ci", Tags: []string{"ci"}}))
	id := issued.ID

	// Cached by the verifier, without a plan.
	if res, err := e.Server.Verifier.VerifyKey(ctx, issued.Key, keygate.Target{}); err != nil || !res.Valid() || res.Key.PlanID != "" {
		t.Fatalf("verify before: %+v, %v", res, err)
	}

	r := request(t, e, "PATCH", "/v1/keys/"+id, `{"name":"deploy","tags":["prod","eu"],"plan":"gold"}`,
		map[string]string{"X-Audit-Reason": "upgrade"})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var k keygate.APIKey
	if err := json.Unmarshal([]byte(r.body), &k); err != nil {
		t.Fatal(err)
	}
	if k.ID != id || k.Name != "deploy" || len(k.Tags) != 2 || k.Tags[0] != "prod" || k.Plan == nil || *k.Plan != (keygate.Ref{ID: gold.ID}) {
		t.Fatalf("patched %+v", k)
	}
	if k.Lineage != id {
		t.Errorf("lineage_id %q, want the key's own id", k.Lineage)
	}
	if got := must[*keygate.APIKey](t)(e.Client.Key(ctx, id)); got.Name != "deploy" || got.Plan == nil || got.Plan.ID != gold.ID {
		t.Errorf("stored %+v", got)
	}
	res, err := e.Server.Verifier.VerifyKey(ctx, issued.Key, keygate.Target{})
	if err != nil || !res.Valid() || res.Key.PlanID != gold.ID {
		t.Errorf("the verifier still has the old key: %+v, %v", res.Key, err)
	}

	audit, _, err := e.Client.Audit(ctx, keygate.AuditFilter{TargetID: id, Action: "key.updated"}, keygate.Page{})
	if err != nil || len(audit) != 1 || audit[0].Actor != "admin:test" || audit[0].Reason != "upgrade" {
		t.Errorf("audit %+v, %v", audit, err)
	}

	t.Run("the client's UpdateKey, and null clears", func(t *testing.T) {
		got, err := e.Client.UpdateKey(ctx, id, map[string]any{"plan": nil, "name": nil, "tags": nil})
		if err != nil {
			t.Fatal(err)
		}
		if got.Plan != nil || got.Name != "" || got.Tags == nil || len(got.Tags) != 0 {
			t.Errorf("after nulls %+v", got)
		}
		if res, _ := e.Server.Verifier.VerifyKey(ctx, issued.Key, keygate.Target{}); res.Key.PlanID != "" {
			t.Errorf("the verifier still has plan %s", res.Key.PlanID)
		}
	})

	t.Run("plan by id, as a ref object, then an empty string clears", func(t *testing.T) {
		got := must[*keygate.APIKey](t)(e.Client.UpdateKey(ctx, id, map[string]any{"plan": map[string]string{"id": gold.ID}}))
		if got.Plan == nil || got.Plan.ID != gold.ID || got.Name != "" {
			t.Errorf("by id %+v", got)
		}
		got = must[*keygate.APIKey](t)(e.Client.UpdateKey(ctx, id, map[string]any{"plan": ""}))
		if got.Plan != nil {
			t.Errorf(`plan "" left %+v`, got.Plan)
		}
	})

	before := must[*keygate.APIKey](t)(e.Client.Key(ctx, id))
	tests := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"status", `{"status":"active"}`, 400, keygate.EINVALID, "status: cannot be changed"},
		{"expires_at", `{"name":"x","expires_at":"2031-01-01T00:00:00Z"}`, 400, keygate.EINVALID, "expires_at: cannot be changed"},
		{"allowed_cidrs", `{"allowed_cidrs":["0.0.0.0/0"]}`, 400, keygate.EINVALID, "allowed_cidrs: cannot be changed"},
		{"allowed_services", `{"allowed_services":[]}`, 400, keygate.EINVALID, "allowed_services: cannot be changed"},
		{"consumer", `{"consumer":"bob"}`, 400, keygate.EINVALID, "consumer: cannot be changed"},
		{"lineage_id", `{"lineage_id":"x"}`, 400, keygate.EINVALID, "lineage_id: cannot be changed"},
		{"rotated_from in another case", `{"Rotated_From":"x"}`, 400, keygate.EINVALID, "rotated_from: cannot be changed"},
		{"id", `{"id":"x"}`, 400, keygate.EINVALID, "id: read-only"},
		{"an unknown field", `{"ttl":60}`, 400, keygate.EINVALID, `unknown field "ttl"`},
		{"the full key", `{"key":"kg_test_x"}`, 400, keygate.EINVALID, `unknown field "key"`},
		{"an unknown plan", `{"name":"x","plan":"nope"}`, 400, keygate.EINVALID, `plan: no plan "nope"`},
		{"a plan ref with an unknown field", `{"plan":{"slug":"gold"}}`, 400, keygate.EINVALID, "slug"},
		{"a bad name", `{"name":"two words"}`, 400, keygate.EINVALID, "name:"},
		{"a bad tag", `{"tags":["a,b"]}`, 400, keygate.EINVALID, "tags[0]:"},
		{"tags not a list", `{"tags":"prod"}`, 400, keygate.EINVALID, "tags: must be an array"},
		{"not an object", `[]`, 400, keygate.EINVALID, "request body"},
		{"no body", ``, 400, keygate.EINVALID, "request body: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, "PATCH", "/v1/keys/"+id, tt.body, nil).wantError(t, tt.status, tt.code, tt.msg)
			if got := must[*keygate.APIKey](t)(e.Client.Key(ctx, id)); !got.UpdatedAt.Equal(before.UpdatedAt) || got.Name != before.Name {
				t.Errorf("a refused patch changed the key: %+v", got)
			}
		})
	}

	t.Run("a missing key", func(t *testing.T) {
		request(t, e, "PATCH", "/v1/keys/"+"00000000-0000-7000-8000-000000000000", `{"name":"x"}`, nil).
			wantError(t, 404, keygate.ENOTFOUND, "key not found")
		_, err := e.Client.UpdateKey(ctx, "00000000-0000-7000-8000-000000000000", map[string]any{"plan": "nope"})
		wantAPIError(t, err, 404, keygate.ENOTFOUND)
	})
}

// An access request for a plan that is a usage plan's name issues a key
// limited by that plan, whether an admin or a rule approves it; any other
// plan stays a label.
func TestAccessRequestForAUsagePlan(t *testing.T) {
	e := newAccessEnv(t)
	ctx := context.Background()
	gold := must[*keygate.Plan](t)(e.Client.CreatePlan(ctx, &keygate.Plan{Name: "gold", Rate: 5}))
	rule := keygate.NewAccessRule()
	rule.Name, rule.Plan, rule.ConsumerGroups = "partners-gold", "gold", []string{"partners"}
	must[*keygate.AccessRule](t)(e.Client.CreateAccessRule(ctx, rule))

	tests := []struct {
		name     string
		consumer string
		plan     string
		approve  bool // by an admin; else the rule approves at once
		want     *keygate.Ref
	}{
		{"approved by a rule", "alice", "gold", false, &keygate.Ref{ID: gold.ID}},
		{"approved by an admin", "sam", "gold", true, &keygate.Ref{ID: gold.ID}},
		{"a plan that is only a label", "sam", "internal", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created := e.request(t, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: tt.consumer}, Services: []string{"orders"}, Plan: tt.plan})
			req := &created.AccessRequest
			if tt.approve {
				req = must[*keygate.AccessRequest](t)(e.Client.ApproveAccess(ctx, req.ID, ""))
			}
			if req.Status != keygate.AccessApproved || req.KeyID == "" || req.Plan != tt.plan {
				t.Fatalf("request %+v", req)
			}
			k := must[*keygate.APIKey](t)(e.Client.Key(ctx, req.KeyID))
			if (k.Plan == nil) != (tt.want == nil) || tt.want != nil && *k.Plan != *tt.want {
				t.Errorf("issued key's plan = %+v, want %+v", k.Plan, tt.want)
			}
			picked := must[*keygate.AccessPickup](t)(e.Client.PickUpAccess(ctx, req.ID))
			if (picked.Key.Plan == nil) != (tt.want == nil) {
				t.Errorf("picked-up key's plan = %+v, want %+v", picked.Key.Plan, tt.want)
			}
		})
	}
}
