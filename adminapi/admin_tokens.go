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

// createAdminToken creates a token with a role. The token is generated
// here (rand.Text: 26 base32 characters, 130 bits), stored only as its
// hash, and shown in this response only.
func (s *Server) createAdminToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req keygate.AdminTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	t := &keygate.AdminToken{Name: req.Name, Role: req.Role}
	if len(req.Services) > 0 {
		ids, err := resolveAll(ctx, "services", "service", req.Services, s.serviceID)
		if err != nil {
			return err
		}
		t.Services = unique(ids)
	}
	if len(req.Consumers) > 0 {
		ids, err := resolveAll(ctx, "consumers", "consumer", req.Consumers, s.consumerID)
		if err != nil {
			return err
		}
		t.Consumers = unique(ids)
	}
	secret := rand.Text()
	t.Hash = HashAdminToken(secret)
	if err := s.Store.CreateAdminToken(ctx, t); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, keygate.NewAdminToken{AdminToken: *t, Token: secret})
}

// deleteAdminToken deletes a token, which stops working at once. The last
// admin token is kept, so that the API is never left without an admin; a
// restart with KEYGATE_ADMIN_TOKEN is the way back in otherwise.
func (s *Server) deleteAdminToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
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
	if err := s.Store.DeleteAdminToken(ctx, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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
