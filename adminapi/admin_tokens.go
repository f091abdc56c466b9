package adminapi

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"

	"github.com/keygate/keygate"
)

// adminTokenRoutes adds the admin token endpoints to the route table. Only
// an admin manages tokens; an auditor may list them (roles.go).
func (s *Server) adminTokenRoutes(h func(string, handlerFunc)) {
	h("POST /v1/admin-tokens", s.createAdminToken)
	h("GET /v1/admin-tokens", list(s.Store.ListAdminTokens))
	h("DELETE /v1/admin-tokens/{id}", s.deleteAdminToken)
}

// createAdminToken creates a token with a role (CreateAdminToken).
func (s *Server) createAdminToken(w http.ResponseWriter, r *http.Request) error {
	var req keygate.AdminTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	t, err := s.CreateAdminToken(r.Context(), req)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, t)
}

// deleteAdminToken deletes a token (DeleteAdminToken).
func (s *Server) deleteAdminToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.DeleteAdminToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// CreateAdminToken is POST /v1/admin-tokens for callers in this process
// (the console). The token is generated here (rand.Text: 26 base32
// characters, 130 bits), stored only as its hash, and in the answer only:
// show it once.
func (s *Server) CreateAdminToken(ctx context.Context, req keygate.AdminTokenRequest) (*keygate.NewAdminToken, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	t := &keygate.AdminToken{Name: req.Name, Role: req.Role}
	if len(req.Services) > 0 {
		ids, err := resolveAll(ctx, "services", "service", req.Services, s.serviceID)
		if err != nil {
			return nil, err
		}
		t.Services = unique(ids)
	}
	if len(req.Consumers) > 0 {
		ids, err := resolveAll(ctx, "consumers", "consumer", req.Consumers, s.consumerID)
		if err != nil {
			return nil, err
		}
		t.Consumers = unique(ids)
	}
	secret := rand.Text()
	t.Hash = HashAdminToken(secret)
	if err := s.Store.CreateAdminToken(ctx, t); err != nil {
		return nil, err
	}
	return &keygate.NewAdminToken{AdminToken: *t, Token: secret}, nil
}

// DeleteAdminToken is DELETE /v1/admin-tokens/{id}: the token stops
// working at once. The last admin token is kept, so that the API is never
// left without an admin; a restart with KEYGATE_ADMIN_TOKEN is the way back
// in otherwise.
func (s *Server) DeleteAdminToken(ctx context.Context, id string) error {
	var target *keygate.AdminToken
	admins := 0
	err := eachAdminToken(ctx, s.Store, func(t *keygate.AdminToken) {
		if strings.EqualFold(t.ID, id) {
			target = t
		}
		if t.Role == keygate.RoleAdmin {
			admins++
		}
	})
	switch {
	case err != nil:
		return err
	case target == nil:
		return keygate.Errorf(keygate.ENOTFOUND, "admin token not found")
	case target.Role == keygate.RoleAdmin && admins == 1:
		return keygate.Errorf(keygate.ECONFLICT, "admin token %q is the last admin token; create another admin token first", target.Name)
	}
	return s.Store.DeleteAdminToken(ctx, id)
}

// eachAdminToken calls fn for every stored admin token; there are few.
func eachAdminToken(ctx context.Context, store keygate.AdminTokenStore, fn func(*keygate.AdminToken)) error {
	p := keygate.Page{Limit: 100}
	for {
		ts, next, err := store.ListAdminTokens(ctx, p)
		if err != nil {
			return err
		}
		for _, t := range ts {
			fn(t)
		}
		if next == "" {
			return nil
		}
		p.After = next
	}
}
