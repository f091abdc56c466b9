package keygate

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// OAuth2AuthConfig is a route's OAuth 2.0 bearer token authentication
// (RFC 6750): "Authorization: Bearer <jwt>", a JWT access token (RFC 9068)
// verified at the gateway against its issuer's published keys. Tokens of
// keygate's own issuer name an OAuth client (client_id), whose consumer
// the request proceeds as; tokens of an external identity provider name a
// consumer through a claim (ConsumerClaim, ConsumerBy).
type OAuth2AuthConfig struct {
	// Scopes must all be granted to the token, on every request.
	Scopes []string `json:"scopes"`
	// MethodScopes adds scopes a request with that method needs as well.
	MethodScopes map[string][]string `json:"method_scopes"`
	// Audience is what the token's "aud" must contain; empty: the local
	// issuer's audience (an external issuer then needs its own).
	Audience string `json:"audience,omitempty"`
	// Issuers are the token issuers the route accepts, tried by "iss".
	Issuers []OAuth2Issuer `json:"issuers"`
	// HideCredentials removes the Authorization header before proxying.
	HideCredentials bool `json:"hide_credentials"`
	// Leeway is the clock skew, in seconds, allowed on exp, nbf and iat.
	Leeway int `json:"leeway"`
}

// OAuth2Issuer is one issuer a route accepts tokens from: keygate's own
// (Local), or an external identity provider's, as Kong's jwt plugin or
// Envoy's jwt_authn.
type OAuth2Issuer struct {
	// Local is keygate's own authorization server; the other fields are
	// then left out (but Audience).
	Local bool `json:"local,omitempty"`
	// Issuer is the external provider's "iss", compared exactly.
	Issuer string `json:"issuer,omitempty"`
	// JWKSURI is where its public keys are published (https; http only on
	// a loopback host).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// Audience overrides the route's audience for this issuer.
	Audience string `json:"audience,omitempty"`
	// ConsumerClaim is the claim naming the caller: sub or client_id.
	ConsumerClaim string `json:"consumer_claim,omitempty"`
	// ConsumerBy is what that claim holds: a consumer's id or username,
	// or an OAuth client's client_id (then that client's consumer).
	ConsumerBy string `json:"consumer_by,omitempty"`
	// AllowPlainJWT also takes tokens whose typ is "JWT" or absent, for
	// providers that do not send RFC 9068's at+jwt. Their ID tokens then
	// pass the typ check too: the audience must tell them apart.
	AllowPlainJWT bool `json:"allow_plain_jwt,omitempty"`
}

// Values of OAuth2Issuer.ConsumerClaim and ConsumerBy.
const (
	ClaimSub              = "sub"
	ClaimClientID         = "client_id"
	ConsumerByID          = "id"
	ConsumerByUsername    = "username"
	ConsumerByOAuthClient = "oauth_client"
)

// Defaults and bounds of OAuth2AuthConfig.
const (
	DefaultOAuth2Leeway = 30
	MaxOAuth2Leeway     = 300
	maxOAuth2Issuers    = 8
)

// NewOAuth2AuthConfig returns oauth2 with its defaults: tokens of the
// local issuer, no scope required, 30 s leeway.
func NewOAuth2AuthConfig() *OAuth2AuthConfig {
	return &OAuth2AuthConfig{Scopes: []string{}, MethodScopes: map[string][]string{},
		Issuers: []OAuth2Issuer{{Local: true}}, Leeway: DefaultOAuth2Leeway}
}

// UnmarshalJSON fills in the defaults for settings the document leaves out.
func (c *OAuth2AuthConfig) UnmarshalJSON(b []byte) error {
	type plain OAuth2AuthConfig
	p := plain(*NewOAuth2AuthConfig())
	p.Issuers = nil
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	if p.Issuers == nil {
		p.Issuers = []OAuth2Issuer{{Local: true}}
	}
	*c = OAuth2AuthConfig(p)
	return nil
}

// UnmarshalJSON fills in the defaults of an external issuer: the sub claim
// holds a consumer id.
func (i *OAuth2Issuer) UnmarshalJSON(b []byte) error {
	type plain OAuth2Issuer
	var p plain
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	if !p.Local {
		if p.ConsumerClaim == "" {
			p.ConsumerClaim = ClaimSub
		}
		if p.ConsumerBy == "" {
			p.ConsumerBy = ConsumerByID
		}
	}
	*i = OAuth2Issuer(p)
	return nil
}

// RequiredScopes is what a request with method needs: Scopes, then the
// method's own.
func (c *OAuth2AuthConfig) RequiredScopes(method string) []string {
	extra := c.MethodScopes[method]
	if len(extra) == 0 {
		return c.Scopes
	}
	return append(slices.Clip(c.Scopes), extra...)
}

func (c *OAuth2AuthConfig) normalize() {
	if c == nil {
		return
	}
	c.Scopes = orEmpty(c.Scopes)
	if c.MethodScopes == nil {
		c.MethodScopes = map[string][]string{}
	}
	if c.Issuers == nil {
		c.Issuers = []OAuth2Issuer{}
	}
}

func (c *OAuth2AuthConfig) validate() error {
	if c == nil {
		return nil
	}
	if err := validateList("oauth2.scopes", c.Scopes, validateScope); err != nil {
		return err
	}
	if len(c.MethodScopes) > maxListLen {
		return Errorf(EINVALID, "oauth2.method_scopes: at most %d methods", maxListLen)
	}
	for m, scopes := range c.MethodScopes {
		if problem := validateMethod(m); problem != "" {
			return Errorf(EINVALID, "oauth2.method_scopes: key %q %s", m, problem)
		}
		if err := validateList("oauth2.method_scopes."+m, scopes, validateScope); err != nil {
			return err
		}
	}
	if err := validateAudience("oauth2.audience", c.Audience); err != nil {
		return err
	}
	if c.Leeway < 0 || c.Leeway > MaxOAuth2Leeway {
		return Errorf(EINVALID, "oauth2.leeway: must be between 0 and %d seconds", MaxOAuth2Leeway)
	}
	switch {
	case len(c.Issuers) == 0:
		return Errorf(EINVALID, "oauth2.issuers: at least one is required (for keygate's own: {\"local\": true})")
	case len(c.Issuers) > maxOAuth2Issuers:
		return Errorf(EINVALID, "oauth2.issuers: at most %d", maxOAuth2Issuers)
	}
	seen := map[string]bool{}
	for i, is := range c.Issuers {
		field := "oauth2.issuers[" + strconv.Itoa(i) + "]"
		key := is.Issuer
		if is.Local {
			key = "\x00local"
		}
		if seen[key] {
			return Errorf(EINVALID, "%s: the same issuer is listed twice", field)
		}
		seen[key] = true
		if err := is.validate(field, c.Audience); err != nil {
			return err
		}
	}
	return nil
}

func (is *OAuth2Issuer) validate(field, routeAudience string) error {
	if err := validateAudience(field+".audience", is.Audience); err != nil {
		return err
	}
	if is.Local {
		if is.Issuer != "" || is.JWKSURI != "" || is.ConsumerClaim != "" || is.ConsumerBy != "" || is.AllowPlainJWT {
			return Errorf(EINVALID, "%s: the local issuer takes no issuer, jwks_uri, consumer_claim, consumer_by or allow_plain_jwt (its tokens name an OAuth client)", field)
		}
		return nil
	}
	switch {
	case is.Issuer == "":
		return Errorf(EINVALID, "%s.issuer: required for an external issuer (or set local: true)", field)
	case len(is.Issuer) > 1024:
		return Errorf(EINVALID, "%s.issuer: longer than 1024 characters", field)
	case strings.ContainsAny(is.Issuer, " \"\\") || hasControl(is.Issuer):
		return Errorf(EINVALID, "%s.issuer: must not contain spaces, quotes, backslashes or control characters", field)
	}
	if problem := validateJWKSURI(is.JWKSURI); problem != "" {
		return Errorf(EINVALID, "%s.jwks_uri: %s", field, problem)
	}
	if is.Audience == "" && routeAudience == "" {
		return Errorf(EINVALID, "%s.audience: required for an external issuer (here or as oauth2.audience)", field)
	}
	switch is.ConsumerClaim {
	case ClaimSub, ClaimClientID:
	default:
		return Errorf(EINVALID, "%s.consumer_claim: must be %s or %s", field, ClaimSub, ClaimClientID)
	}
	switch is.ConsumerBy {
	case ConsumerByID, ConsumerByUsername, ConsumerByOAuthClient:
	default:
		return Errorf(EINVALID, "%s.consumer_by: must be %s, %s or %s", field, ConsumerByID, ConsumerByUsername, ConsumerByOAuthClient)
	}
	return nil
}

func validateAudience(field, aud string) error {
	switch {
	case len(aud) > 1024:
		return Errorf(EINVALID, "%s: longer than 1024 characters", field)
	case strings.ContainsAny(aud, "\"\\") || hasControl(aud):
		return Errorf(EINVALID, "%s: must not contain quotes, backslashes or control characters", field)
	}
	return nil
}

// validateJWKSURI accepts an absolute https URL, or http on a loopback
// host (tests, a provider on the same machine).
func validateJWKSURI(s string) string {
	if s == "" {
		return "required for an external issuer"
	}
	u, err := url.Parse(s)
	switch {
	case len(s) > 2048:
		return "longer than 2048 characters"
	case err != nil || u.Host == "" || u.Opaque != "":
		return "must be an absolute https URL"
	case u.User != nil:
		return "must have no user info"
	case u.Fragment != "":
		return "must have no fragment"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return ""
	}
	return "must be an https URL (http only for a loopback host)"
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
