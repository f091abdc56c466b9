package oauth2server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth/hmacauth"
)

// AssertionType is the client_assertion_type of private_key_jwt (RFC 7523 §2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgs are the algorithms a client may sign its assertion with:
// the kinds of key a client may register (EC, RSA, Ed25519). HMAC and none
// are never accepted.
var assertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// maxClientIDLen bounds a presented client_id before any lookup.
const maxClientIDLen = 128

// authenticate finds the client a request authenticates as, by exactly
// one method (RFC 6749 §2.3: a client uses one). Every failure of the
// credentials themselves is the same invalid_client; a malformed request
// is invalid_request; a store failure is an error (503).
func (s *Server) authenticate(ctx context.Context, r *http.Request, form map[string]string, st *state) (*keygate.OAuthClient, error) {
	basicID, basicSecret, basic := r.BasicAuth()
	if authz := r.Header.Get("Authorization"); !basic && authz != "" {
		if len(authz) >= 6 && strings.EqualFold(authz[:6], "basic ") {
			return nil, errClient(true) // Basic, but not decodable
		}
		return nil, invalidRequest("the Authorization header must use the Basic scheme")
	}
	_, post := form["client_secret"]
	_, assertion := form["client_assertion"]
	_, assertionType := form["client_assertion_type"]
	n := 0
	for _, used := range []bool{basic, post, assertion || assertionType} {
		if used {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, invalidRequest("use one client authentication method")
	case n == 0:
		return nil, errClient(false)
	case basic:
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		id, err1 := url.QueryUnescape(basicID)
		secret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, errClient(true)
		}
		if cid, ok := form["client_id"]; ok && cid != id {
			return nil, invalidRequest("client_id differs from the one authenticated")
		}
		return s.secretClient(ctx, id, secret, keygate.ClientSecretBasic, true)
	case post:
		return s.secretClient(ctx, form["client_id"], form["client_secret"], keygate.ClientSecretPost, false)
	}
	if form["client_assertion_type"] != AssertionType {
		return nil, invalidRequest("client_assertion_type must be %s", AssertionType)
	}
	return s.assertionClient(ctx, form, st)
}

// secretClient checks a client id and secret. The hash is computed and
// compared whether or not the client exists, so that the time taken says
// nothing about which it was.
func (s *Server) secretClient(ctx context.Context, id, secret, method string, basic bool) (*keygate.OAuthClient, error) {
	if id == "" || len(id) > maxClientIDLen || !strings.HasPrefix(id, keygate.OAuthClientIDPrefix) {
		sum := s.cfg.Hasher.HashSecret(id, secret)
		constantEqual(sum[:], s.dummy[:])
		return nil, errClient(basic)
	}
	c, err := s.cfg.Store.FindOAuthClient(ctx, id)
	sum := s.cfg.Hasher.HashSecret(id, secret)
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		constantEqual(sum[:], s.dummy[:])
		return nil, errClient(basic)
	case err != nil:
		return nil, err
	}
	if !c.VerifySecret(sum[:], s.cfg.Now()) || !c.AllowsAuthMethod(method) || c.ClientID != id {
		return nil, errClient(basic)
	}
	return c, nil
}

// assertionClient checks a private_key_jwt client assertion (RFC 7523 §3):
// signed by a key the client registered; iss and sub its client_id; aud
// the token endpoint or the issuer; exp in the future and no further than
// MaxAssertionLifetime; a jti not used before.
func (s *Server) assertionClient(ctx context.Context, form map[string]string, st *state) (*keygate.OAuthClient, error) {
	raw := form["client_assertion"]
	if raw == "" || len(raw) > maxBody {
		return nil, invalidRequest("client_assertion is required")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil {
		return nil, errClient(false)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, errClient(false)
	}
	id := unverified.Subject
	if cid, ok := form["client_id"]; ok && cid != id {
		return nil, invalidRequest("client_id differs from the assertion's subject")
	}
	if id == "" || len(id) > maxClientIDLen || !strings.HasPrefix(id, keygate.OAuthClientIDPrefix) {
		return nil, errClient(false)
	}
	c, err := s.cfg.Store.FindOAuthClient(ctx, id)
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return nil, errClient(false)
	case err != nil:
		return nil, err
	}
	if c.Status != keygate.KeyActive || !c.AllowsAuthMethod(keygate.PrivateKeyJWT) || c.ClientID != id {
		return nil, errClient(false)
	}
	kid := tok.Headers[0].KeyID
	keys, err := s.clientKeys(ctx, c, kid)
	if err != nil {
		return nil, err
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, errClient(false)
	}
	now := s.cfg.Now()
	err = claims.ValidateWithLeeway(jwt.Expected{Issuer: id, Subject: id, Time: now}, s.cfg.Leeway)
	switch {
	case err != nil, claims.Expiry == nil, claims.ID == "", len(claims.ID) > keygate.MaxJTILen,
		claims.Expiry.Time().After(now.Add(MaxAssertionLifetime + s.cfg.Leeway)),
		!slices.ContainsFunc(claims.Audience, func(a string) bool { return a == st.tokenURL || a == st.issuer }):
		return nil, errClient(false)
	}
	seen, err := s.cfg.Replay.Seen(ctx, "oauth2:"+c.ClientID, claims.ID, claims.Expiry.Time().Add(s.cfg.Leeway))
	switch {
	case seen:
		return nil, errClient(false)
	case err != nil:
		// A guard that is full for this client refuses; one that cannot
		// tell fails (no replay risked).
		if errors.Is(err, hmacauth.ErrReplayQuota) {
			return nil, errClient(false)
		}
		return nil, err
	}
	return c, nil
}

// clientKeys are the client's registered public keys: its jwks, or its
// jwks_uri's (cached; fetched again when kid is not among them).
func (s *Server) clientKeys(ctx context.Context, c *keygate.OAuthClient, kid string) ([]jose.JSONWebKey, error) {
	if len(c.JWKS) > 0 {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil {
			s.cfg.Logger.Warn("oauth2: a client's registered jwks does not parse", "client_id", c.ClientID, "error", err)
			return nil, nil
		}
		return publicOnly(set.Keys), nil
	}
	if c.JWKSURL == "" {
		return nil, nil
	}
	keys, err := s.jwks.get(ctx, c.JWKSURL, kid)
	if err != nil {
		// The client's key server is down: the client cannot be
		// authenticated now, which is not keygate failing.
		s.cfg.Logger.Warn("oauth2: a client's jwks_uri cannot be read", "client_id", c.ClientID, "error", err)
		return nil, nil
	}
	return keys, nil
}

func publicOnly(keys []jose.JSONWebKey) []jose.JSONWebKey {
	out := keys[:0:0]
	for _, k := range keys {
		if k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			out = append(out, k)
		}
	}
	return out
}
