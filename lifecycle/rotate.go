package lifecycle

import (
	"context"
	"crypto/ecdh"
	"errors"
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
	// Seal and Open keep the new key of an automatic rotation for pickup
	// and open it when it is picked up: the keyring's Seal and Open. Nil:
	// automatic rotations need the consumer's public key and Events.
	Seal func(kind, id string, plaintext []byte) (*keygate.Sealed, error)
	Open func(*keygate.Sealed) ([]byte, error)
	// PickupPath is the gateway's self-service rotation path, where the old
	// key's holder picks a kept key up; the key.rotated event names it.
	// Empty: self-service rotation is off, and nothing is kept for pickup.
	PickupPath string
}

var (
	_ keygate.KeyRotator     = (*Rotator)(nil)
	_ keygate.RotationPickup = (*Rotator)(nil)
)

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
	next, key, err := r.successor(old, now)
	if err != nil {
		return nil, err
	}
	prev, err := r.Store.RotateKey(ctx, id, next, now.Add(time.Duration(grace)*time.Second))
	if err != nil {
		return nil, err
	}
	// The rotation is stored; a lost notice must not undo or fail it.
	r.publish(ctx, now, prev, next, nil)
	return &keygate.KeyRotation{Key: keygate.IssuedKey{APIKey: *next, Key: key.Reveal()}, Previous: *prev}, nil
}

// Delivery says how the new key of an automatic rotation reaches the
// consumer.
type Delivery string

const (
	// DeliverySealed: in the key.rotated event, sealed to the consumer's
	// public key (sealed_key).
	DeliverySealed Delivery = "sealed"
	// DeliveryPickup: kept sealed by the keyring until the old key's holder
	// picks it up at the gateway's self-service rotation path.
	DeliveryPickup Delivery = "pickup"
)

// ErrUndeliverable is the error of an automatic rotation whose new key
// could reach the consumer by no means: no public key (or no events to
// carry it) and no pickup (self-service rotation off, or no keyring). The
// key is left as it is.
var ErrUndeliverable = errors.New("the consumer has no public key and self-service rotation is off: the new key could not reach it")

// RotateScheduled rotates a key its consumer's automatic rotation policy
// makes due, as system:lifecycle would: the old key works for the policy's
// overlap more, and the new key is handed over (see Delivery) — never in
// clear. A key another node rotated a moment ago is ECONFLICT, from
// RotateKey, which rotates a key once.
//
// With DeliverySealed the rotation is stored before the event that carries
// the new key: if the event cannot be recorded, the error says so and the
// new key is lost; an admin rotates it (the old key still works for the
// overlap).
func (r *Rotator) RotateScheduled(ctx context.Context, d *keygate.DueRotation) (*keygate.APIKey, Delivery, error) {
	policy := d.Consumer.RotationPolicy
	if policy == nil || !policy.Auto {
		return nil, "", keygate.Errorf(keygate.EINVALID, "rotation_policy: the consumer's policy does not rotate keys automatically")
	}
	delivery, pub := r.delivery(d.Consumer)
	if delivery == "" {
		return nil, "", fmt.Errorf("lifecycle: key %s not rotated: %w", d.Key.ID, ErrUndeliverable)
	}
	now := r.now()
	next, key, err := r.successor(d.Key, now)
	if err != nil {
		return nil, "", err
	}
	graceEnd := now.Add(time.Duration(policy.Overlap) * time.Second)
	if delivery == DeliveryPickup {
		prev, err := r.Store.RotateKeyForPickup(ctx, d.Key.ID, next, graceEnd, func(id string) (*keygate.Sealed, error) {
			return r.Seal(keygate.SealedRotationPickup, id, []byte(key.Reveal()))
		})
		if err != nil {
			return nil, "", err
		}
		r.publish(ctx, now, prev, next, map[string]any{"scheduled": true, "pickup": r.PickupPath})
		return next, delivery, nil
	}
	prev, err := r.Store.RotateKey(ctx, d.Key.ID, next, graceEnd)
	if err != nil {
		return nil, "", err
	}
	sealed, err := keygate.SealRotatedKey(pub, next.ID, key.Reveal())
	if err == nil {
		err = r.Events.Publish(ctx, rotatedEvent(now, prev, next, map[string]any{"scheduled": true, "sealed_key": sealed}))
	}
	if err != nil {
		return next, delivery, fmt.Errorf("lifecycle: key %s rotated to %s, but the event carrying the new key was not recorded (rotate %s to issue another): %w",
			prev.ID, next.ID, next.ID, err)
	}
	return next, delivery, nil
}

// delivery picks how an automatic rotation's new key reaches consumer c:
// sealed to its public key when it has one (and events carry it), else
// for pickup when the gateway offers one. "" when neither can.
func (r *Rotator) delivery(c *keygate.Consumer) (Delivery, *ecdh.PublicKey) {
	if c.PublicKey != "" && r.Events != nil {
		// Validated when it was stored; one that no longer parses falls back to pickup.
		if pub, err := keygate.ParseRotationPublicKey(c.PublicKey); err == nil {
			return DeliverySealed, pub
		}
	}
	if r.PickupPath != "" && r.Seal != nil && r.Open != nil {
		return DeliveryPickup, nil
	}
	return "", nil
}

// PickUp hands the holder of key id the successor an automatic rotation
// kept for it, once; see keygate.RotationPickup.
func (r *Rotator) PickUp(ctx context.Context, id string) (*keygate.KeyRotation, error) {
	if r.Open == nil {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "key: no rotated key waits for pickup")
	}
	var plain []byte
	old, next, err := r.Store.PickUpRotatedKey(ctx, id, func(s *keygate.Sealed) error {
		var err error
		if plain, err = r.Open(s); err != nil {
			// The key is kept but does not open here (a keyring version this
			// node has not loaded yet): a failure to retry, never "nothing kept".
			return keygate.Unavailable(err, "the rotated key cannot be opened right now")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &keygate.KeyRotation{Key: keygate.IssuedKey{APIKey: *next, Key: string(plain)}, Previous: *old}, nil
}

// successor builds the successor of old at now, with its new key.
func (r *Rotator) successor(old *keygate.APIKey, now time.Time) (*keygate.APIKey, apikey.Key, error) {
	key, err := r.Keys.Generate()
	if err != nil {
		return nil, key, fmt.Errorf("generating key: %w", err)
	}
	hash := r.Hasher.Hash(key)
	next := &keygate.APIKey{
		Consumer: old.Consumer, Name: old.Name, Status: keygate.KeyActive,
		AllowedServices: old.AllowedServices, AllowedRoutes: old.AllowedRoutes, AllowedCIDRs: old.AllowedCIDRs, Tags: old.Tags,
		Permissions: old.Permissions, Roles: old.Roles, // what the key may do moves with it
		Identifier: key.Identifier(), Prefix: key.Prefix(), Start: key.Start(), SecretHash: hash[:], Plan: old.Plan,
	}
	if old.ExpiresAt != nil {
		end := now.Add(old.ExpiresAt.Sub(old.CreatedAt)).UTC()
		next.ExpiresAt = &end
	}
	return next, key, nil
}

// publish sends key.rotated with extra data, if there are events. The
// rotation is stored; a lost notice must not undo or fail it.
func (r *Rotator) publish(ctx context.Context, now time.Time, prev, next *keygate.APIKey, extra map[string]any) {
	if r.Events != nil {
		r.Events.Publish(ctx, rotatedEvent(now, prev, next, extra))
	}
}

func rotatedEvent(now time.Time, prev, next *keygate.APIKey, extra map[string]any) keygate.Event {
	data := map[string]any{"key_id": prev.ID, "successor_id": next.ID, "previous_expires_at": prev.ExpiresAt}
	for k, v := range extra {
		data[k] = v
	}
	return keygate.Event{Type: keygate.EventKeyRotated, CreatedAt: now, ConsumerID: prev.Consumer.ID, Data: data}
}

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
