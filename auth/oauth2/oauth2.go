package oauth2

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/auth"
	"github.com/valyala/fasthttp"
)

// Denylist holds revoked access tokens by jti (the token service's
// revocation endpoint fills it); nil: none are.
type Denylist interface {
	Revoked(jti string) bool
}

// Local is keygate's own authorization server as this node knows it.
type Local struct {
	Issuer   string // its "iss"
	Audience string // the "aud" its tokens carry, unless a route says otherwise
	// Keys reads its signing keys' public halves (LocalKeys).
	Keys func(ctx context.Context) (*accesstoken.PublicKeys, error)
}

// Options configure a Provider.
type Options struct {
	// Local is keygate's own issuer; nil: routes that accept it fail to
	// load.
	Local    *Local
	Denylist Denylist
	// HTTPClient fetches external issuers' JWKS (a client with a timeout
	// by default).
	HTTPClient *http.Client
	// RefreshInterval is the least time between two key loads of one
	// issuer caused by unknown kids (DefaultRefreshInterval).
	RefreshInterval time.Duration
	// TokenCacheTTL is how long a verified token is remembered (by its
	// hash), so that a client's next requests with it skip the signature
	// check; never past the token's exp. 0: DefaultTokenCacheTTL;
	// negative: off.
	TokenCacheTTL time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Provider holds what every oauth2 route of a node shares: the issuers'
// key caches, the client and consumer caches, the denylist. New makes
// one route's authenticator.
type Provider struct {
	opts    Options
	lookups *lookups
	local   *keySource

	mu     sync.Mutex
	remote map[string]*keySource // by JWKS URL
}

// NewProvider returns a provider reading clients and consumers from store.
func NewProvider(store Store, opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: fetchTimeout}
	}
	p := &Provider{opts: opts, remote: map[string]*keySource{},
		lookups: &lookups{store: store, clients: newCache[keygate.OAuthClient](), consumers: newCache[keygate.Consumer](), now: opts.Now}}
	if l := opts.Local; l != nil {
		p.local = newKeySource("local", func(ctx context.Context) (accesstoken.KeySource, time.Duration, error) {
			k, err := l.Keys(ctx)
			return k, LocalKeysMaxAge, err
		}, opts.RefreshInterval, opts.Now, opts.Logger)
	}
	return p
}

// Apply is the store's change hook: changed clients and consumers are read
// again.
func (p *Provider) Apply(c keygate.Change) { p.lookups.apply(c) }

// RefreshLocal reloads the local keys now (after this node rotated them).
func (p *Provider) RefreshLocal(ctx context.Context) {
	if p.local != nil {
		p.local.reload(ctx, false)
	}
}

func (p *Provider) remoteKeys(uri string) *keySource {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.remote[uri]
	if s == nil {
		s = newKeySource(uri, fetchJWKS(p.opts.HTTPClient, uri), p.opts.RefreshInterval, p.opts.Now, p.opts.Logger)
		p.remote[uri] = s
	}
	return s
}

// issuer is one issuer as a route accepts it.
type issuer struct {
	verifier accesstoken.Verifier // keygate's own tokens; Keys set per verification
	external *externalVerifier    // an external issuer's
	keys     *keySource
	local    bool
	claim    string // consumer_claim
	by       string // consumer_by
}

// Authenticator is oauth2 as configured on one route.
type Authenticator struct {
	cfg       keygate.OAuth2AuthConfig
	tokens    *tokenCache
	issuers   []issuer
	provider  *Provider
	challenge string
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New returns the authenticator of a route's oauth2 (validated with the
// route). It fails when the route accepts the local issuer and the node
// has none configured.
func (p *Provider) New(cfg keygate.OAuth2AuthConfig) (*Authenticator, error) {
	a := &Authenticator{cfg: cfg, provider: p, challenge: `Bearer realm="keygate"`, tokens: newTokenCache(p.opts.TokenCacheTTL)}
	leeway := time.Duration(cfg.Leeway) * time.Second
	if leeway == 0 {
		leeway = -1 // none (0 is the verifier's default)
	}
	for i, is := range cfg.Issuers {
		aud := cmp.Or(is.Audience, cfg.Audience)
		v := accesstoken.Verifier{Issuer: is.Issuer, Audience: aud, Leeway: leeway, Now: p.opts.Now}
		var it issuer
		if is.Local {
			if p.opts.Local == nil {
				return nil, fmt.Errorf("oauth2.issuers[%d]: this node has no local OAuth 2.0 issuer configured", i)
			}
			v.Issuer, v.Audience = p.opts.Local.Issuer, cmp.Or(aud, p.opts.Local.Audience)
			it = issuer{keys: p.local, local: true, claim: keygate.ClaimClientID, by: keygate.ConsumerByOAuthClient}
		} else {
			it = issuer{keys: p.remoteKeys(is.JWKSURI), claim: is.ConsumerClaim, by: is.ConsumerBy,
				external: &externalVerifier{issuer: is.Issuer, audience: aud, leeway: max(leeway, 0), now: p.opts.Now,
					plainJWT: is.AllowPlainJWT, claim: is.ConsumerClaim}}
		}
		v.Keys = &accesstoken.PublicKeys{} // checked by Validate; replaced per verification
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("oauth2.issuers[%d]: %w", i, err)
		}
		it.verifier = v
		a.issuers = append(a.issuers, it)
	}
	return a, nil
}

// Challenge is sent with a 401 for a request without a token (RFC 6750 §3).
func (a *Authenticator) Challenge() string { return a.challenge }

// Messages for the client; none carries any part of the token.
const (
	msgNoToken      = "No bearer token found in request"
	msgMalformed    = "The access token is malformed"
	msgDuplicate    = "More than one Authorization header"
	msgRevoked      = "The access token has been revoked"
	msgNoConsumer   = "The access token's client or consumer is unknown or revoked"
	msgInsufficient = "The access token lacks a scope this request needs"
)

// Authenticate checks the bearer token of r.
func (a *Authenticator) Authenticate(ctx context.Context, r *fasthttp.Request, t keygate.Target) (auth.Result, error) {
	raw, found, dup := bearer(r)
	if !found {
		return auth.Result{Verdict: auth.Absent, Message: msgNoToken}, nil
	}
	if !dup && !jwtShaped(raw) {
		// Not a JWT: perhaps an API key for another kind on the route.
		return auth.Result{Verdict: auth.Absent, Message: msgMalformed,
			WWWAuthenticate: a.challenge + `, error="invalid_token", error_description="` + msgMalformed + `"`}, nil
	}
	// raw points into the header: what is needed of it is taken before
	// hide_credentials removes it.
	now := a.provider.opts.Now()
	sum := sha256.Sum256(raw)
	v, hit := a.tokens.get(sum, now.UnixNano())
	var token string
	if !hit {
		token = string(raw)
	}
	if a.cfg.HideCredentials {
		// Hidden whatever the verdict, as key-auth does.
		auth.RemoveHeaders(&r.Header, func(n []byte) bool { return string(n) == "Authorization" })
	}
	if dup {
		return a.invalid("invalid_request", msgDuplicate), nil
	}
	if !hit {
		is, ok := a.pick(token)
		if !ok {
			return a.invalid("invalid_token", "The access token's issuer is not accepted here"), nil
		}
		claims, err := a.verify(ctx, is, token)
		if err != nil {
			if errors.Is(err, errNoKeys) {
				return auth.Result{}, fmt.Errorf("oauth2: keys of issuer %s: %w", is.keys.name, err)
			}
			return a.invalid("invalid_token", describe(err)), nil
		}
		v = verified{claims: claims, issuer: is}
		a.tokens.put(sum, v, now)
	}
	claims := v.claims
	if d := a.provider.opts.Denylist; d != nil && claims.ID != "" && d.Revoked(claims.ID) {
		return a.invalid("invalid_token", msgRevoked), nil
	}
	consumer, client, err := a.consumer(ctx, v.issuer, claims)
	if err != nil {
		return auth.Result{}, err
	}
	if consumer == nil {
		return a.invalid("invalid_token", msgNoConsumer), nil
	}
	res := auth.Result{Verdict: auth.Granted, Consumer: consumer, CredentialID: cmp.Or(claims.ClientID, claims.Subject),
		PlanID: keygate.PlanOf(nil, consumer)}
	if client != nil {
		res.CredentialRecord, res.Lineage = client.ID, client.ID
	}
	if missing := missingScopes(a.cfg.RequiredScopes(string(r.Header.Method())), claims); missing != "" {
		res.Verdict, res.Message, res.PlanID = auth.Forbidden, msgInsufficient, ""
		res.WWWAuthenticate = a.challenge + `, error="insufficient_scope", scope="` + missing + `"`
	}
	return res, nil
}

func (a *Authenticator) invalid(code, msg string) auth.Result {
	return auth.Result{Verdict: auth.Unauthenticated, Message: msg,
		WWWAuthenticate: a.challenge + `, error="` + code + `", error_description="` + msg + `"`}
}

// bearer finds "Authorization: Bearer <token>"; token points into r's
// header.
func bearer(r *fasthttp.Request) (token []byte, found, dup bool) {
	vs := r.Header.PeekAll("Authorization")
	if len(vs) == 0 {
		return nil, false, false
	}
	scheme, tok, ok := bytes.Cut(vs[0], []byte(" "))
	if !ok || !strings.EqualFold(string(scheme), "Bearer") {
		return nil, false, false
	}
	return bytes.TrimSpace(tok), true, len(vs) > 1
}

// jwtShaped is the quick check before any parsing: at most MaxTokenLen,
// three base64url parts, the first two not empty. An empty signature
// (an "alg: none" token) passes, to be refused by name.
func jwtShaped[T string | []byte](tok T) bool {
	if len(tok) > accesstoken.MaxTokenLen || len(tok) < 4 {
		return false
	}
	dots, last := 0, -1
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '.':
			if i == last+1 {
				return false
			}
			dots, last = dots+1, i
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// pick chooses the issuer to verify tok with: the only one, or the one its
// (unverified) "iss" names; the verifier checks "iss" again once the
// signature holds.
func (a *Authenticator) pick(tok string) (*issuer, bool) {
	if len(a.issuers) == 1 {
		return &a.issuers[0], true
	}
	iss := peekIssuer(tok)
	for i := range a.issuers {
		if a.issuers[i].verifier.Issuer == iss {
			return &a.issuers[i], true
		}
	}
	return nil, false
}

func peekIssuer(tok string) string {
	_, rest, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.Iss
}

// verify checks tok with is's keys; on an unknown kid it reloads them
// (rate-limited) and tries once more.
func (a *Authenticator) verify(ctx context.Context, is *issuer, tok string) (*accesstoken.Claims, error) {
	keys, err := is.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	claims, err := is.check(keys, tok)
	if errors.Is(err, accesstoken.ErrUnknownKey) && is.keys.refresh(ctx, keys) {
		claims, err = is.check(is.keys.keys.Load(), tok)
	}
	return claims, err
}

func (is *issuer) check(keys *keySet, tok string) (*accesstoken.Claims, error) {
	if is.external != nil {
		return is.external.verify(keys, tok)
	}
	v := is.verifier
	v.Keys = keys
	return v.Verify(tok)
}

// describe says why a token was refused, for error_description.
func describe(err error) string {
	switch {
	case errors.Is(err, accesstoken.ErrExpired):
		return "The access token expired"
	case errors.Is(err, accesstoken.ErrNotYetValid):
		return "The access token is not valid yet"
	case errors.Is(err, accesstoken.ErrAudience):
		return "The access token is not meant for this API (aud)"
	case errors.Is(err, accesstoken.ErrIssuer):
		return "The access token's issuer is not accepted here"
	case errors.Is(err, accesstoken.ErrType):
		return "The token is not an access token (typ)"
	case errors.Is(err, accesstoken.ErrAlgorithm):
		return "The access token's signing algorithm is not accepted"
	case errors.Is(err, accesstoken.ErrUnknownKey):
		return "The access token's signing key is unknown"
	case errors.Is(err, accesstoken.ErrSignature):
		return "The access token's signature is invalid"
	case errors.Is(err, accesstoken.ErrMissingClaim):
		return "The access token lacks a required claim"
	}
	return msgMalformed
}

// consumer finds who the token stands for: through its OAuth client
// (keygate's tokens), or the issuer's consumer claim. nil: nobody (or a
// revoked client); an error only when the store fails.
func (a *Authenticator) consumer(ctx context.Context, is *issuer, c *accesstoken.Claims) (*keygate.Consumer, *keygate.OAuthClient, error) {
	ref := c.Subject
	if is.claim == keygate.ClaimClientID {
		ref = c.ClientID
	}
	l := a.provider.lookups
	if is.by != keygate.ConsumerByOAuthClient {
		consumer, err := l.consumer(ctx, ref, is.by)
		if consumer != nil && !keygate.IsEnabled(consumer.Enabled) {
			return nil, nil, err // disabled: nobody, until enabled again
		}
		return consumer, nil, err
	}
	client, err := l.client(ctx, ref)
	if err != nil || client == nil || client.Status != keygate.KeyActive {
		return nil, nil, err
	}
	if is.local && c.Subject != client.Consumer.ID {
		return nil, nil, nil // keygate's tokens name the client's consumer as sub
	}
	consumer, err := l.consumer(ctx, client.Consumer.ID, keygate.ConsumerByID)
	if consumer == nil || !keygate.IsEnabled(consumer.Enabled) {
		return nil, nil, err
	}
	return consumer, client, nil
}

// missingScopes lists the required scopes the token lacks, space-separated
// ("" when it has them all).
func missingScopes(required []string, c *accesstoken.Claims) string {
	var missing []string
	for _, s := range required {
		if !slices.Contains(c.Scopes, s) {
			missing = append(missing, s)
		}
	}
	return strings.Join(missing, " ")
}
