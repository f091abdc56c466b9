package keygate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Wire types of the admin API that are not stored entities. The server
// (package adminapi) and the Go client (package client) share them, so the
// two cannot drift apart.

// List is the envelope of every list response, with Kong's field names.
// Offset is the cursor of the next page; Next is the URL path of the next
// page, null after the last one.
type List[T any] struct {
	Data   []T     `json:"data"`
	Offset string  `json:"offset,omitempty"`
	Next   *string `json:"next"`
}

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error: Code is one of the E* constants.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// MaxKeyTTL is the longest lifetime a key can be given by TTL, in seconds (10 years).
const MaxKeyTTL = 10 * 365 * 24 * 60 * 60

// Expiry resolves a credential request's lifetime at now: a TTL in seconds
// or an absolute time, never both, in the future and at most MaxKeyTTL
// seconds away; nil when neither is given (no expiry). The time is UTC.
func Expiry(now time.Time, ttl *int, expiresAt *time.Time) (*time.Time, error) {
	var t time.Time
	switch {
	case ttl != nil && expiresAt != nil:
		return nil, Errorf(EINVALID, "ttl: cannot be given together with expires_at")
	case ttl != nil:
		if *ttl < 1 || *ttl > MaxKeyTTL {
			return nil, Errorf(EINVALID, "ttl: must be from 1 to %d seconds", MaxKeyTTL)
		}
		t = now.Add(time.Duration(*ttl) * time.Second)
	case expiresAt != nil:
		if !expiresAt.After(now) {
			return nil, Errorf(EINVALID, "expires_at: must be in the future")
		}
		// The same bound as ttl; it also keeps expiry within what the
		// gateway's clock arithmetic (unix nanoseconds, until 2262) can hold.
		if expiresAt.After(now.Add(MaxKeyTTL * time.Second)) {
			return nil, Errorf(EINVALID, "expires_at: must be at most %d seconds (10 years) from now", MaxKeyTTL)
		}
		t = *expiresAt
	default:
		return nil, nil
	}
	t = t.UTC()
	return &t, nil
}

// KeyRequest asks for a new API key for a consumer. Services and routes are
// given by id or name. ExpiresAt and TTL (seconds) are alternatives; without
// either the key does not expire.
type KeyRequest struct {
	Name            string     `json:"name,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	TTL             *int       `json:"ttl,omitempty"` // a pointer, so that an explicit 0 is refused rather than meaning "never"
	AllowedServices []string   `json:"allowed_services,omitempty"`
	AllowedRoutes   []string   `json:"allowed_routes,omitempty"`
	AllowedCIDRs    []string   `json:"allowed_cidrs,omitempty"`
	Tags            []string   `json:"tags,omitempty"`
	// Plan is the usage plan the key is limited by instead of its
	// consumer's (id or name).
	Plan *Ref `json:"plan,omitempty"`
	// Permissions and Roles the key holds itself (names), besides its consumer's.
	Permissions []string `json:"permissions,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	// Enabled false issues the key disabled; Meta and Credits as APIKey's.
	Enabled *bool           `json:"enabled,omitempty"`
	Meta    json.RawMessage `json:"meta,omitempty"`
	Credits *Credits        `json:"credits,omitempty"`
}

// KeyImport is the body of POST /v1/consumers/{consumer}/keys that imports
// an existing key (one of Kong's key-auth keys) instead of issuing one: Key
// is the key itself, which then keeps working as it is, and Import must be
// true. The answer is the stored key, without Key. Every way of printing a
// KeyImport hides Key.
type KeyImport struct {
	KeyRequest
	Key    string `json:"key,omitempty"`
	Import bool   `json:"import,omitempty"`
}

// Format prints r with its key redacted, whatever the verb.
func (r KeyImport) Format(f fmt.State, _ rune) {
	key := ""
	if r.Key != "" {
		key = "<redacted>"
	}
	fmt.Fprintf(f, "{KeyRequest:%+v Key:%s Import:%v}", r.KeyRequest, key, r.Import)
}

// LogValue logs r as Format prints it, key redacted.
func (r KeyImport) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(r)) }

// IssuedKey is the answer to a KeyRequest: the stored key and, in Key, the
// full key. It is the only response that ever holds the full key.
type IssuedKey struct {
	APIKey
	Key string `json:"key"`
}

// RotateKeyRequest is the body of POST /v1/keys/{id}/rotate and of the
// gateway's self-service rotation.
type RotateKeyRequest struct {
	// GracePeriod is how many seconds the old key keeps working (default
	// DefaultGracePeriod, at most MaxGracePeriod).
	GracePeriod *int `json:"grace_period,omitempty"`
}

// Grace periods of a rotation, in seconds.
const (
	DefaultGracePeriod = 24 * 60 * 60
	MaxGracePeriod     = 30 * 24 * 60 * 60
)

// KeyRotation answers a rotation: the successor, shown once, and the old
// key, whose expires_at is when it stops working.
type KeyRotation struct {
	Key      IssuedKey `json:"key"`
	Previous APIKey    `json:"previous"`
}

// KeyRotator rotates API keys: the admin API and the gateway's self-service
// rotation share one.
type KeyRotator interface {
	Rotate(ctx context.Context, keyID string, req RotateKeyRequest) (*KeyRotation, error)
}

// RotationPickup hands the holder of a key the successor an automatic
// rotation issued for it and kept for pickup (see RotationPolicy): the
// gateway's self-service rotation answers with it, once, when the key has a
// successor already.
type RotationPickup interface {
	// PickUp returns the successor of key keyID, shown this once, and the
	// old key, as Rotate does. ENOTFOUND when none waits for keyID.
	PickUp(ctx context.Context, keyID string) (*KeyRotation, error)
}

// VerifyRequest asks whether Key may be used for a service and/or route
// (id or name) from IP; empty fields are not checked.
type VerifyRequest struct {
	Key     string `json:"key"`
	Service string `json:"service,omitempty"`
	Route   string `json:"route,omitempty"`
	IP      string `json:"ip,omitempty"`
	// Permissions is a permission query the key must satisfy
	// ("documents.read AND (documents.write OR admin)"), else the answer is
	// INSUFFICIENT_PERMISSIONS; see package permquery.
	Permissions string `json:"permissions,omitempty"`
	// Method, with Route, also applies the route's permission query for
	// that HTTP method, as the gateway would.
	Method string `json:"method,omitempty"`
	// Cost is what this use counts against the plan's limits and the
	// key's credits (default: the plan's cost for the route, else 1; 0
	// checks without counting).
	Cost *int `json:"cost,omitempty"`
	// RateLimits spends named limits of the key's plan (Plan.Named), each
	// by its own cost, after the plan's own limits.
	RateLimits []NamedCost `json:"ratelimits,omitempty"`
}

// NamedCost is what one use counts against the plan's named limit Name
// (Cost: default 1; 0 checks without counting).
type NamedCost struct {
	Name string `json:"name"`
	Cost *int   `json:"cost,omitempty"`
}

// VerifyResponse is the outcome of a VerifyRequest. The key's details are
// present whenever the key was found, whatever the code.
type VerifyResponse struct {
	Valid           bool            `json:"valid"`
	Code            VerifyCode      `json:"code"`
	KeyID           string          `json:"key_id,omitempty"`
	Consumer        *VerifiedCaller `json:"consumer,omitempty"`
	Status          KeyStatus       `json:"status,omitempty"`
	ExpiresAt       *time.Time      `json:"expires_at,omitempty"`
	AllowedServices []string        `json:"allowed_services,omitempty"`
	AllowedRoutes   []string        `json:"allowed_routes,omitempty"`
	AllowedCIDRs    []string        `json:"allowed_cidrs,omitempty"`
	Name            string          `json:"name,omitempty"`
	Meta            json.RawMessage `json:"meta,omitempty"`
	Enabled         *bool           `json:"enabled,omitempty"`
	// Credits are the key's remaining credits after this use; nil for a
	// key without credits.
	Credits *VerifiedCredits `json:"credits,omitempty"`
	// Limits are the plan's limits' state after this use, as the
	// gateway's RateLimit headers tell it; nil without a plan.
	Limits []VerifiedLimit `json:"limits,omitempty"`
	// Permissions and Roles are what the key holds, itself and through its
	// consumer and roles.
	Permissions []string `json:"permissions,omitempty"`
	Roles       []string `json:"roles,omitempty"`
}

// VerifiedCredits are a key's remaining credits, as a verify tells them.
type VerifiedCredits struct {
	Remaining int64 `json:"remaining"`
}

// VerifiedLimit is one limit's state after a verify: Name is "rate" or a
// quota's period (minute, hour, day, month); Reset is in seconds.
type VerifiedLimit struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	Reset     int64  `json:"reset"`
}

// VerifiedCaller is the consumer a verified key belongs to. Groups let a
// service that checks keys itself apply its own ACL.
type VerifiedCaller struct {
	ID       string          `json:"id"`
	Username string          `json:"username,omitempty"`
	CustomID string          `json:"custom_id,omitempty"`
	Groups   []string        `json:"groups"`
	Meta     json.RawMessage `json:"meta,omitempty"`
}
