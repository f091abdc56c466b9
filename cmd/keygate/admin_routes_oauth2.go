package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
)

// oauth2Flags are routes create and update's flags of the oauth2 kind.
var oauth2Flags = []string{"oauth2", "oauth2-scope", "oauth2-method-scope", "oauth2-audience", "oauth2-leeway",
	"oauth2-hide-credentials", "oauth2-local", "oauth2-external-issuer", "oauth2-jwks-uri", "oauth2-consumer-claim", "oauth2-consumer-by",
	"oauth2-allow-plain-jwt"}

// oauth2Settings holds those flags' values.
type oauth2Settings struct {
	on           bool
	c            keygate.OAuth2AuthConfig
	methodScopes []string // METHOD=scope
	local        bool
	external     keygate.OAuth2Issuer
}

func addOAuth2Flags(fs *pflag.FlagSet) *oauth2Settings {
	o := &oauth2Settings{}
	d := keygate.NewOAuth2AuthConfig()
	fs.BoolVar(&o.on, "oauth2", false, "take OAuth 2.0 access tokens (Authorization: Bearer <jwt>), by default keygate's own")
	fs.StringSliceVar(&o.c.Scopes, "oauth2-scope", nil, "scope every request's token must grant (repeatable)")
	fs.StringArrayVar(&o.methodScopes, "oauth2-method-scope", nil, "METHOD=scope: a scope requests with that method need as well (repeatable)")
	fs.StringVar(&o.c.Audience, "oauth2-audience", "", "audience tokens must name (default: keygate's own issuer's)")
	fs.IntVar(&o.c.Leeway, "oauth2-leeway", d.Leeway, "seconds of clock skew allowed on exp, nbf and iat")
	fs.BoolVar(&o.c.HideCredentials, "oauth2-hide-credentials", false, "remove the Authorization header before proxying")
	fs.BoolVar(&o.local, "oauth2-local", true, "take tokens of keygate's own authorization server")
	fs.StringVar(&o.external.Issuer, "oauth2-external-issuer", "", "also take tokens of this external issuer (its iss)")
	fs.StringVar(&o.external.JWKSURI, "oauth2-jwks-uri", "", "the external issuer's JWKS URL (https)")
	fs.StringVar(&o.external.ConsumerClaim, "oauth2-consumer-claim", keygate.ClaimSub, "the external token's claim naming the caller: sub or client_id")
	fs.StringVar(&o.external.ConsumerBy, "oauth2-consumer-by", keygate.ConsumerByID, "what that claim holds: id, username or oauth_client")
	fs.BoolVar(&o.external.AllowPlainJWT, "oauth2-allow-plain-jwt", false, "also take the external issuer's tokens with typ JWT or none")
	return o
}

// from applies the oauth2 flags given to cur (nil: the defaults), as
// keyAuthFrom does; the external issuer flags edit the first external
// issuer (the others, set through the API, are kept).
func (o *oauth2Settings) from(fs *pflag.FlagSet, cur *keygate.OAuth2AuthConfig) (*keygate.OAuth2AuthConfig, error) {
	if fs.Changed("oauth2") && !o.on {
		return nil, nil
	}
	c := keygate.NewOAuth2AuthConfig()
	if cur != nil {
		cp := *cur
		cp.Issuers = slices.Clone(cur.Issuers)
		c = &cp
	}
	if fs.Changed("oauth2-scope") {
		c.Scopes = nonNil(o.c.Scopes)
	}
	if fs.Changed("oauth2-method-scope") {
		c.MethodScopes = map[string][]string{}
		for _, ms := range o.methodScopes {
			m, s, ok := strings.Cut(ms, "=")
			if !ok || m == "" || s == "" {
				return nil, fmt.Errorf("--oauth2-method-scope: %q is not METHOD=scope", ms)
			}
			m = strings.ToUpper(m)
			c.MethodScopes[m] = append(c.MethodScopes[m], s)
		}
	}
	if fs.Changed("oauth2-audience") {
		c.Audience = o.c.Audience
	}
	if fs.Changed("oauth2-leeway") {
		c.Leeway = o.c.Leeway
	}
	if fs.Changed("oauth2-hide-credentials") {
		c.HideCredentials = o.c.HideCredentials
	}
	hasLocal := slices.ContainsFunc(c.Issuers, func(i keygate.OAuth2Issuer) bool { return i.Local })
	if fs.Changed("oauth2-local") {
		hasLocal = o.local
	}
	external := slices.DeleteFunc(slices.Clone(c.Issuers), func(i keygate.OAuth2Issuer) bool { return i.Local })
	if anyChanged(fs, []string{"oauth2-external-issuer", "oauth2-jwks-uri", "oauth2-consumer-claim", "oauth2-consumer-by", "oauth2-allow-plain-jwt"}) {
		// The flags edit the first external issuer, or add one.
		if len(external) == 0 {
			external = []keygate.OAuth2Issuer{{ConsumerClaim: keygate.ClaimSub, ConsumerBy: keygate.ConsumerByID}}
		}
		e := &external[0]
		set := map[string]func(){
			"oauth2-external-issuer": func() { e.Issuer = o.external.Issuer },
			"oauth2-jwks-uri":        func() { e.JWKSURI = o.external.JWKSURI },
			"oauth2-consumer-claim":  func() { e.ConsumerClaim = o.external.ConsumerClaim },
			"oauth2-consumer-by":     func() { e.ConsumerBy = o.external.ConsumerBy },
			"oauth2-allow-plain-jwt": func() { e.AllowPlainJWT = o.external.AllowPlainJWT },
		}
		for name, apply := range set {
			if fs.Changed(name) {
				apply()
			}
		}
		if e.Issuer == "" && e.JWKSURI == "" {
			external = external[1:] // both emptied: the issuer is removed
		}
	}
	c.Issuers = []keygate.OAuth2Issuer{}
	if hasLocal {
		c.Issuers = append(c.Issuers, keygate.OAuth2Issuer{Local: true})
	}
	c.Issuers = append(c.Issuers, external...)
	return c, nil
}
