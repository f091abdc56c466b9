package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/keygate/keygate"
)

// OIDC is sign-in through an OpenID Connect provider: authorization code
// flow with PKCE (S256), state and nonce checked. It discovers the provider
// on first use, not at start, so that keygate starts (and local accounts
// work) while the provider is down.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client (PKCE only)
	RedirectURL  string
	Scopes       []string     // beyond openid
	HTTPClient   *http.Client // nil: one with a 10s timeout

	mu       sync.Mutex
	provider *oidc.Provider
}

func (o *OIDC) context(ctx context.Context) context.Context {
	c := o.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	return oidc.ClientContext(ctx, c)
}

func (o *OIDC) setup(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(o.context(ctx), o.Issuer)
		if err != nil {
			return nil, nil, keygate.Unavailable(err, "The identity provider cannot be reached right now; try again in a moment.")
		}
		o.provider = p
	}
	conf := &oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, o.Scopes...)}
	return o.provider, conf, nil
}

// Start returns the provider's authorization URL and the value to keep in a
// short-lived HttpOnly cookie (state, nonce and PKCE verifier: never in
// browser storage a script could read) until Finish.
func (o *OIDC) Start(ctx context.Context) (authURL, cookie string, err error) {
	_, conf, err := o.setup(ctx)
	if err != nil {
		return "", "", err
	}
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	return conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), state + "." + nonce + "." + verifier, nil
}

// Refused is a sign-in the provider's answer does not allow; its Message is
// fit to show the user, its Cause (if any) only to the log.
type Refused struct {
	Message string
	Cause   error
}

func (e *Refused) Error() string { return e.Message }

func refused(format string, args ...any) error {
	return &Refused{Message: fmt.Sprintf(format, args...)}
}

// Finish completes a sign-in from the callback's query and the cookie Start
// returned: state matches, the code is exchanged with the PKCE verifier, the
// ID token is verified (issuer, audience, signature, expiry) and carries the
// nonce. It returns the verified email and the token's claims. A *Refused
// error is the user's to read; any other is technical.
func (o *OIDC) Finish(r *http.Request, cookie string) (email string, claims map[string]any, err error) {
	parts := strings.Split(cookie, ".")
	q := r.URL.Query()
	if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(parts[0])) != 1 {
		return "", nil, refused("The sign-in answer does not match the sign-in this browser started; start again.")
	}
	nonce, verifier := parts[1], parts[2]
	if e := q.Get("error"); e != "" {
		return "", nil, refused("The identity provider did not sign you in (%.100s).", e)
	}
	provider, conf, err := o.setup(r.Context())
	if err != nil {
		return "", nil, err
	}
	ctx := o.context(r.Context())
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return "", nil, &Refused{Message: "The identity provider did not accept the sign-in code; start again.", Cause: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", nil, refused("The identity provider sent no ID token.")
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: o.ClientID}).Verify(ctx, raw)
	if err != nil {
		return "", nil, &Refused{Message: "The identity provider's ID token could not be verified.", Cause: err}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return "", nil, refused("The ID token was not issued for this sign-in (nonce).")
	}
	if err := idt.Claims(&claims); err != nil {
		return "", nil, refused("The ID token's claims could not be read.")
	}
	email, _ = claims["email"].(string)
	if v, ok := claims["email_verified"].(bool); ok && !v {
		return "", nil, refused("Your email address is not verified at the identity provider.")
	}
	if email == "" || len(email) > 200 || strings.ContainsFunc(email, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", nil, refused("The ID token carries no usable email claim (ask for the email scope).")
	}
	return email, claims, nil
}

// ClaimValues are the string values of a claim (a string or a list of
// strings); a dotted name reaches into objects (realm_access.roles).
func ClaimValues(claims map[string]any, name string) []string {
	var v any = claims
	for _, part := range strings.Split(name, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var values []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				values = append(values, s)
			}
		}
		return values
	}
	return nil
}
