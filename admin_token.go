package keygate

import "slices"

// AdminTokenRequest asks for a new admin API token.
type AdminTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Services (ids or names) restrict a verifier token to verifying keys
	// for these services; empty: any service. Only a verifier has them.
	Services []string `json:"services,omitempty"`
	// Consumers (ids or usernames) scope an operator or auditor token to
	// these consumers, for a portal: it may call only the endpoints under
	// /v1/consumers/{consumer} for them.
	Consumers []string `json:"consumers,omitempty"`
}

// Validate checks the request's own fields; the services' existence is the
// admin API's to check.
func (r *AdminTokenRequest) Validate() error {
	if err := validateName("name", r.Name, true); err != nil {
		return err
	}
	switch r.Role {
	case RoleAdmin, RoleOperator, RoleAuditor, RoleVerifier:
	case "":
		return Errorf(EINVALID, "role: required (admin, operator, auditor or verifier)")
	default:
		return Errorf(EINVALID, "role: must be admin, operator, auditor or verifier")
	}
	if len(r.Services) > 0 && r.Role != RoleVerifier {
		return Errorf(EINVALID, "services: only a verifier token can be restricted to services")
	}
	if len(r.Consumers) > 0 && r.Role != RoleOperator && r.Role != RoleAuditor {
		return Errorf(EINVALID, "consumers: only an operator or auditor token can be scoped to consumers")
	}
	return nil
}

// NewAdminToken is a token just created, with its secret: the only time
// the secret is shown.
type NewAdminToken struct {
	AdminToken
	Token string `json:"token"`
}

// MayActFor says whether t may act for the consumer with id consumerID:
// any consumer unless t is scoped to some.
func (t *AdminToken) MayActFor(consumerID string) bool {
	return len(t.Consumers) == 0 || slices.Contains(t.Consumers, consumerID)
}

// MayVerifyFor says whether t may verify keys for the service with id
// serviceID: any service unless t is restricted to some.
func (t *AdminToken) MayVerifyFor(serviceID string) bool {
	return len(t.Services) == 0 || slices.Contains(t.Services, serviceID)
}
