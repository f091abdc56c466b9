package keygate

import (
	"context"
	"net/netip"
)

// VerifyCode is the outcome of checking a credential; part of the API.
type VerifyCode string

const (
	CodeValid        VerifyCode = "VALID"
	CodeMalformed    VerifyCode = "MALFORMED"      // not a key at all: bad shape or checksum
	CodeNotFound     VerifyCode = "NOT_FOUND"      // well-formed, but no such key (or wrong secret)
	CodeExpired      VerifyCode = "EXPIRED"        // past its expiry
	CodeRevoked      VerifyCode = "REVOKED"        // revoked
	CodeForbidden    VerifyCode = "FORBIDDEN"      // valid, but not for this service or route
	CodeIPNotAllowed VerifyCode = "IP_NOT_ALLOWED" // valid, but not from this address
)

// Target is what a credential is being used for. A key restricted to
// services, routes or networks is refused for a target that lacks the field
// it is restricted on.
type Target struct {
	ServiceID string
	RouteID   string
	IP        netip.Addr
	// Unscoped checks the key's state and network restrictions only: for a
	// request about the key itself (self-service rotation), not a service.
	Unscoped bool
}

// VerifyResult is a verification outcome. Key and Consumer are set whenever
// the key was found, whatever the code; they are shared, read-only values.
type VerifyResult struct {
	Code     VerifyCode
	Key      *APIKey
	Consumer *Consumer
}

// Valid reports whether the credential may be used.
func (r VerifyResult) Valid() bool { return r.Code == CodeValid }

// KeyVerifier checks API keys. A bad key is a result, not an error: the error
// is only for a technical failure (the store is down), so denied and failed
// never get confused.
type KeyVerifier interface {
	VerifyKey(ctx context.Context, key string, t Target) (VerifyResult, error)
}
