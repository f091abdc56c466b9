package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// Rotator issues a successor for an API key and keeps the old key working
// until a grace period ends, so callers switch without a failed request.
type Rotator struct {
	Store  keygate.KeyStore
	Keys   *apikey.Format // the successor gets the current prefix
	Hasher *apikey.Hasher
	Events keygate.Publisher // nil: none
	Now    func() time.Time  // nil: time.Now
}

var _ keygate.KeyRotator = (*Rotator)(nil)

// Rotate issues the successor of key id: same consumer, name, restrictions
// and tags; the old key stops working when the grace period ends. A key that
// expires hands its lifetime on (the successor lives as long from now as the
// old key was issued for), so rotating never makes a key live forever by
// accident.
func (r *Rotator) Rotate(ctx context.Context, id string, req keygate.RotateKeyRequest) (*keygate.KeyRotation, error) {
	grace := keygate.DefaultGracePeriod
	if req.GracePeriod != nil {
		grace = *req.GracePeriod
	}
	if grace < 0 || grace > keygate.MaxGracePeriod {
		return nil, keygate.Errorf(keygate.EINVALID, "grace_period: must be from 0 to %d seconds", keygate.MaxGracePeriod)
	}
	old, err := r.Store.FindKey(ctx, id)
	if err != nil {
		return nil, err
	}
	now := r.now()
	key, err := r.Keys.Generate()
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	hash := r.Hasher.Hash(key)
	next := &keygate.APIKey{
		Consumer: old.Consumer, Name: old.Name, Status: keygate.KeyActive,
		AllowedServices: old.AllowedServices, AllowedRoutes: old.AllowedRoutes, AllowedCIDRs: old.AllowedCIDRs, Tags: old.Tags,
		Identifier: key.Identifier(), Prefix: key.Prefix(), Start: key.Start(), SecretHash: hash[:],
	}
	if old.ExpiresAt != nil {
		end := now.Add(old.ExpiresAt.Sub(old.CreatedAt)).UTC()
		next.ExpiresAt = &end
	}
	prev, err := r.Store.RotateKey(ctx, id, next, now.Add(time.Duration(grace)*time.Second))
	if err != nil {
		return nil, err
	}
	if r.Events != nil {
		// The rotation is stored; a lost notice must not undo or fail it.
		r.Events.Publish(ctx, keygate.Event{Type: keygate.EventKeyRotated, CreatedAt: now, ConsumerID: prev.Consumer.ID,
			Data: map[string]any{"key_id": prev.ID, "successor_id": next.ID, "previous_expires_at": prev.ExpiresAt}})
	}
	return &keygate.KeyRotation{Key: keygate.IssuedKey{APIKey: *next, Key: key.Reveal()}, Previous: *prev}, nil
}

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
