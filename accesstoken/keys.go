package accesstoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	_ "crypto/sha256" // for the RFC 7638 thumbprint
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The signing algorithms keygate issues and accepts. Nothing else is ever
// accepted: no "none", no HMAC (a public key used as an HMAC secret is the
// classic algorithm confusion).
const (
	ES256 = string(jose.ES256)
	EdDSA = string(jose.EdDSA)
)

// allowedAlgs is the allowlist handed to the JWS parser.
var allowedAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

// KeyState is where a signing key is in its life.
type KeyState string

const (
	// Next: published in the JWKS, not yet used for signing, so every
	// gateway has it before the first token it signs arrives.
	Next KeyState = "next"
	// Current: signs new tokens. A set has at most one.
	Current KeyState = "current"
	// Retiring: no longer signs, published until every token it signed has
	// expired.
	Retiring KeyState = "retiring"
)

// SigningKey is one key pair of the set. Its String never prints the
// private key.
type SigningKey struct {
	ID        string // kid: the RFC 7638 thumbprint of the public key
	Alg       string // ES256 or EdDSA
	State     KeyState
	CreatedAt time.Time // when it was generated and first published
	// ActivatedAt is when it became Current (zero while Next).
	ActivatedAt time.Time
	// RetiredAt is when it stopped signing (zero unless Retiring).
	RetiredAt time.Time

	private crypto.Signer
}

// GenerateKey makes a new key pair for alg (ES256 or EdDSA) in state Next.
func GenerateKey(alg string, now time.Time) (*SigningKey, error) {
	var priv crypto.Signer
	switch alg {
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	default:
		return nil, fmt.Errorf("signing key: algorithm %q is not supported (use %s or %s)", alg, ES256, EdDSA)
	}
	return newSigningKey(alg, priv, now)
}

func newSigningKey(alg string, priv crypto.Signer, now time.Time) (*SigningKey, error) {
	jwk := jose.JSONWebKey{Key: priv.Public()}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &SigningKey{
		ID:        base64.RawURLEncoding.EncodeToString(thumb),
		Alg:       alg,
		State:     Next,
		CreatedAt: now.UTC(),
		private:   priv,
	}, nil
}

// Public returns the public key (*ecdsa.PublicKey or ed25519.PublicKey).
func (k *SigningKey) Public() crypto.PublicKey { return k.private.Public() }

// String names the key without its private part; a value receiver, so
// that printing a SigningKey by value does not reach the private key either.
func (k SigningKey) String() string { return fmt.Sprintf("%s key %s (%s)", k.Alg, k.ID, k.State) }

// LogValue keeps the private key out of structured logs.
func (k SigningKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// publicJWK is the key as published: public part, kid, alg, use "sig".
func (k *SigningKey) publicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Public(), KeyID: k.ID, Algorithm: k.Alg, Use: "sig"}
}

// checkKeyAlg says whether key is a public key of the kind alg needs.
func checkKeyAlg(alg string, key crypto.PublicKey) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == EdDSA && len(k) == ed25519.PublicKeySize
	}
	return false
}

// KeySet is every signing key: at most one Current, any number of Next and
// Retiring. A KeySet is a value: Rotate returns a new one, so a caller can
// persist it and then swap it in atomically.
type KeySet struct {
	Keys []*SigningKey
}

// Current returns the key that signs, or nil.
func (s *KeySet) Current() *SigningKey {
	for _, k := range s.Keys {
		if k.State == Current {
			return k
		}
	}
	return nil
}

// PublicKeys returns what a verifier needs: every published key.
func (s *KeySet) PublicKeys() *PublicKeys {
	p := &PublicKeys{byID: make(map[string]publicKey, len(s.Keys))}
	for _, k := range s.Keys {
		p.byID[k.ID] = publicKey{alg: k.Alg, key: k.Public()}
	}
	return p
}

// JWKS returns the published key set: public keys only, each with kid, alg
// and use, Next and Retiring keys included.
func (s *KeySet) JWKS() jose.JSONWebKeySet {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(s.Keys))}
	for _, k := range s.Keys {
		set.Keys = append(set.Keys, k.publicJWK())
	}
	return set
}
