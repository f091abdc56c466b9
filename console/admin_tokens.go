package console

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
)

// Admin tokens: list (every role may read them: never the tokens), create
// with a role and optional services (a verifier's) or consumers (an
// operator's or auditor's) — the token shown once —, delete. Creating and
// deleting are the admin's (PermRoot), through adminapi.Server's
// CreateAdminToken and DeleteAdminToken, which keep the last admin token.

type adminTokensData struct {
	Tokens    []*keygate.AdminToken
	CanManage bool
	Roles     []string
	Form      keygate.AdminTokenRequest
	Message   string
	Next      string
}

func (s *Server) adminTokens(w http.ResponseWriter, r *http.Request) error {
	return s.renderAdminTokens(w, r, http.StatusOK, &adminTokensData{})
}

func (s *Server) renderAdminTokens(w http.ResponseWriter, r *http.Request, st int, d *adminTokensData) error {
	ctx := r.Context()
	tokens, next, err := s.cfg.Store.ListAdminTokens(ctx, keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	sess := sessionFrom(ctx)
	d.Tokens, d.Roles = tokens, []string{keygate.RoleAdmin, keygate.RoleOperator, keygate.RoleAuditor, keygate.RoleVerifier}
	d.CanManage = sess != nil && adminapi.Allowed(sess.Role, http.MethodPost, "/v1/admin-tokens")
	if next != "" {
		d.Next = nextLink("/ui/admin-tokens", "", next)
	}
	return s.render(w, r, st, "admin_tokens", sess, "Admin tokens", d)
}

func (s *Server) createAdminToken(w http.ResponseWriter, r *http.Request) error {
	req := keygate.AdminTokenRequest{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role"),
		Services: splitList(r.PostForm.Get("services")), Consumers: splitList(r.PostForm.Get("consumers"))}
	t, err := s.cfg.Keys.CreateAdminToken(r.Context(), req)
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT || code == keygate.ENOTFOUND {
		return s.renderAdminTokens(w, r, status(code), &adminTokensData{Message: keygate.ErrorMessage(err), Form: req})
	} else if err != nil {
		return err
	}
	return s.showOnce(w, r, "Admin token created", &shownOnce{Heading: "Admin token created", What: "token",
		Kept:  "keygate keeps only a hash of it. Lost? Delete the token and create another.",
		Label: "Admin token", Secret: t.Token, Facts: []fact{{"Name", t.Name}, {"Role", t.Role}},
		Hint: "Send it as Authorization: Bearer to the admin API, or set KEYGATE_ADMIN_TOKEN for the CLI.",
		Back: "/ui/admin-tokens", BackLabel: "Admin tokens"})
}

func (s *Server) deleteAdminToken(w http.ResponseWriter, r *http.Request) error {
	err := s.cfg.Keys.DeleteAdminToken(r.Context(), r.PathValue("id"))
	if code := keygate.ErrorCode(err); code == keygate.ECONFLICT {
		return s.renderAdminTokens(w, r, status(code), &adminTokensData{Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/admin-tokens", http.StatusSeeOther)
	return nil
}
