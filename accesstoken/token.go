package accesstoken

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Why a token is refused. A verifier returns one of these (test with
// errors.Is); none of them carries any part of the token.
var (
	ErrMalformed    = errors.New("access token: malformed")
	ErrAlgorithm    = errors.New("access token: signing algorithm not accepted")
	ErrType         = errors.New("access token: typ is not at+jwt")
	ErrUnknownKey   = errors.New("access token: unknown key id") // refresh the JWKS (rate-limited) and retry once
	ErrSignature    = errors.New("access token: bad signature")
	ErrMissingClaim = errors.New("access token: a required claim is missing")
	ErrExpired      = errors.New("access token: expired")
	ErrNotYetValid  = errors.New("access token: not valid yet")
	ErrIssuer       = errors.New("access token: wrong issuer")
	ErrAudience     = errors.New("access token: wrong audience")
)

// TokenType is the JWT "typ" of an access token (RFC 9068 §2.1).
const TokenType = "at+jwt"

// MaxTokenLen bounds what Verify parses.
const MaxTokenLen = 8 << 10

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// Claims are an access token's claims (RFC 9068 §2.2).
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	IssuedAt  time.Time
	NotBefore time.Time // zero: none
	ID        string    // jti
	ClientID  string
	Scopes    []string // "scope", space-separated on the wire
}

// Grant is what the token endpoint decided to grant.
type Grant struct {
	Issuer   string
	Subject  string // the consumer
	ClientID string
	Audience []string
	Scopes   []string
	Lifetime time.Duration
}

// NewClaims fills in the times and a random jti for g at now.
func NewClaims(g Grant, now time.Time) (*Claims, error) {
	switch {
	case g.Issuer == "":
		return nil, errors.New("access token: issuer is required")
	case g.Subject == "" || g.ClientID == "":
		return nil, errors.New("access token: subject and client_id are required")
	case len(g.Audience) == 0:
		return nil, errors.New("access token: an audience is required")
	case g.Lifetime <= 0:
		return nil, errors.New("access token: lifetime must be positive")
	}
	for _, s := range g.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\n\"\\") {
			return nil, fmt.Errorf("access token: scope %q is not a valid scope token", s)
		}
	}
	var id [16]byte
	rand.Read(id[:])
	now = now.UTC().Truncate(time.Second)
	return &Claims{
		Issuer:   g.Issuer,
		Subject:  g.Subject,
		Audience: slices.Clone(g.Audience),
		IssuedAt: now,
		Expiry:   now.Add(g.Lifetime),
		ID:       base64.RawURLEncoding.EncodeToString(id[:]),
		ClientID: g.ClientID,
		Scopes:   slices.Clone(g.Scopes),
	}, nil
}

// HasScope says whether the token grants scope.
func (c *Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// wireClaims is Claims as JSON. Pointers tell a missing claim from zero.
type wireClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Expiry    *int64   `json:"exp"`
	IssuedAt  *int64   `json:"iat"`
	NotBefore *int64   `json:"nbf,omitempty"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
}

// audience is "aud": a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

// Issue signs c with k as an RFC 9068 access token: header typ at+jwt, alg
// and kid. Only the Current key signs: a Next key may not be in every
// verifier's JWKS yet, a Retiring one is on its way out.
func Issue(k *SigningKey, c *Claims) (string, error) {
	if k == nil || k.State != Current {
		return "", errors.New("access token: no current signing key")
	}
	payload, err := json.Marshal(wireClaims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: audience(c.Audience),
		Expiry: unix(c.Expiry), IssuedAt: unix(c.IssuedAt), NotBefore: unix(c.NotBefore),
		ID: c.ID, ClientID: c.ClientID, Scope: strings.Join(c.Scopes, " "),
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: jose.JSONWebKey{Key: k.private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("access token: %w", err)
	}
	return jws.CompactSerialize()
}

// KeySource finds a verification key by kid. *PublicKeys is one; a
// gateway's JWKS cache is another.
type KeySource interface {
	PublicKey(kid string) (alg string, key crypto.PublicKey, ok bool)
}

// PublicKeys is a published key set, by kid.
type PublicKeys struct {
	byID map[string]publicKey
}

type publicKey struct {
	alg string
	key crypto.PublicKey
}

// PublicKey implements KeySource.
func (p *PublicKeys) PublicKey(kid string) (string, crypto.PublicKey, bool) {
	k, ok := p.byID[kid]
	return k.alg, k.key, ok
}

// Len is the number of keys in the set.
func (p *PublicKeys) Len() int { return len(p.byID) }

// Add puts key, which verifies alg, in the set under kid; a kid the set
// holds already is an error.
func (p *PublicKeys) Add(kid, alg string, key crypto.PublicKey) error {
	if _, dup := p.byID[kid]; dup {
		return fmt.Errorf("jwks: kid %q appears twice", kid)
	}
	if p.byID == nil {
		p.byID = map[string]publicKey{}
	}
	p.byID[kid] = publicKey{alg: alg, key: key}
	return nil
}

// ParseJWKS reads a JWKS document. Every key must be a public ES256 (P-256)
// or EdDSA (Ed25519) key with a kid and alg; use, when present, must be
// "sig". Anything else is refused rather than skipped, so a misconfigured
// issuer is noticed when the JWKS is loaded.
func ParseJWKS(data []byte) (*PublicKeys, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	p := &PublicKeys{byID: make(map[string]publicKey, len(set.Keys))}
	for i, k := range set.Keys {
		switch {
		case k.KeyID == "":
			return nil, fmt.Errorf("jwks: key %d has no kid", i)
		case !k.IsPublic():
			return nil, fmt.Errorf("jwks: key %q is not a public key", k.KeyID)
		case k.Use != "" && k.Use != "sig":
			return nil, fmt.Errorf("jwks: key %q: use must be sig", k.KeyID)
		case !checkKeyAlg(k.Algorithm, k.Key):
			return nil, fmt.Errorf("jwks: key %q: alg must be %s (P-256) or %s (Ed25519) and match the key", k.KeyID, ES256, EdDSA)
		}
		if err := p.Add(k.KeyID, k.Algorithm, k.Key); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Verifier checks access tokens locally, against published keys.
type Verifier struct {
	Issuer   string // required "iss"
	Audience string // "aud" must contain it
	Keys     KeySource
	// Leeway is the clock skew allowed on exp, nbf and iat; zero means
	// DefaultLeeway, negative means none.
	Leeway time.Duration
	Now    func() time.Time // nil: time.Now
}

// Validate names the first missing setting; run it once, when the
// verifier is configured.
func (v *Verifier) Validate() error {
	switch {
	case v.Issuer == "":
		return errors.New("access token verifier: issuer is required")
	case v.Audience == "":
		return errors.New("access token verifier: audience is required")
	case v.Keys == nil:
		return errors.New("access token verifier: keys are required")
	}
	return nil
}

// Verify checks token and returns its claims, or one of the Err values
// above (wrapped with no part of the token).
func (v *Verifier) Verify(token string) (*Claims, error) {
	if len(token) > MaxTokenLen {
		return nil, ErrMalformed
	}
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil {
		return nil, parseError(token)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return nil, ErrType
	}
	alg, key, ok := v.Keys.PublicKey(h.KeyID)
	if !ok {
		return nil, ErrUnknownKey
	}
	// The key decides the algorithm, never the header alone.
	if h.Algorithm != alg {
		return nil, ErrAlgorithm
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, ErrSignature
	}
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, ErrMalformed
	}
	return v.check(&w)
}

func (v *Verifier) check(w *wireClaims) (*Claims, error) {
	if w.Issuer == "" || w.Subject == "" || len(w.Audience) == 0 || w.Expiry == nil ||
		w.IssuedAt == nil || w.ID == "" || w.ClientID == "" {
		return nil, ErrMissingClaim
	}
	if w.Issuer != v.Issuer {
		return nil, ErrIssuer
	}
	if !slices.Contains(w.Audience, v.Audience) {
		return nil, ErrAudience
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	} else if leeway < 0 {
		leeway = 0
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	c := &Claims{
		Issuer: w.Issuer, Subject: w.Subject, Audience: w.Audience,
		Expiry: time.Unix(*w.Expiry, 0).UTC(), IssuedAt: time.Unix(*w.IssuedAt, 0).UTC(),
		ID: w.ID, ClientID: w.ClientID, Scopes: strings.Fields(w.Scope),
	}
	if w.NotBefore != nil {
		c.NotBefore = time.Unix(*w.NotBefore, 0).UTC()
	}
	if !now.Before(c.Expiry.Add(leeway)) {
		return nil, ErrExpired
	}
	if now.Add(leeway).Before(c.NotBefore) || now.Add(leeway).Before(c.IssuedAt) {
		return nil, ErrNotYetValid
	}
	return c, nil
}

// isAccessTokenType accepts "at+jwt" and "application/at+jwt", in any case
// (RFC 9068 §4, RFC 7515 §4.1.9).
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == TokenType || typ == "application/"+TokenType
}

// parseError tells an algorithm outside the allowlist (alg none, HS256:
// refused before any key is touched) from garbage. It runs only on the
// error path.
func parseError(token string) error {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return ErrMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ErrMalformed
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil || h.Alg == "" {
		return ErrMalformed
	}
	if !slices.Contains(allowedAlgs, jose.SignatureAlgorithm(h.Alg)) {
		return ErrAlgorithm
	}
	return ErrMalformed
}
