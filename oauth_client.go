package keygate

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"
)

// OAuthClient is an OAuth 2.0 client of the client credentials grant: a
// consumer's machine identity that will exchange its credentials for access
// tokens at the token endpoint. ClientID is public; the secret is stored
// only as a peppered hash (SecretHash), shown once at creation and at each
// rotation. After a rotation the previous secret keeps working until
// PreviousSecretExpiresAt, so its holders can switch without downtime.
type OAuthClient struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	Consumer Ref    `json:"consumer"`
	Name     string `json:"name"`
	// Scopes are the scopes the client may ask for.
	Scopes []string `json:"scopes"`
	// TokenLifetime is its access tokens' lifetime, in seconds.
	TokenLifetime int `json:"token_lifetime"`
	// AuthMethods are how it may authenticate at the token endpoint.
	AuthMethods []string `json:"auth_methods"`
	// JWKS (a public JWK Set) or JWKSURL holds its keys for private_key_jwt.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURL string          `json:"jwks_uri,omitempty"`
	Status  KeyStatus       `json:"status"` // active or revoked
	// PreviousSecretExpiresAt is when the secret replaced by the last
	// rotation stops working; nil: there is none.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	SecretRotatedAt         *time.Time `json:"secret_rotated_at,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	RevokedAt               *time.Time `json:"revoked_at,omitempty"`
	// SecretHash and PreviousSecretHash are the stored forms of the current
	// and the previous secret (see HashClientSecret); never serialized.
	SecretHash         []byte `json:"-"`
	PreviousSecretHash []byte `json:"-"`
}

// VerifySecret reports whether sum, the hash of a presented secret, is that
// of the client's current secret, or of its previous one before the
// rotation's overlap ends at now. Both comparisons always run, in constant
// time, so the timing says neither which secret matched nor whether a
// previous one exists. A revoked client matches nothing.
func (c *OAuthClient) VerifySecret(sum []byte, now time.Time) bool {
	current := subtle.ConstantTimeCompare(sum, c.SecretHash)
	previous := subtle.ConstantTimeCompare(sum, c.PreviousSecretHash)
	overlap := 0
	if c.PreviousSecretExpiresAt != nil && now.Before(*c.PreviousSecretExpiresAt) && len(c.PreviousSecretHash) > 0 {
		overlap = 1
	}
	return c.Status == KeyActive && len(sum) > 0 && current|(previous&overlap) == 1
}

// AllowsAuthMethod reports whether the client may authenticate with m.
func (c *OAuthClient) AllowsAuthMethod(m string) bool { return slices.Contains(c.AuthMethods, m) }

// OAuth client authentication methods (RFC 6749 §2.3.1, RFC 7523).
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
	PrivateKeyJWT     = "private_key_jwt"
)

// Limits and defaults of OAuth clients.
const (
	DefaultTokenLifetime = 3600
	MinTokenLifetime     = 60
	MaxTokenLifetime     = 24 * 60 * 60
	// DefaultSecretOverlap is how long a rotated-out secret keeps working.
	DefaultSecretOverlap = 24 * time.Hour
	// MaxSecretOverlap bounds it: a rotation is meant to end the old secret.
	MaxSecretOverlap = 30 * 24 * time.Hour
	maxScopes        = 64
	maxJWKSLen       = 64 << 10
	// OAuthClientIDPrefix starts every client_id, so one is never taken
	// for an entity id and is recognizable in logs.
	OAuthClientIDPrefix = "kgc_"
)

// OAuthClientStore persists OAuth clients. Every method is one transaction.
type OAuthClientStore interface {
	// CreateOAuthClient stores c, whose ClientID and SecretHash the caller
	// generated; it assigns ID, Status (active) and CreatedAt. Consumer may
	// be given by id or username (ENOTFOUND when absent); a name the
	// consumer's clients already use, or a client_id taken, is ECONFLICT.
	CreateOAuthClient(ctx context.Context, c *OAuthClient) error
	// FindOAuthClient returns a client by id or client_id, with its secret
	// hashes (for the token endpoint; they never leave in JSON).
	FindOAuthClient(ctx context.Context, ref string) (*OAuthClient, error)
	// ListOAuthClients lists a consumer's clients (all when consumerID is
	// empty) in creation order.
	ListOAuthClients(ctx context.Context, consumerID string, p Page) (clients []*OAuthClient, next string, err error)
	// RotateOAuthClientSecret makes hash the current secret's and keeps the
	// current one valid until previousUntil (no later than now: not at all),
	// replacing any earlier previous secret. A revoked client is ECONFLICT.
	RotateOAuthClientSecret(ctx context.Context, ref string, hash []byte, previousUntil time.Time) (*OAuthClient, error)
	// RevokeOAuthClient marks a client revoked; revoking it again keeps the
	// first revoked_at (idempotent).
	RevokeOAuthClient(ctx context.Context, ref string) (*OAuthClient, error)
	// DeleteOAuthClient deletes a client.
	DeleteOAuthClient(ctx context.Context, ref string) error
}

// OAuthClientRequest is the body of POST /v1/consumers/{c}/oauth-clients.
type OAuthClientRequest struct {
	Name          string          `json:"name"`
	Scopes        []string        `json:"scopes,omitempty"`
	TokenLifetime *int            `json:"token_lifetime,omitempty"` // nil: DefaultTokenLifetime
	AuthMethods   []string        `json:"auth_methods,omitempty"`   // empty: client_secret_basic
	JWKS          json.RawMessage `json:"jwks,omitempty"`
	JWKSURL       string          `json:"jwks_uri,omitempty"`
}

// Normalize fills in the defaults.
func (r *OAuthClientRequest) Normalize() {
	if r.TokenLifetime == nil {
		lifetime := DefaultTokenLifetime
		r.TokenLifetime = &lifetime
	}
	if len(r.AuthMethods) == 0 {
		r.AuthMethods = []string{ClientSecretBasic}
	}
	if r.Scopes == nil {
		r.Scopes = []string{}
	}
}

// Validate reports the first invalid field of a normalized request. The
// JWKS is checked for its shape only (an object with a non-empty "keys"
// array of objects, each with a "kty", none with a private member); the
// admin API parses its keys.
func (r *OAuthClientRequest) Validate() error {
	if err := validateName("name", r.Name, true); err != nil {
		return err
	}
	if len(r.Scopes) > maxScopes {
		return Errorf(EINVALID, "scopes: at most %d", maxScopes)
	}
	if err := validateList("scopes", r.Scopes, validateScope); err != nil {
		return err
	}
	if l := *r.TokenLifetime; l < MinTokenLifetime || l > MaxTokenLifetime {
		return Errorf(EINVALID, "token_lifetime: must be between %d and %d seconds", MinTokenLifetime, MaxTokenLifetime)
	}
	for _, m := range r.AuthMethods {
		if !slices.Contains([]string{ClientSecretBasic, ClientSecretPost, PrivateKeyJWT}, m) {
			return Errorf(EINVALID, "auth_methods: %q is not one of client_secret_basic, client_secret_post, private_key_jwt", m)
		}
	}
	keyJWT := slices.Contains(r.AuthMethods, PrivateKeyJWT)
	switch {
	case keyJWT && len(r.JWKS) == 0 && r.JWKSURL == "":
		return Errorf(EINVALID, "jwks: private_key_jwt needs jwks or jwks_uri")
	case len(r.JWKS) > 0 && r.JWKSURL != "":
		return Errorf(EINVALID, "jwks_uri: give jwks or jwks_uri, not both")
	case !keyJWT && (len(r.JWKS) > 0 || r.JWKSURL != ""):
		return Errorf(EINVALID, "jwks: only used with the private_key_jwt auth method")
	}
	if r.JWKSURL != "" {
		u, err := url.Parse(r.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || len(r.JWKSURL) > 2048 || hasControl(r.JWKSURL) {
			return Errorf(EINVALID, "jwks_uri: must be an https URL without credentials or fragment")
		}
	}
	if len(r.JWKS) > 0 {
		return ValidateJWKSShape(r.JWKS)
	}
	return nil
}

// privateJWKMembers are the JWK members (RFC 7518 §6) that only a private
// key has.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ValidateJWKSShape checks that b is a JWK Set of public keys by its
// JSON shape: the keys themselves are parsed by the caller.
func ValidateJWKSShape(b []byte) error {
	if len(b) > maxJWKSLen {
		return Errorf(EINVALID, "jwks: larger than %d bytes", maxJWKSLen)
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return Errorf(EINVALID, "jwks: must be a JSON object with a \"keys\" array of JWK objects")
	}
	if len(set.Keys) == 0 {
		return Errorf(EINVALID, "jwks: needs at least one key in \"keys\"")
	}
	for i, k := range set.Keys {
		if k == nil {
			return Errorf(EINVALID, "jwks: keys[%d]: must be a JWK object", i)
		}
		var kty string
		if err := json.Unmarshal(k["kty"], &kty); err != nil || strings.TrimSpace(kty) == "" {
			return Errorf(EINVALID, "jwks: keys[%d]: needs a \"kty\"", i)
		}
		for _, m := range privateJWKMembers {
			if _, ok := k[m]; ok {
				return Errorf(EINVALID, "jwks: keys[%d]: must be a public key (has private member %q)", i, m)
			}
		}
	}
	return nil
}

// RotateSecretRequest is the body of POST /v1/oauth-clients/{id}/rotate-secret.
type RotateSecretRequest struct {
	// Overlap is how long, in seconds, the current secret keeps working;
	// nil: DefaultSecretOverlap; 0: it stops at once.
	Overlap *int `json:"overlap,omitempty"`
}

// OverlapDuration is the overlap r asks for.
func (r *RotateSecretRequest) OverlapDuration() (time.Duration, error) {
	if r.Overlap == nil {
		return DefaultSecretOverlap, nil
	}
	d := time.Duration(*r.Overlap) * time.Second
	if *r.Overlap < 0 || d > MaxSecretOverlap {
		return 0, Errorf(EINVALID, "overlap: must be between 0 and %d seconds", int(MaxSecretOverlap/time.Second))
	}
	return d, nil
}

// IssuedOAuthClient is the only kind of response that contains a client
// secret: the one creating the client, and the one rotating its secret.
type IssuedOAuthClient struct {
	OAuthClient
	ClientSecret string `json:"client_secret"`
}

// validateScope checks a scope token: a label (as groups and tags are) made
// of RFC 6749 §3.3's characters, printable ASCII without quotes or
// backslashes, so that a space-separated scope string splits back into it.
func validateScope(s string) string {
	if problem := validateLabel(s); problem != "" {
		return problem
	}
	if !isToken(s, `"\\`) {
		return "must be printable ASCII without spaces, commas, quotes or backslashes"
	}
	return ""
}
