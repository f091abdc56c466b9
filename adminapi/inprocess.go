package adminapi

import (
	"context"

	"github.com/keygate/keygate"
)

// The methods below are the admin API's key actions for callers in the same
// process that have authenticated and authorised the user themselves (the
// admin console): the same validation, store calls and events as
// POST /v1/consumers/{consumer}/keys and POST /v1/keys/{id}/revoke, with
// the actor taken from ctx (keygate.WithActor).

// IssueKey issues a new key to consumer (id or username). The answer holds
// the key itself: show it once, never store or log it.
func (s *Server) IssueKey(ctx context.Context, consumer string, req keygate.KeyRequest) (*keygate.IssuedKey, error) {
	k, err := s.newKey(ctx, consumer, req)
	if err != nil {
		return nil, err
	}
	key, err := s.mintKey(k)
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateKey(ctx, k); err != nil {
		return nil, err
	}
	s.publish(ctx, keygate.EventKeyCreated, k.Consumer.ID, map[string]any{"key_id": k.ID, "name": k.Name, "start": k.Start, "expires_at": k.ExpiresAt})
	return &keygate.IssuedKey{APIKey: *k, Key: key.Reveal()}, nil
}

// RevokeKey revokes the key with id.
func (s *Server) RevokeKey(ctx context.Context, id string) (*keygate.APIKey, error) {
	k, err := s.Store.RevokeKey(ctx, id)
	if err != nil {
		return nil, err
	}
	actor, reason := keygate.Audit(ctx)
	s.publish(ctx, keygate.EventKeyRevoked, k.Consumer.ID, map[string]any{"key_id": k.ID, "start": k.Start, "by": actor, "reason": reason})
	return k, nil
}

// The methods below serve the consumer portal, which checks itself that its
// user acts for the consumer concerned.

// RotateKey issues key id's successor (shown once); the old key keeps
// working for req's grace period.
func (s *Server) RotateKey(ctx context.Context, id string, req keygate.RotateKeyRequest) (*keygate.KeyRotation, error) {
	if s.Rotator == nil {
		return nil, keygate.Errorf(keygate.EINTERNAL, "adminapi: no key rotator")
	}
	return s.Rotator.Rotate(ctx, id, req)
}

// RequestAccess stores an access request made by by, as POST
// /v1/access-requests does (access rules may approve it at once). The
// answer holds the pickup token, shown once.
func (s *Server) RequestAccess(ctx context.Context, in keygate.AccessRequestInput, by string) (*keygate.CreatedAccessRequest, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return s.requestAccess(ctx, in, by)
}

// PickUpAccess hands over an approved request's key, once.
func (s *Server) PickUpAccess(ctx context.Context, id string) (*keygate.AccessPickup, error) {
	return s.pickUpAccess(ctx, id)
}

// CreateWebhook creates a webhook of consumerID; its secret is in the
// answer, this once.
func (s *Server) CreateWebhook(ctx context.Context, consumerID string, req keygate.WebhookRequest) (*keygate.IssuedWebhook, error) {
	if consumerID == "" {
		return nil, keygate.Errorf(keygate.EINVALID, "consumer: required")
	}
	return s.createWebhookFor(ctx, consumerID, req)
}
