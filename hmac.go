package keygate

import (
	"context"
	"slices"
	"strings"
	"time"
)

// HMACCredential lets a consumer sign requests (Kong's hmac-auth scheme or
// RFC 9421). Username is its public, globally unique id; the secret is
// needed to recompute signatures, so it is stored sealed by the keyring,
// never hashed, and shown only in the response that creates it. A consumer
// may hold several, so that one can be rotated while another still works.
//
// It follows the API keys' lifecycle: active until it expires (ExpiresAt)
// or is revoked, then archived — its data key destroyed, so the secret can
// never be opened again, the record kept for audit — then destroyed.
type HMACCredential struct {
	ID       string    `json:"id"`
	Consumer Ref       `json:"consumer"`
	Username string    `json:"username"`
	Status   KeyStatus `json:"status"` // active, revoked or archived
	Tags     []string  `json:"tags"`
	// ExpiresAt is when the credential stops working; nil: never.
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Weak marks a credential imported with a secret shorter than
	// MinHMACSecretLen (see HMACCredentialRequest.Import): it works, but
	// should be replaced by one with a new secret. Set by its creator.
	Weak bool `json:"weak"`
	// Secret is the sealed secret (kind SealedHMACSecret, the credential's
	// id); the store keeps its data key with the other data keys. Set by
	// LookupHMACCredential only.
	Secret *Sealed `json:"-"`
}

// Expired reports whether the credential's lifetime is over at now.
func (c *HMACCredential) Expired(now time.Time) bool {
	return c.ExpiresAt != nil && !now.Before(*c.ExpiresAt)
}

// Usable reports whether the credential may sign requests at now: active
// and not expired. The gateway refuses any other exactly as it refuses an
// unknown username, as Kong does.
func (c *HMACCredential) Usable(now time.Time) bool {
	return c.Status == KeyActive && !c.Expired(now)
}

// SealedHMACSecret is the Sealed.Kind of HMAC credential secrets.
const SealedHMACSecret = "hmac_credential"

// HMACCredentialFilter narrows a list; the zero value lists all.
type HMACCredentialFilter struct {
	ConsumerID string
	// Weak, if set, lists only credentials whose Weak is *Weak.
	Weak *bool
}

// HMACCredentialStore persists HMAC credentials. Every method is one
// transaction.
type HMACCredentialStore interface {
	// CreateHMACCredential assigns ID, Status (active) and CreatedAt, calls
	// seal with the new id and stores the credential (with its ExpiresAt,
	// if any) with the sealed secret it returns, in one transaction.
	// Consumer may be given by id or username (ENOTFOUND when absent); a
	// username already taken is ECONFLICT.
	CreateHMACCredential(ctx context.Context, c *HMACCredential, seal func(id string) (*Sealed, error)) error
	// FindHMACCredential returns a credential by id, without its secret.
	FindHMACCredential(ctx context.Context, id string) (*HMACCredential, error)
	// LookupHMACCredential is the gateway's read: the credential by
	// username, with its sealed secret, and its consumer. An archived
	// credential, whose secret can no longer be opened, is not found.
	LookupHMACCredential(ctx context.Context, username string) (*HMACCredential, *Consumer, error)
	// ListHMACCredentials lists credentials in creation order, without secrets.
	ListHMACCredentials(ctx context.Context, f HMACCredentialFilter, p Page) (creds []*HMACCredential, next string, err error)
	// RevokeHMACCredential marks an active credential revoked; a revoked or
	// archived one is left as it is (idempotent). Reported as Updated either
	// way, so that every cache drops it.
	RevokeHMACCredential(ctx context.Context, id string) (*HMACCredential, error)
	// DeleteHMACCredential deletes a credential and its data key, so that
	// its secret can never be opened again (crypto-shredding).
	DeleteHMACCredential(ctx context.Context, id string) error

	// The lifecycle jobs, as for API keys (KeyStore.NoticeExpiring and
	// after). Each claims what it returns with one conditional write, so
	// nodes running them at once never handle a credential twice. None
	// returns secrets.

	// NoticeExpiringHMACCredentials marks up to limit active credentials
	// that expire after now and no later than before and were not noticed
	// yet, and returns them: the ones to tell their consumers about.
	NoticeExpiringHMACCredentials(ctx context.Context, before time.Time, limit int) ([]*HMACCredential, error)
	// ArchiveHMACCredentials archives up to limit credentials that expired
	// or were revoked no later than endedBefore: status archived, and their
	// data keys and ciphertexts deleted in the same transaction, so that
	// their secrets can never be opened again (crypto-shredding), while the
	// records stay for audit. Reported as Updated (action "archived") with
	// the username, so that every cache drops them.
	ArchiveHMACCredentials(ctx context.Context, endedBefore time.Time, limit int) ([]*HMACCredential, error)
	// DestroyHMACCredentials deletes up to limit credentials archived no
	// later than archivedBefore, reported as Deleted (action "destroyed"),
	// and says how many.
	DestroyHMACCredentials(ctx context.Context, archivedBefore time.Time, limit int) (int, error)
}

// HMACCredentialRequest is the body of POST /v1/consumers/{c}/hmac-credentials.
// ExpiresAt and TTL (seconds) are alternatives, as in KeyRequest; without
// either the credential does not expire.
type HMACCredentialRequest struct {
	Username  string     `json:"username"`
	Secret    string     `json:"secret,omitempty"` // generated when empty
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	TTL       *int       `json:"ttl,omitempty"` // a pointer, so that an explicit 0 is refused rather than meaning "never"
	Tags      []string   `json:"tags,omitempty"`
	// Import says Secret is an existing one (from Kong, which takes any),
	// to be kept rather than refused when shorter than MinHMACSecretLen:
	// the credential is then Weak. Secret is required.
	Import bool `json:"import,omitempty"`
}

// Weak reports whether the credential r creates is weak: an imported
// secret shorter than a chosen one may be.
func (r *HMACCredentialRequest) Weak() bool {
	return r.Import && len(r.Secret) < MinHMACSecretLen
}

// Limits of HMACCredentialRequest.
const (
	maxHMACUsernameLen = 256
	MinHMACSecretLen   = 32
	MaxHMACSecretLen   = 512
)

// Validate reports the first invalid field; the expiry, which depends on
// the time, is checked by Expiry. The username is written into
// Kong's Authorization header as username="…" and used as the RFC 9421
// keyid (a structured-field string), so it is printable ASCII without
// spaces, quotes, commas or backslashes: what both carry without escaping.
// It must not have the form of an id, so that "id or username" lookups are
// never ambiguous.
func (r *HMACCredentialRequest) Validate() error {
	u := r.Username
	switch {
	case u == "":
		return Errorf(EINVALID, "username: required")
	case len(u) > maxHMACUsernameLen:
		return Errorf(EINVALID, "username: longer than %d characters", maxHMACUsernameLen)
	}
	if err := checkText("username", u); err != nil {
		return err
	}
	switch {
	case !isToken(u, `",\`):
		return Errorf(EINVALID, "username: must be printable ASCII without spaces, quotes, commas or backslashes")
	case LooksLikeID(u):
		return Errorf(EINVALID, "username: must not have the form of an id")
	}
	// Kong takes any secret. We require one long enough to hold the entropy
	// an HMAC key needs (32 random printable characters carry well over 128
	// bits), and printable ASCII, so that every client can type and send it
	// the same way. An imported secret is already in its signers' hands:
	// refusing it would break them, so any length from 1 is kept (and the
	// credential marked weak); only empty is not: Kong generates a secret
	// when none is given, so no Kong credential has an empty one.
	// The messages never echo it.
	switch s := r.Secret; {
	case r.Import && s == "":
		return Errorf(EINVALID, "secret: required to import (the existing secret, 1 to %d characters)", MaxHMACSecretLen)
	case r.Import && len(s) > MaxHMACSecretLen:
		return Errorf(EINVALID, "secret: must be 1 to %d characters to import", MaxHMACSecretLen)
	case !r.Import && s != "" && (len(s) < MinHMACSecretLen || len(s) > MaxHMACSecretLen):
		return Errorf(EINVALID, "secret: must be %d to %d characters (or left out, to have one generated)", MinHMACSecretLen, MaxHMACSecretLen)
	}
	if s := r.Secret; s != "" {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c > 0x7e {
				return Errorf(EINVALID, "secret: must be printable ASCII")
			}
		}
	}
	return validateTags(r.Tags)
}

// Expiry returns the expiry the request asks for at now, nil for none.
func (r *HMACCredentialRequest) Expiry(now time.Time) (*time.Time, error) {
	return Expiry(now, r.TTL, r.ExpiresAt)
}

// isToken reports whether s is printable ASCII other than space and the
// bytes in except.
func isToken(s, except string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || strings.IndexByte(except, c) >= 0 {
			return false
		}
	}
	return true
}

// IssuedHMACCredential is the only response that contains the secret.
type IssuedHMACCredential struct {
	HMACCredential
	Secret string `json:"secret"`
}

// HMAC signature algorithms, as Kong names them.
const (
	HMACSHA1   = "hmac-sha1"
	HMACSHA256 = "hmac-sha256"
	HMACSHA384 = "hmac-sha384"
	HMACSHA512 = "hmac-sha512"
)

// HMACAuthConfig is a route's HMAC request signing, with Kong's hmac-auth
// settings and field names, plus replay protection and RFC 9421.
type HMACAuthConfig struct {
	// ClockSkew is how far, in seconds, the request's Date or X-Date (or an
	// RFC 9421 created time) may be from the gateway's clock.
	ClockSkew int `json:"clock_skew"`
	// EnforceHeaders must all be among the signed headers.
	EnforceHeaders []string `json:"enforce_headers"`
	Algorithms     []string `json:"algorithms"`
	// ValidateRequestBody requires a Digest (or RFC 9530 Content-Digest)
	// header that matches the body.
	ValidateRequestBody bool `json:"validate_request_body"`
	// HideCredentials removes the signature headers before proxying.
	HideCredentials bool   `json:"hide_credentials"`
	Anonymous       string `json:"anonymous,omitempty"`
	Realm           string `json:"realm,omitempty"`
	// ReplayProtection refuses a signature seen before within the clock
	// skew window (not in Kong).
	ReplayProtection bool `json:"replay_protection"`
	// MaxBodySize bounds the body read to check its digest, in bytes; a
	// larger body is refused with 413.
	MaxBodySize int `json:"max_body_size"`
}

// Defaults of HMACAuthConfig.
const (
	DefaultClockSkew   = 300
	DefaultMaxBodySize = 1 << 20
)

// NewHMACAuthConfig returns hmac-auth with Kong's defaults, replay
// protection on.
func NewHMACAuthConfig() *HMACAuthConfig {
	return &HMACAuthConfig{ClockSkew: DefaultClockSkew, EnforceHeaders: []string{},
		Algorithms:       []string{HMACSHA1, HMACSHA256, HMACSHA384, HMACSHA512},
		ReplayProtection: true, MaxBodySize: DefaultMaxBodySize}
}

// UnmarshalJSON fills in the defaults for settings the document leaves out.
func (c *HMACAuthConfig) UnmarshalJSON(b []byte) error {
	type plain HMACAuthConfig
	p := plain(*NewHMACAuthConfig())
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*c = HMACAuthConfig(p)
	return nil
}

// AllowsAlgorithm reports whether the route accepts alg.
func (c *HMACAuthConfig) AllowsAlgorithm(alg string) bool { return slices.Contains(c.Algorithms, alg) }

func (c *HMACAuthConfig) validate() error {
	if c == nil {
		return nil
	}
	switch {
	case c.ClockSkew < 1 || c.ClockSkew > 24*60*60:
		return Errorf(EINVALID, "hmac_auth.clock_skew: must be between 1 and 86400 seconds")
	case len(c.Algorithms) == 0:
		return Errorf(EINVALID, "hmac_auth.algorithms: at least one is required")
	case c.MaxBodySize < 1 || c.MaxBodySize > 64<<20:
		return Errorf(EINVALID, "hmac_auth.max_body_size: must be between 1 and %d bytes", 64<<20)
	case len(c.Realm) > maxNameLen || strings.ContainsRune(c.Realm, '"'):
		return Errorf(EINVALID, "hmac_auth.realm: at most %d characters, no quotes", maxNameLen)
	case len(c.Anonymous) > maxNameLen:
		return Errorf(EINVALID, "hmac_auth.anonymous: at most %d characters", maxNameLen)
	}
	if err := checkText("hmac_auth.realm", c.Realm); err != nil {
		return err
	}
	if err := checkText("hmac_auth.anonymous", c.Anonymous); err != nil {
		return err
	}
	for _, a := range c.Algorithms {
		if !slices.Contains([]string{HMACSHA1, HMACSHA256, HMACSHA384, HMACSHA512}, a) {
			return Errorf(EINVALID, "hmac_auth.algorithms: %q is not one of hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512", a)
		}
	}
	return validateList("hmac_auth.enforce_headers", c.EnforceHeaders, validateSignedHeader)
}

// validateSignedHeader accepts a header name or one of the pseudo-headers
// request-line and @request-target.
func validateSignedHeader(name string) string {
	if name == "" || len(name) > 256 {
		return "must be 1 to 256 characters"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '-' || c == '@' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "must be a header name"
		}
	}
	return ""
}
