package keyauth

import (
	"bytes"
	"context"
	"net/textproto"
	"strings"
	"unique"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth"
	"github.com/valyala/fasthttp"
)

// Messages as Kong's key-auth sends them.
const (
	msgNoKey        = "No API key found in request"
	msgDuplicate    = "Duplicate API key found"
	msgUnauthorized = "Unauthorized"
	msgForbidden    = "You cannot consume this service"
	msgIPNotAllowed = "Your IP address is not allowed"
	// msgInsufficientPermissions: the key lacks what the route asks of this method.
	msgInsufficientPermissions = "Your key lacks the permissions this request needs"
)

// Authenticator is key-auth as configured on one route.
type Authenticator struct {
	cfg      keygate.KeyAuthConfig
	headers  []string // canonical header names, in key_names order
	verifier keygate.KeyVerifier
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New returns key-auth for one route; cfg has been validated with the route.
func New(cfg keygate.KeyAuthConfig, v keygate.KeyVerifier) *Authenticator {
	a := &Authenticator{cfg: cfg, verifier: v}
	for _, name := range cfg.KeyNames {
		a.headers = append(a.headers, textproto.CanonicalMIMEHeaderKey(name))
	}
	return a
}

// Challenge is sent with every 401, as Kong does.
func (a *Authenticator) Challenge() string { return `Key realm="keygate"` }

// where a key was found, so that hide_credentials can remove it.
type source uint8

const (
	fromHeader source = iota + 1
	fromQuery
	fromBearer
)

// Authenticate looks for a key under each configured name (header, then
// query), then in "Authorization: Bearer", and verifies the first one found.
func (a *Authenticator) Authenticate(ctx context.Context, r *fasthttp.Request, t keygate.Target) (auth.Result, error) {
	key, src, name, dup := a.find(r)
	if a.cfg.HideCredentials && src != 0 {
		// Hidden whatever the verdict: a bad key must not reach the upstream
		// either, for instance through the anonymous consumer.
		a.hide(r, src, name)
	}
	switch {
	case dup:
		return auth.Result{Verdict: auth.Unauthenticated, Message: msgDuplicate}, nil
	case key == "":
		return auth.Result{Verdict: auth.Absent, Message: msgNoKey}, nil
	}
	res, err := a.verifier.VerifyKey(ctx, key, t)
	if err != nil {
		return auth.Result{}, err
	}
	switch res.Code {
	case keygate.CodeValid:
	case keygate.CodeForbidden:
		return auth.Result{Verdict: auth.Forbidden, Message: msgForbidden, Consumer: res.Consumer, CredentialRecord: res.Key.ID}, nil
	case keygate.CodeIPNotAllowed:
		return auth.Result{Verdict: auth.Forbidden, Message: msgIPNotAllowed, Consumer: res.Consumer, CredentialRecord: res.Key.ID}, nil
	case keygate.CodeInsufficientPermissions:
		return auth.Result{Verdict: auth.Forbidden, Message: msgInsufficientPermissions, Consumer: res.Consumer, CredentialRecord: res.Key.ID}, nil
	default:
		refused := auth.Result{Verdict: auth.Unauthenticated, Message: msgUnauthorized, Reason: res.Code, Presented: presented(key)}
		if res.Key != nil {
			refused.Consumer, refused.CredentialRecord = res.Consumer, res.Key.ID
		}
		return refused, nil
	}
	granted := auth.Result{Verdict: auth.Granted, Consumer: res.Consumer, CredentialID: res.Key.ID,
		CredentialRecord: res.Key.ID, Lineage: res.Key.Lineage, PlanID: res.Key.Plan(res.Consumer), Credits: res.Key.Credits}
	granted.Sunset = res.Key.ExpiresAt
	if res.Key.Info != (unique.Handle[keygate.KeyInfo]{}) {
		granted.Meta = res.Key.Info.Value().Meta
	}
	if res.Key.Successor != nil {
		granted.DeprecatedAt = res.Key.Successor.At
	}
	return granted, nil
}

// find returns the first key present, where it was and under which name
// (canonical header form).
// dup reports a name given more than once, which Kong refuses rather than guess.
func (a *Authenticator) find(r *fasthttp.Request) (key string, src source, name string, dup bool) {
	rawQuery := rawQueryOf(r)
	for i, n := range a.cfg.KeyNames {
		if a.cfg.KeyInHeader {
			if vs := r.Header.PeekAll(a.headers[i]); len(vs) > 0 {
				return string(vs[0]), fromHeader, a.headers[i], len(vs) > 1
			}
		}
		if a.cfg.KeyInQuery && len(rawQuery) > 0 && bytes.Contains(rawQuery, []byte(n)) {
			if v, count := queryValue(rawQuery, n); count > 0 {
				return v, fromQuery, a.headers[i], count > 1
			}
		}
	}
	if a.cfg.KeyInBearer {
		if vs := r.Header.PeekAll("Authorization"); len(vs) > 0 {
			scheme, token, ok := bytes.Cut(vs[0], []byte(" "))
			if ok && strings.EqualFold(string(scheme), "Bearer") {
				return string(bytes.TrimSpace(token)), fromBearer, "Authorization", len(vs) > 1
			}
		}
	}
	return "", 0, "", false
}

// rawQueryOf is the query of r's request URI as the caller sent it: all
// after the first "?", as net/http reads it.
func rawQueryOf(r *fasthttp.Request) []byte {
	uri := r.Header.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[i+1:]
	}
	return nil
}

// hide removes the key: for a key name both the header and the query
// parameter of that name, as Kong does; for a bearer token the Authorization header.
func (a *Authenticator) hide(r *fasthttp.Request, src source, name string) {
	if src == fromBearer {
		name = "Authorization"
	}
	auth.RemoveHeaders(&r.Header, func(n []byte) bool { return string(n) == name })
	if src == fromBearer {
		return
	}
	rawQuery := rawQueryOf(r)
	if !a.cfg.KeyInQuery || len(rawQuery) == 0 {
		return
	}
	// The other parameters stay as the caller sent them, in their order.
	rest := withoutQueryParam(rawQuery, name)
	uri := r.Header.RequestURI()
	kept := append([]byte(nil), uri[:len(uri)-len(rawQuery)-1]...)
	if len(rest) > 0 {
		kept = append(append(kept, '?'), rest...)
	}
	r.Header.SetRequestURIBytes(kept)
}

// presented is the prefix and identifier of a key shaped like keygate's
// (<prefix>_<identifier><secret>_<checksum>), without the secret: what the
// anomaly detector counts guesses at one key by. "" for any other string.
// It slices key, allocating nothing.
func presented(key string) string {
	end := strings.LastIndexByte(key, '_') // before the checksum
	if end < 0 {
		return ""
	}
	start := strings.LastIndexByte(key[:end], '_') // after the prefix
	if start <= 0 || end-start-1 < apikey.IdentifierLen {
		return ""
	}
	return key[:start+1+apikey.IdentifierLen]
}
