package keygate

import (
	"context"
	"time"
)

// Route payload encryption modes (Route.PayloadEncryption).
const (
	// PayloadEncryptionOff (or empty): bodies pass as they are.
	PayloadEncryptionOff = "off"
	// PayloadEncryptionStatic: bodies are sealed with one key per route,
	// generated or given by an admin and sealed by the keyring, for legacy
	// and internal clients.
	PayloadEncryptionStatic = "static"
	// PayloadEncryptionDynamic: bodies are sealed with a key generated for
	// each session at the handshake, wrapped to the client's public key.
	PayloadEncryptionDynamic = "dynamic"
)

// PayloadSession is a session of payload encryption: the AES-256-GCM key
// the gateway generated at a client's handshake, bound to the consumer that
// authenticated it and the service of the route it was made on. The key is
// sealed by the keyring (kind SealedPayloadSessionKey, the session's id);
// the client received it once, wrapped to its public key. If it leaks, only
// that session's traffic is exposed.
type PayloadSession struct {
	ID        string    `json:"id"`
	Consumer  Ref       `json:"consumer"`
	ServiceID string    `json:"service_id"`
	RouteID   string    `json:"route_id"`
	Mode      string    `json:"mode"`     // static or dynamic
	KeyType   string    `json:"key_type"` // the client's public key: x25519 or rsa-oaep-256
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	// Key is the sealed session key; read only by FindPayloadSession, never
	// serialized. A static session has none: it uses its route's static key.
	Key *Sealed `json:"-"`
}

// Expired reports whether the session has ended at now.
func (s *PayloadSession) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// Sealed kinds of payload encryption keys.
const (
	// SealedPayloadSessionKey is the kind of a session's key, id the session's.
	SealedPayloadSessionKey = "payload_session"
	// SealedPayloadStaticKey is the kind of a route's static key (a secret
	// of the SecretStore), id the route's.
	SealedPayloadStaticKey = "payload_static_key"
)

// Session lifetimes.
const (
	DefaultPayloadSessionLifetime = time.Hour
	MaxPayloadSessionLifetime     = 24 * time.Hour
	MinPayloadSessionLifetime     = time.Minute
)

// PayloadSessionStore persists payload encryption sessions. Every method is
// one transaction.
type PayloadSessionStore interface {
	// CreatePayloadSession stores s with the key seal returns (called in the
	// transaction once the id is known; nil for a static session). It sets
	// ID and CreatedAt; the consumer must exist (ENOTFOUND) and ExpiresAt is
	// kept as given. It reports a Created PayloadSessionChanged, which the
	// audit trail records as payload_session.created (never the key).
	CreatePayloadSession(ctx context.Context, s *PayloadSession, seal func(id string) (*Sealed, error)) error
	// FindPayloadSession returns the session with its sealed key, expired
	// or not (the caller compares ExpiresAt with its clock); ENOTFOUND
	// when absent.
	FindPayloadSession(ctx context.Context, id string) (*PayloadSession, error)
	// ListPayloadSessions lists sessions in creation order, of one
	// consumer when consumerID is set, without their keys.
	ListPayloadSessions(ctx context.Context, consumerID string, p Page) (sessions []*PayloadSession, next string, err error)
	// DeletePayloadSession ends a session (logout) and destroys its key;
	// ENOTFOUND when absent. It reports a Deleted PayloadSessionChanged,
	// with action logged_out, so every node drops its copy of the key.
	DeletePayloadSession(ctx context.Context, id string) error
	// DeleteExpiredPayloadSessions deletes up to limit sessions that
	// expired before before, with their keys, and says how many. Nothing is
	// reported: an expired session is refused on every node by its expiry.
	DeleteExpiredPayloadSessions(ctx context.Context, before time.Time, limit int) (int64, error)
}

// EncryptsPayloads reports whether bodies on r travel sealed.
func (r *Route) EncryptsPayloads() bool {
	return r.PayloadEncryption == PayloadEncryptionStatic || r.PayloadEncryption == PayloadEncryptionDynamic
}

func (r *Route) validatePayloadEncryption() error {
	switch r.PayloadEncryption {
	case "", PayloadEncryptionOff:
		return nil
	case PayloadEncryptionStatic, PayloadEncryptionDynamic:
		// A session belongs to a consumer: an open route has nobody to give one to.
		if r.KeyAuth == nil && r.HMACAuth == nil {
			return Errorf(EINVALID, "payload_encryption: needs an authentication method on the route (key_auth or hmac_auth)")
		}
		return nil
	}
	return Errorf(EINVALID, "payload_encryption: must be off, static or dynamic")
}

// PayloadKeyRequest sets a route's static key (POST
// /v1/routes/{route}/payload-key): Key, the standard base64 of 32 bytes, to
// keep one clients hold already; empty to have one generated.
type PayloadKeyRequest struct {
	Key string `json:"key,omitempty"`
}

// IssuedPayloadKey is a route's static key, shown once.
type IssuedPayloadKey struct {
	Route string `json:"route"`
	Key   string `json:"key"`
}

// EventData is what the payload_session events say about s: never its key.
func (s *PayloadSession) EventData(by string) map[string]any {
	return map[string]any{"session_id": s.ID, "route_id": s.RouteID, "service_id": s.ServiceID, "mode": s.Mode,
		"key_type": s.KeyType, "expires_at": s.ExpiresAt, "by": by}
}
