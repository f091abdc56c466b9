package adminapi

import (
	"context"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/keyring"
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

// RotateKey rotates the key with id as POST /v1/keys/{id}/rotate does: the
// successor (shown once) and the old key, which keeps working for the
// grace period.
func (s *Server) RotateKey(ctx context.Context, id string, req keygate.RotateKeyRequest) (*keygate.KeyRotation, error) {
	if s.Rotator == nil {
		return nil, keygate.Errorf(keygate.EINTERNAL, "adminapi: no key rotator")
	}
	return s.Rotator.Rotate(ctx, id, req)
}

// KeyringStatus is GET /v1/keyring: the versions, how many data keys each
// wraps, and how many a rewrap still has to move.
func (s *Server) KeyringStatus(ctx context.Context) (*keyring.Status, error) {
	if s.Keyring == nil {
		return nil, keygate.Errorf(keygate.EUNAVAILABLE, "no keyring on this node")
	}
	return s.Keyring.Status(ctx)
}

// RotateOAuthClientSecret issues a new secret for the OAuth client with id
// (or client_id), as POST /v1/oauth-clients/{id}/rotate-secret does: the
// answer holds it, shown once; the current one keeps working for the
// overlap req asks for.
func (s *Server) RotateOAuthClientSecret(ctx context.Context, id string, req keygate.RotateSecretRequest) (*keygate.IssuedOAuthClient, error) {
	overlap, err := req.OverlapDuration()
	if err != nil {
		return nil, err
	}
	c, err := s.Store.FindOAuthClient(ctx, id)
	if err != nil {
		return nil, err
	}
	secret, err := apikey.RandomBase62(clientSecretLen)
	if err != nil {
		return nil, err
	}
	c, err = s.Store.RotateOAuthClientSecret(ctx, c.ID, s.hashClientSecret(c.ClientID, secret), s.now().Add(overlap))
	if err != nil {
		return nil, err
	}
	return &keygate.IssuedOAuthClient{OAuthClient: *c, ClientSecret: secret}, nil
}

// DecideAccessRequest approves (issuing the key, kept sealed for its one
// pickup) or denies the pending access request id, as POST
// /v1/access-requests/{id}/approve and .../deny do. d.By names who decided;
// d.Reason, checked here, goes to the audit trail and the webhook.
func (s *Server) DecideAccessRequest(ctx context.Context, id string, approve bool, d keygate.AccessDecision) (*keygate.AccessRequest, error) {
	if err := keygate.ValidateAccessReason("reason", d.Reason); err != nil {
		return nil, err
	}
	if d.Reason != "" { // the audit trail records the key an approval issues with the decision's reason
		ctx = keygate.WithReason(ctx, d.Reason)
	}
	if approve {
		return s.approveAccess(ctx, id, d)
	}
	req, err := s.Store.DenyAccessRequest(ctx, id, d)
	if err != nil {
		return nil, err
	}
	s.publishAccess(ctx, keygate.EventAccessDenied, req, map[string]any{"decided_by": req.DecidedBy, "reason": req.DecisionReason})
	return req, nil
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

// ResolveAccessRule validates rule as POST and PATCH /v1/access-rules do
// and turns the services it names (ids or names) into ids.
func (s *Server) ResolveAccessRule(ctx context.Context, rule *keygate.AccessRule) error {
	return s.resolveRule(ctx, rule)
}
