package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/web"
)

// OIDCConfig is single sign-on through an OpenID Connect provider:
// authorization code flow with PKCE (S256), state and nonce checked.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client (PKCE only)
	// RedirectURL is this console's callback as the provider knows it:
	// https://<admin host>/ui/oidc/callback.
	RedirectURL string
	// RoleClaim names the ID token claim that holds the user's groups or
	// roles (a string or a list of strings); a dotted name reaches into
	// objects (realm_access.roles). Default "groups".
	RoleClaim string
	// Roles maps values of RoleClaim to console roles; a user gets the
	// strongest mapped role (admin > operator > auditor), none: refused.
	Roles map[string]string
	// Scopes beyond openid; default email and profile, plus "groups" when
	// RoleClaim is groups.
	Scopes []string
	// HTTPClient talks to the provider; nil: one with a 10s timeout.
	HTTPClient *http.Client
}

// Validate checks the configuration once, at start, naming what is wrong.
func (c *OIDCConfig) Validate() error {
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return fmt.Errorf("oidc issuer: required")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("oidc issuer: must be an http(s) URL")
	case c.ClientID == "":
		return fmt.Errorf("oidc client id: required")
	case c.RedirectURL == "":
		return fmt.Errorf("oidc redirect url: required (https://<admin host>/ui/oidc/callback)")
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "/ui/oidc/callback" {
		return fmt.Errorf("oidc redirect url: must be an http(s) URL ending in /ui/oidc/callback")
	}
	if len(c.Roles) == 0 {
		return fmt.Errorf("oidc roles: map at least one value of the %s claim to a role (value=admin|operator|auditor)", cmpOr(c.RoleClaim, "groups"))
	}
	for v, role := range c.Roles {
		if err := ValidRole(role); err != nil {
			return fmt.Errorf("oidc roles: %s: %v", v, keygate.ErrorMessage(err))
		}
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// oidcClient is the console's single sign-on: the code flow itself is
// internal/web's (shared with the consumer portal), the role mapping the
// console's.
type oidcClient struct {
	cfg OIDCConfig
	web *web.OIDC
}

func newOIDCClient(cfg OIDCConfig) (*oidcClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	cfg.RoleClaim = cmpOr(cfg.RoleClaim, "groups")
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"email", "profile"}
		if cfg.RoleClaim == "groups" {
			cfg.Scopes = append(cfg.Scopes, "groups")
		}
	}
	return &oidcClient{cfg: cfg, web: &web.OIDC{Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes, HTTPClient: cfg.HTTPClient}}, nil
}

// oidcStart sends the browser to the provider, keeping state, nonce and
// the PKCE verifier in a short-lived HttpOnly cookie (never in browser
// storage a script could read).
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return keygate.Errorf(keygate.ENOTFOUND, "Single sign-on is not configured on this keygate.")
	}
	u, cookie, err := s.oidc.web.Start(r.Context())
	if err != nil {
		return err
	}
	s.setCookie(w, r, oidcCookie, cookie, 10*time.Minute)
	http.Redirect(w, r, u, http.StatusFound)
	return nil
}

// oidcCallback completes the sign-in (web.OIDC.Finish checks state, PKCE,
// the ID token and its nonce), and the role claim maps to a console role.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return keygate.Errorf(keygate.ENOTFOUND, "Single sign-on is not configured on this keygate.")
	}
	refuse := func(msg string, args ...any) error {
		s.cfg.Logger.Warn("console: sign-in refused", "method", "oidc", "reason", fmt.Sprintf(msg, args...))
		return s.renderSignin(w, r, http.StatusUnauthorized, "", fmt.Sprintf(msg, args...))
	}
	c, err := r.Cookie(oidcCookie)
	s.setCookie(w, r, oidcCookie, "", 0) // one try per start
	if err != nil {
		return refuse("The sign-in took too long or was started in another browser; start again.")
	}
	email, claims, err := s.oidc.web.Finish(r, c.Value)
	if ref, ok := errors.AsType[*web.Refused](err); ok {
		if ref.Cause != nil {
			s.cfg.Logger.Warn("console: oidc sign-in failed", "err", ref.Cause)
		}
		return refuse("%s", ref.Message)
	} else if err != nil {
		return err
	}
	role := s.oidc.role(claims)
	if role == "" {
		return refuse("Your account (%s) has no keygate role: none of its %s is mapped to one.", email, s.oidc.cfg.RoleClaim)
	}
	return s.startSession(w, r, email, role, "oidc")
}

// role is the strongest console role the claims' role claim maps to.
func (o *oidcClient) role(claims map[string]any) string {
	rank := map[string]int{keygate.RoleAuditor: 1, keygate.RoleOperator: 2, keygate.RoleAdmin: 3}
	best := ""
	for _, val := range web.ClaimValues(claims, o.cfg.RoleClaim) {
		if r := o.cfg.Roles[val]; rank[r] > rank[best] {
			best = r
		}
	}
	return best
}
