package oauth2server

import (
	"net/http"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
)

// introspection is RFC 7662 §2.2's answer for an active token.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
}

// introspect is POST /oauth2/introspect (RFC 7662). The caller
// authenticates as any active OAuth client (a resource server is
// registered as one), with the methods it may use at the token endpoint.
// A token keygate did not sign, expired, revoked, or whose client was
// revoked or deleted is {"active":false}, with nothing else.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request, st *state) {
	form, token, ferr := readTokenForm(w, r)
	if ferr != nil {
		s.fail(w, r, ferr)
		return
	}
	if _, err := s.authenticate(r.Context(), r, form, st); err != nil {
		s.fail(w, r, err)
		return
	}
	claims := s.live(token, st)
	if claims != nil {
		usable, err := s.clientUsable(r, claims.ClientID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !usable {
			claims = nil
		}
	}
	if claims == nil {
		writeJSON(w, http.StatusOK, introspection{Active: false})
		return
	}
	writeJSON(w, http.StatusOK, introspection{Active: true, Scope: strings.Join(claims.Scopes, " "), ClientID: claims.ClientID,
		TokenType: "Bearer", Exp: claims.Expiry.Unix(), Iat: claims.IssuedAt.Unix(), Sub: claims.Subject, Aud: claims.Audience,
		Iss: claims.Issuer, Jti: claims.ID})
}

// live returns the claims of a token keygate signed that has neither
// expired nor been revoked; nil otherwise.
func (s *Server) live(token string, st *state) *accesstoken.Claims {
	claims, err := st.verifier.Verify(token)
	if err != nil || s.cfg.Denylist.Revoked(claims.ID) {
		return nil
	}
	return claims
}

// revoke is POST /oauth2/revoke (RFC 7009). A client revokes its own
// tokens; a token that is not one of keygate's, has expired or was revoked
// already is answered 200 as well (§2.2: the client cannot do anything
// about it). A token issued to another client is refused.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, st *state) {
	form, token, ferr := readTokenForm(w, r)
	if ferr != nil {
		s.fail(w, r, ferr)
		return
	}
	client, err := s.authenticate(r.Context(), r, form, st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	claims := s.live(token, st)
	if claims == nil {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	if claims.ClientID != client.ClientID {
		s.fail(w, r, &oauthError{status: http.StatusBadRequest, Code: "unauthorized_client",
			Description: "the token was issued to another client"})
		return
	}
	ctx := keygate.WithActor(r.Context(), "oauth_client:"+client.ClientID)
	rt := &keygate.RevokedToken{JTI: claims.ID, ClientID: claims.ClientID, ExpiresAt: claims.Expiry}
	if err := s.cfg.Store.RevokeAccessToken(ctx, rt); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Events != nil {
		// The event is queued in the store; a failure to queue it does not
		// undo the revocation.
		if err := s.cfg.Events.Publish(ctx, keygate.Event{Type: keygate.EventAccessTokenRevoked, CreatedAt: s.cfg.Now(),
			ConsumerID: client.Consumer.ID, Data: map[string]any{"jti": claims.ID, "client_id": claims.ClientID,
				"expires_at": claims.Expiry}}); err != nil {
			s.cfg.Logger.Warn("oauth2: access_token.revoked event not queued", "jti", claims.ID, "error", err)
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// readTokenForm reads the form of an introspection or a revocation, which
// must name a token.
func readTokenForm(w http.ResponseWriter, r *http.Request) (map[string]string, string, *oauthError) {
	form, err := readForm(w, r)
	if err != nil {
		return nil, "", err
	}
	token := form["token"]
	if token == "" {
		return nil, "", invalidRequest("token is required")
	}
	return form, token, nil
}
