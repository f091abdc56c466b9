package adminapi

import (
	"context"
	"encoding/json"

	"github.com/keygate/keygate"
)

func (s *Server) planRoutes(h func(pattern string, fn handlerFunc)) {
	// The store resolves a plan's routes (by id or name) in its transaction.
	h("POST /v1/plans", create(keygate.NewPlan, s.Store.CreatePlan))
	h("GET /v1/plans", list(s.Store.ListPlans))
	h("GET /v1/plans/{plan}", get("plan", s.Store.FindPlan))
	// Top-level fields replace the stored ones; quotas merge field by field
	// (0 removes one quota, null all of them); routes, an array, is
	// replaced as a whole, and so is limits (the named limits).
	h("PATCH /v1/plans/{plan}", updateWith("plan", s.Store.UpdatePlan, func(p *keygate.Plan, fields map[string]json.RawMessage) {
		if hasField(fields, "routes") {
			// encoding/json would decode into the old elements, keeping
			// what the new ones leave out (a rate, quotas): start afresh.
			p.Routes = nil
		}
		if hasField(fields, "limits") {
			p.Named = nil
		}
	}))
	// A plan assigned to a consumer or a live key is ECONFLICT, which says
	// so; ended keys lose it with the plan.
	h("DELETE /v1/plans/{plan}", remove("plan", s.Store.DeletePlan))
	h("GET /v1/usage", s.usage)
}

func (s *Server) planID(ctx context.Context, ref string) (string, error) {
	p, err := s.Store.FindPlan(ctx, ref)
	if err != nil {
		return "", err
	}
	return p.ID, nil
}

// resolvePlan turns a new key's plan reference into one by id, as the
// key's other references are resolved before it is stored; nil or empty
// (no plan of its own) is nil. A consumer's plan the store resolves.
func (s *Server) resolvePlan(ctx context.Context, ref *keygate.Ref) (*keygate.Ref, error) {
	if ref == nil || ref.IsZero() {
		return nil, nil
	}
	id, err := resolve(ctx, "plan", "plan", ref.String(), s.planID)
	if err != nil {
		return nil, err
	}
	return &keygate.Ref{ID: id}, nil
}
