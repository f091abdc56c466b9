package keygate

import "slices"

// AdminTokenRequest asks for a new admin API token.
type AdminTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Services (ids or names) restrict a verifier token to verifying keys
	// for these services; empty: any service. Only a verifier has them.
	Services []string `json:"services,omitempty"`
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
	return nil
}

// NewAdminToken is a token just created, with its secret: the only time
// the secret is shown.
type NewAdminToken struct {
	AdminToken
	Token string `json:"token"`
}

// MayVerifyFor says whether t may verify keys for the service with id
// serviceID: any service unless t is restricted to some.
func (t *AdminToken) MayVerifyFor(serviceID string) bool {
	return len(t.Services) == 0 || slices.Contains(t.Services, serviceID)
}
