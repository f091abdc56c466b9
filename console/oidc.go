package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keygate/keygate"
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

// oidcClient discovers the provider on first use, not at start, so that
// keygate starts (and local accounts work) while the provider is down.
type oidcClient struct {
	cfg      OIDCConfig
	mu       sync.Mutex
	provider *oidc.Provider
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
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &oidcClient{cfg: cfg}, nil
}

func (o *oidcClient) context(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

func (o *oidcClient) setup(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(o.context(ctx), o.cfg.Issuer)
		if err != nil {
			return nil, nil, keygate.Unavailable(err, "The identity provider cannot be reached right now; try again in a moment.")
		}
		o.provider = p
	}
	conf := &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...)}
	return o.provider, conf, nil
}

// oidcStart sends the browser to the provider, keeping state, nonce and
// the PKCE verifier in a short-lived HttpOnly cookie (never in browser
// storage a script could read).
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return keygate.Errorf(keygate.ENOTFOUND, "Single sign-on is not configured on this keygate.")
	}
	_, conf, err := s.oidc.setup(r.Context())
	if err != nil {
		return err
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	s.setCookie(w, r, oidcCookie, state+"."+nonce+"."+verifier, 10*time.Minute)
	http.Redirect(w, r, conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	return nil
}

// oidcCallback completes the sign-in: state matches the cookie's, the code
// is exchanged with the PKCE verifier, the ID token is verified (issuer,
// audience, signature, expiry) and carries the nonce, and the role claim
// maps to a console role.
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
	parts := strings.Split(c.Value, ".")
	q := r.URL.Query()
	if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(parts[0])) != 1 {
		return refuse("The sign-in answer does not match the sign-in this browser started; start again.")
	}
	nonce, verifier := parts[1], parts[2]
	if e := q.Get("error"); e != "" {
		return refuse("The identity provider did not sign you in (%.100s).", e)
	}
	provider, conf, err := s.oidc.setup(r.Context())
	if err != nil {
		return err
	}
	ctx := s.oidc.context(r.Context())
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		s.cfg.Logger.Warn("console: oidc code exchange failed", "err", err)
		return refuse("The identity provider did not accept the sign-in code; start again.")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return refuse("The identity provider sent no ID token.")
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: s.oidc.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		s.cfg.Logger.Warn("console: oidc id token refused", "err", err)
		return refuse("The identity provider's ID token could not be verified.")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return refuse("The ID token was not issued for this sign-in (nonce).")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return refuse("The ID token's claims could not be read.")
	}
	email, _ := claims["email"].(string)
	if v, ok := claims["email_verified"].(bool); ok && !v {
		return refuse("Your email address is not verified at the identity provider.")
	}
	if email == "" || ValidAccountName(email) != nil {
		return refuse("The ID token carries no usable email claim (ask for the email scope).")
	}
	role := s.oidc.role(claims)
	if role == "" {
		return refuse("Your account (%s) has no keygate role: none of its %s is mapped to one.", email, s.oidc.cfg.RoleClaim)
	}
	return s.startSession(w, r, email, role, "oidc")
}

// role is the strongest console role the claims' role claim maps to.
func (o *oidcClient) role(claims map[string]any) string {
	var v any = claims
	for _, part := range strings.Split(o.cfg.RoleClaim, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[part]
	}
	var values []string
	switch v := v.(type) {
	case string:
		values = []string{v}
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
	}
	rank := map[string]int{keygate.RoleAuditor: 1, keygate.RoleOperator: 2, keygate.RoleAdmin: 3}
	best := ""
	for _, val := range values {
		if r := o.cfg.Roles[val]; rank[r] > rank[best] {
			best = r
		}
	}
	return best
}
