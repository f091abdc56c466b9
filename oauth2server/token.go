package oauth2server

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
)

// tokenResponse is RFC 6749 §5.1's successful answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// token is POST /oauth2/token: the client credentials grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request, st *state) {
	tok, err := s.issue(w, r, st)
	if err != nil {
		result := "failed"
		var e *oauthError
		if errors.As(err, &e) {
			result = e.Code
		}
		s.count(result)
		s.fail(w, r, err)
		return
	}
	s.count("issued")
	writeJSON(w, http.StatusOK, tok)
}

func (s *Server) count(result string) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.OAuth2Token(result)
	}
}

func (s *Server) issue(w http.ResponseWriter, r *http.Request, st *state) (*tokenResponse, error) {
	form, ferr := readForm(w, r)
	if ferr != nil {
		return nil, ferr
	}
	grant, ok := form["grant_type"]
	if !ok || grant == "" {
		return nil, invalidRequest("grant_type is required")
	}
	scopes, serr := parseScope(form)
	if serr != nil {
		return nil, serr
	}
	client, err := s.authenticate(r.Context(), r, form, st)
	if err != nil {
		return nil, err
	}
	if grant != "client_credentials" {
		return nil, &oauthError{status: http.StatusBadRequest, Code: "unsupported_grant_type",
			Description: "only the client_credentials grant is supported"}
	}
	// Nothing requested: everything the client may have (RFC 6749 §3.3
	// lets the server choose a default).
	if scopes == nil {
		scopes = client.Scopes
	}
	for _, sc := range scopes {
		if !slices.Contains(client.Scopes, sc) {
			return nil, &oauthError{status: http.StatusBadRequest, Code: "invalid_scope",
				Description: "a requested scope is not among the client's scopes"}
		}
	}
	if st.current == nil || st.issuer == "" {
		return nil, errors.New("oauth2: no current signing key or issuer yet")
	}
	lifetime := time.Duration(client.TokenLifetime) * time.Second
	claims, err := accesstoken.NewClaims(accesstoken.Grant{Issuer: st.issuer, Subject: client.Consumer.ID, ClientID: client.ClientID,
		Audience: []string{st.audience}, Scopes: scopes, Lifetime: lifetime}, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	signed, err := accesstoken.Issue(st.current, claims)
	if err != nil {
		return nil, err
	}
	return &tokenResponse{AccessToken: signed, TokenType: "Bearer", ExpiresIn: client.TokenLifetime,
		Scope: strings.Join(scopes, " ")}, nil
}

// parseScope reads the scope parameter (RFC 6749 §3.3): space-delimited
// tokens of %x21 / %x23-5B / %x5D-7E, duplicates dropped. Absent or empty:
// nil.
func parseScope(form map[string]string) ([]string, *oauthError) {
	raw := form["scope"]
	if raw == "" {
		return nil, nil
	}
	if len(raw) > 4096 {
		return nil, &oauthError{status: http.StatusBadRequest, Code: "invalid_scope", Description: "scope is too long"}
	}
	var scopes []string
	for _, sc := range strings.Split(raw, " ") {
		if sc == "" {
			continue // tolerate doubled spaces
		}
		for i := 0; i < len(sc); i++ {
			if c := sc[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
				return nil, &oauthError{status: http.StatusBadRequest, Code: "invalid_scope", Description: "scope has a character RFC 6749 does not allow"}
			}
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	return scopes, nil
}

// clientUsable says whether the client a token names can still use it: it
// exists and is active. A store failure is an error.
func (s *Server) clientUsable(r *http.Request, clientID string) (bool, error) {
	c, err := s.cfg.Store.FindOAuthClient(r.Context(), clientID)
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return false, nil
	case err != nil:
		return false, err
	}
	return c.Status == keygate.KeyActive, nil
}
