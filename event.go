package keygate

import (
	"context"
	"time"
)

// Event types: what webhooks subscribe to.
const (
	EventKeyCreated      = "key.created"
	EventKeyExpiring     = "key.expiring"
	EventKeyRotated      = "key.rotated"
	EventKeyRevoked      = "key.revoked"
	EventKeyLeaked       = "key.leaked"
	EventAccessRequested = "access.requested"
	EventAccessApproved  = "access.approved"
	EventAccessDenied    = "access.denied"
	// EventHMACCredentialExpiring is key.expiring for HMAC credentials. It
	// is a type of its own because its data differ (hmac_credential_id and
	// username, not key_id, name and start) and so does the remedy (a new
	// credential, not a key rotation): a receiver subscribed to key.expiring
	// must not get events it cannot act on.
	EventHMACCredentialExpiring = "hmac_credential.expiring"
	// EventKeyRotationDue goes out once per key, its consumer's rotation
	// policy's notice ahead of the moment the key is due for rotation.
	EventKeyRotationDue = "key.rotation_due"
	// EventServiceDeployed goes out when a pipeline reports a deploy
	// (POST /v1/services/{name}/deploy): the service now runs elsewhere.
	EventServiceDeployed = "service.deployed"
	// EventAnomalyDetected goes out when the anomaly detector raises an
	// alert (its data: the Anomaly's fields, explanation in words).
	EventAnomalyDetected = "anomaly.detected"
	// EventAccessTokenRevoked goes out when an OAuth client revokes one of
	// its access tokens (RFC 7009). Issuing a token sends no event: tokens
	// are issued far too often for webhooks.
	EventAccessTokenRevoked = "access_token.revoked"
	// EventPayloadSessionCreated and EventPayloadSessionEnded go out when a
	// client starts a payload encryption session and when it (or an admin)
	// ends one; never with the session's key.
	EventPayloadSessionCreated = "payload_session.created"
	EventPayloadSessionEnded   = "payload_session.ended"
)

// EventTypes lists every event type, for validating subscriptions.
var EventTypes = []string{EventKeyCreated, EventKeyExpiring, EventKeyRotationDue, EventKeyRotated, EventKeyRevoked, EventKeyLeaked,
	EventHMACCredentialExpiring, EventAccessRequested, EventAccessApproved, EventAccessDenied, EventServiceDeployed,
	EventAccessTokenRevoked, EventAnomalyDetected, EventPayloadSessionCreated, EventPayloadSessionEnded}

// Event is something that happened to a credential or an access request.
// Data never holds a secret, with one exception the receiver asked for: the
// sealed_key of a key.rotated event of an automatic rotation, the new key
// sealed to the public key the consumer registered, which only the
// consumer's private key opens (see SealRotatedKey).
type Event struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	CreatedAt  time.Time      `json:"created_at"`
	ConsumerID string         `json:"consumer_id,omitempty"`
	Data       map[string]any `json:"data"`
}

// Publisher records an event for delivery to the webhooks subscribed to it.
// It must be quick and must not wait for any delivery: callers are admin
// requests and the gateway's request path.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}
