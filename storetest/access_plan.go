package storetest

import (
	"testing"

	"github.com/keygate/keygate"
)

// testAccessApprovePlan checks that a request for a plan that is the name
// of a usage plan issues a key with that plan, and that any other plan
// stays a label.
func testAccessApprovePlan(t *testing.T, s suite) {
	e := s.env(t)
	e.addVersions(t, 1)
	gold, silver := e.plan(t, newPlan("gold")), e.plan(t, newPlan("silver"))
	alice := e.consumer(t, "alice")

	tests := []struct {
		name, plan string
		given      *keygate.Ref // the key's own plan, as the caller builds it
		want       *keygate.Ref
	}{
		{"a usage plan's name", "gold", nil, &keygate.Ref{ID: gold.ID}},
		{"a label", "internal", nil, nil},
		{"no plan", "", nil, nil},
		{"a usage plan's name in another case", "Gold", nil, nil},
		{"a usage plan's id is not its name", gold.ID, nil, nil},
		{"the key's own plan wins", "gold", &keygate.Ref{Name: "silver"}, &keygate.Ref{ID: silver.ID}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newAccessRequest(keygate.Ref{ID: alice.ID}, []string{e.sharedService(t).ID}, nil)
			r.Plan = tt.plan
			check(t, e.store.CreateAccessRequest(e.ctx, r))
			k := issuedKey("plannedkey" + string(rune('a'+i)))
			k.Plan = tt.given
			got, err := e.store.ApproveAccessRequest(e.ctx, r.ID, keygate.AccessDecision{By: "rule:partners"}, k, sealPickup(1, nil))
			check(t, err)
			e.changes.take()
			if got.Plan != tt.plan {
				t.Errorf("the request's plan became %q", got.Plan)
			}
			stored, err := e.store.FindKey(e.ctx, k.ID)
			check(t, err)
			wantEqual(t, stored, k)
			if (stored.Plan == nil) != (tt.want == nil) || tt.want != nil && *stored.Plan != *tt.want {
				t.Errorf("issued key's plan = %+v, want %+v", stored.Plan, tt.want)
			}
		})
	}
}
