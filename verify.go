package keygate

import (
	"context"
	"net/netip"
	"time"
	"unique"
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
	// CodeInsufficientPermissions: valid, but without the permissions asked for.
	CodeInsufficientPermissions VerifyCode = "INSUFFICIENT_PERMISSIONS"
	// CodeDisabled: the key, or its consumer, is disabled (enabled: false),
	// reversibly, unlike a revoke.
	CodeDisabled VerifyCode = "DISABLED"
	// CodeRateLimited: the plan's rate (or a named limit) refuses the
	// request for now; CodeUsageExceeded: a quota or the key's credits are
	// used up until they reset or refill.
	CodeRateLimited   VerifyCode = "RATE_LIMITED"
	CodeUsageExceeded VerifyCode = "USAGE_EXCEEDED"
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
	// Permissions, when set, must hold for the key's permissions
	// (VerifiedKey.Permissions), else INSUFFICIENT_PERMISSIONS.
	Permissions PermissionQuery
}

// VerifyResult is a verification outcome. Key and Consumer are set whenever
// the key was found, whatever the code; they are shared, read-only values.
type VerifyResult struct {
	Code     VerifyCode
	Key      *VerifiedKey
	Consumer *Consumer
}

// VerifiedKey is what a request and the verify API need of a verified API
// key, and no more: a node caches it for every key in use (a million of
// them, a few hundred bytes each), where the whole APIKey would take kilobytes.
type VerifiedKey struct {
	ID string
	// Lineage is the key's rotation chain (APIKey.Lineage).
	Lineage string
	// PlanID is the key's own usage plan; "" when its consumer's applies.
	PlanID    string
	Status    KeyStatus
	ExpiresAt time.Time // zero: never
	// Successor is set once the key was rotated: it then works only until
	// ExpiresAt, and callers are told it is deprecated.
	Successor *Successor
	// Restrictions are the key's; nil when it has none.
	Restrictions *KeyRestrictions
	// Grants are what the key holds (EffectivePermissions); nil when
	// none, as most keys, which then cost the cache one pointer for them.
	Grants *Grants
	// Disabled: the key was disabled (enabled: false).
	Disabled bool
	// Credits: the key has credits, which every use spends (see Credits);
	// how many remain is the store's to say.
	Credits bool
	// Info holds the key's name and meta, interned: keys alike share one
	// copy, so that they cost the cache a pointer. Zero: neither.
	Info unique.Handle[KeyInfo]
}

// KeyInfo is what the verify API tells about a key beyond its state. Meta
// is the key's meta, compacted JSON text ("": none).
type KeyInfo struct {
	Name string
	Meta string
}

// Details returns the key's name and meta.
func (k *VerifiedKey) Details() KeyInfo {
	if k == nil || k.Info == (unique.Handle[KeyInfo]{}) {
		return KeyInfo{}
	}
	return k.Info.Value()
}

// Successor is the key that replaced a rotated one, and when it did.
type Successor struct {
	ID string
	At time.Time
}

// KeyRestrictions are an API key's allowed services, routes and networks,
// as stored; an empty list allows everything.
type KeyRestrictions struct {
	Services, Routes, CIDRs []string
}

// Plan is the id of the usage plan the key's requests are limited by: the
// key's own, else its consumer's; "" for none.
func (k *VerifiedKey) Plan(c *Consumer) string {
	if k != nil && k.PlanID != "" {
		return k.PlanID
	}
	if c != nil && c.Plan != nil {
		return c.Plan.ID
	}
	return ""
}

// Valid reports whether the credential may be used.
func (r VerifyResult) Valid() bool { return r.Code == CodeValid }

// KeyVerifier checks API keys. A bad key is a result, not an error: the error
// is only for a technical failure (the store is down), so denied and failed
// never get confused.
type KeyVerifier interface {
	VerifyKey(ctx context.Context, key string, t Target) (VerifyResult, error)
}

// Grants are the permissions and roles a key holds, itself and through its
// consumer and roles, sorted.
type Grants struct {
	Permissions, Roles []string
}

// HeldPermissions are the permissions the key holds; nil for none.
func (k *VerifiedKey) HeldPermissions() []string {
	if k.Grants == nil {
		return nil
	}
	return k.Grants.Permissions
}

// HeldRoles are the roles the key holds; nil for none.
func (k *VerifiedKey) HeldRoles() []string {
	if k.Grants == nil {
		return nil
	}
	return k.Grants.Roles
}
