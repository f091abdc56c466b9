package oauth2

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keygate/keygate/accesstoken"
)

// External identity providers sign with more than keygate does: RS256 is
// what most of them use by default. Still only asymmetric algorithms: no
// "none", no HMAC (a public key used as an HMAC secret).
var externalAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA}

// minRSABits is the smallest RSA key accepted (NIST SP 800-131A).
const minRSABits = 2048

// parseExternalJWKS reads an identity provider's JWKS. Unlike keygate's
// own (accesstoken.ParseJWKS), a provider's set often holds keys the
// gateway has no use for (encryption keys, certificates of other kinds):
// those are skipped, not refused. A signing key without "alg" verifies
// the algorithms of its key type (RSA: RS256 and PS256). A set without any usable key is an
// error, as is a kid given twice.
func parseExternalJWKS(data []byte) (*accesstoken.PublicKeys, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := &accesstoken.PublicKeys{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue // a key type go-jose does not know, such as an OKP for X25519
		}
		if k.KeyID == "" || !k.IsPublic() || k.Use != "" && k.Use != "sig" {
			continue
		}
		alg, ok := externalKeyAlg(k.Algorithm, k.Key)
		if !ok {
			continue
		}
		if err := out.Add(k.KeyID, alg, k.Key); err != nil {
			return nil, err
		}
	}
	if out.Len() == 0 {
		return nil, errors.New("jwks: no signing key keygate can use (RS256/PS256 of 2048 bits or more, ES256, ES384, EdDSA, each with a kid)")
	}
	return out, nil
}

// externalKeyAlg is the algorithm key verifies: alg when it fits the key,
// or the key type's usual one when alg is empty.
func externalKeyAlg(alg string, key crypto.PublicKey) (string, bool) {
	var fits []string
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", false
		}
		fits = []string{string(jose.RS256), string(jose.PS256)}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			fits = []string{string(jose.ES256)}
		case elliptic.P384():
			fits = []string{string(jose.ES384)}
		}
	case ed25519.PublicKey:
		fits = []string{string(jose.EdDSA)}
	}
	switch {
	case len(fits) == 0:
		return "", false
	case alg == "":
		return strings.Join(fits, anyOf), true
	}
	return alg, slices.Contains(fits, alg)
}

// anyOf separates the algorithms a key without "alg" may verify (RSA:
// RS256 and PS256), as one value of externalKey.alg.
const anyOf = "|"

// algFits says whether a token's header alg is one the key verifies.
func algFits(keyAlg, headerAlg string) bool {
	if keyAlg == headerAlg {
		return true
	}
	for a := range strings.SplitSeq(keyAlg, anyOf) {
		if a == headerAlg {
			return true
		}
	}
	return false
}

// externalVerifier checks an external provider's access tokens: RFC 9068
// as far as providers follow it. typ must be at+jwt unless plainJWT also
// lets "JWT" or none through; client_id and jti are optional (the claim
// naming the consumer is not); the scopes are "scope" (a string) or "scp"
// (a string or a list, as some providers send them).
type externalVerifier struct {
	issuer, audience string
	leeway           time.Duration
	now              func() time.Time
	plainJWT         bool
	claim            string // the claim that must be present: sub or client_id
}

// externalClaims are the claims read from an external token.
type externalClaims struct {
	Issuer    string              `json:"iss"`
	Subject   string              `json:"sub"`
	Audience  json.RawMessage     `json:"aud"`
	Expiry    *json.Number        `json:"exp"`
	IssuedAt  *json.Number        `json:"iat"`
	NotBefore *json.Number        `json:"nbf"`
	ID        string              `json:"jti"`
	ClientID  string              `json:"client_id"`
	Scope     string              `json:"scope"`
	Scp       jsonStringOrStrings `json:"scp"`
}

// jsonStringOrStrings is a claim given as a string or a list of strings.
type jsonStringOrStrings []string

func (s *jsonStringOrStrings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = strings.Fields(one)
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

func (e *externalVerifier) verify(keys accesstoken.KeySource, tok string) (*accesstoken.Claims, error) {
	if len(tok) > accesstoken.MaxTokenLen {
		return nil, accesstoken.ErrMalformed
	}
	jws, err := jose.ParseSignedCompact(tok, externalAlgs)
	if err != nil {
		return nil, externalParseError(tok)
	}
	h := jws.Signatures[0].Protected
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	switch strings.ToLower(typ) {
	case accesstoken.TokenType, "application/" + accesstoken.TokenType:
	case "jwt", "application/jwt", "":
		if !e.plainJWT {
			return nil, accesstoken.ErrType
		}
	default:
		return nil, accesstoken.ErrType
	}
	alg, key, ok := keys.PublicKey(h.KeyID)
	if !ok {
		return nil, accesstoken.ErrUnknownKey
	}
	if !algFits(alg, h.Algorithm) {
		return nil, accesstoken.ErrAlgorithm
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, accesstoken.ErrSignature
	}
	d := json.NewDecoder(strings.NewReader(string(payload)))
	d.UseNumber()
	var w externalClaims
	if err := d.Decode(&w); err != nil {
		return nil, accesstoken.ErrMalformed
	}
	return e.check(&w)
}

func (e *externalVerifier) check(w *externalClaims) (*accesstoken.Claims, error) {
	aud, ok := audiences(w.Audience)
	if !ok {
		return nil, accesstoken.ErrMalformed
	}
	exp, okExp := seconds(w.Expiry)
	iat, okIat := seconds(w.IssuedAt)
	nbf, okNbf := seconds(w.NotBefore)
	switch {
	case w.Issuer == "" || len(aud) == 0 || !okExp || w.Expiry == nil:
		return nil, accesstoken.ErrMissingClaim
	case !okIat || !okNbf:
		return nil, accesstoken.ErrMalformed
	case e.claim == "sub" && w.Subject == "", e.claim == "client_id" && w.ClientID == "":
		return nil, accesstoken.ErrMissingClaim
	case w.Issuer != e.issuer:
		return nil, accesstoken.ErrIssuer
	case !slices.Contains(aud, e.audience):
		return nil, accesstoken.ErrAudience
	}
	now := e.now()
	if !now.Before(exp.Add(e.leeway)) {
		return nil, accesstoken.ErrExpired
	}
	if now.Add(e.leeway).Before(nbf) || now.Add(e.leeway).Before(iat) {
		return nil, accesstoken.ErrNotYetValid
	}
	scopes := strings.Fields(w.Scope)
	for _, s := range w.Scp {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &accesstoken.Claims{Issuer: w.Issuer, Subject: w.Subject, Audience: aud, Expiry: exp, IssuedAt: iat,
		NotBefore: nbf, ID: w.ID, ClientID: w.ClientID, Scopes: scopes}, nil
}

// audiences reads "aud": a string or a list of strings.
func audiences(raw json.RawMessage) ([]string, bool) {
	if len(raw) == 0 {
		return nil, true
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many, true
	}
	return nil, false
}

// seconds reads a NumericDate (RFC 7519 §2), fractions allowed; absent is
// the zero time.
func seconds(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, true
	}
	if i, err := n.Int64(); err == nil {
		return time.Unix(i, 0).UTC(), true
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0).UTC(), true
}

// externalParseError tells an algorithm outside the allowlist from
// garbage, as accesstoken does for keygate's tokens.
func externalParseError(tok string) error {
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return accesstoken.ErrMalformed
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil || h.Alg == "" {
		return accesstoken.ErrMalformed
	}
	if !slices.Contains(externalAlgs, jose.SignatureAlgorithm(h.Alg)) {
		return accesstoken.ErrAlgorithm
	}
	return accesstoken.ErrMalformed
}
