// Package auth defines how the gateway asks a credential kind (API key, HMAC
// signature, ...) who is calling. Each kind lives in a subpackage.
package auth

import (
	"context"
	"time"

	"github.com/keygate/keygate"
	"github.com/valyala/fasthttp"
)

// Verdict is what an authenticator concluded about one request.
type Verdict uint8

const (
	// Absent: the request carries no credential of this kind; the gateway may
	// try another kind or the route's anonymous consumer.
	Absent Verdict = iota
	// Granted: the credential is valid for this target.
	Granted
	// Unauthenticated: a credential was presented but is not valid (401).
	Unauthenticated
	// Forbidden: the credential is valid but not for this target (403).
	Forbidden
	// TooLarge: the body the credential covers is larger than the route
	// lets the gateway read to check it (413).
	TooLarge
)

// Result is an authenticator's answer. Message is for the client on every
// verdict but Granted and never contains the credential. Consumer is set on
// Granted, and on Forbidden when the credential was found (for metering).
type Result struct {
	Verdict  Verdict
	Consumer *keygate.Consumer
	// CredentialID identifies the credential to the upstream (X-Credential-Identifier).
	CredentialID string
	// CredentialRecord is the stored credential's id (a key's, an HMAC
	// credential's): what usage is counted by. Lineage is what per-credential
	// limits are counted by: for a key, the first key of its rotation chain,
	// so that rotating does not reset them; otherwise CredentialRecord.
	CredentialRecord string
	Lineage          string
	// PlanID is the usage plan the request is limited by ("" for none).
	PlanID  string
	Message string
	// WWWAuthenticate, when set, is the WWW-Authenticate value of this
	// refusal (401 or 403) instead of the authenticator's Challenge: RFC
	// 6750 names the error in it (invalid_token, insufficient_scope).
	WWWAuthenticate string
	// Sunset is when the credential stops working (zero: no end), and
	// DeprecatedAt, when set, when it was replaced by a successor: the
	// gateway tells callers (Sunset and Deprecation headers).
	Sunset       time.Time
	DeprecatedAt time.Time
	// Reason, on Unauthenticated, is why the credential was refused when
	// the authenticator knows (keygate.CodeRevoked, ...; "" otherwise), and
	// Presented the non-secret part of what was presented (a key's prefix
	// and identifier), both for the anomaly detector. On CodeRevoked and
	// CodeExpired, Consumer and CredentialRecord name the key found.
	Reason    keygate.VerifyCode
	Presented string
	// Credits: the credential has credits (keygate.Credits), which each
	// request spends.
	Credits bool
	// Meta is the credential's meta, compacted JSON ("": none), for routes
	// that forward some of it (key_auth.forward_meta).
	Meta string
}

// Authenticator checks one kind of credential on a request, as configured on
// one route. It returns an error only for a technical failure (a store
// outage), never for a bad credential, so that denied and failed stay apart.
// On Granted it may remove the credential from r (hide_credentials).
//
// r is the request as the gateway's listener received it (fasthttp, with
// StreamRequestBody: a body arrives as r.BodyStream()). Its request URI is
// the raw one the caller sent; an authenticator that reads the body puts
// what it read back with r.SetBody, so that the upstream gets it intact.
// ctx bounds store lookups.
type Authenticator interface {
	Authenticate(ctx context.Context, r *fasthttp.Request, t keygate.Target) (Result, error)
	// Challenge is the WWW-Authenticate value sent with a 401.
	Challenge() string
}
