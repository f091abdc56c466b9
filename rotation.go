package keygate

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// RotationPolicy is a consumer's scheduled key rotation. Each of its active
// API keys is due for rotation Every seconds after it was issued; a
// key.rotation_due event goes out Notice seconds before that. With Auto, the
// lifecycle jobs rotate the key when it is due, keep the old key working for
// Overlap seconds more, and hand the new key to the consumer: sealed to its
// PublicKey in the key.rotated event (see SealRotatedKey), or, without a
// public key, kept sealed by the keyring for one pickup through the
// gateway's self-service rotation, with the old key.
type RotationPolicy struct {
	Every   int  `json:"every"`
	Overlap int  `json:"overlap"`
	Notice  int  `json:"notice"`
	Auto    bool `json:"auto"`
}

// Bounds of a rotation policy, in seconds.
const (
	MinRotationEvery = 24 * 60 * 60
	MaxRotationEvery = MaxKeyTTL
	// MinAutoRotationOverlap: an automatic rotation's new key must be able
	// to reach the consumer (a webhook delivery and its retries, a pickup
	// made with the old key) before the old key stops working.
	MinAutoRotationOverlap = 60 * 60
)

// Validate reports the first invalid field.
func (p *RotationPolicy) Validate() error {
	switch {
	case p.Every < MinRotationEvery || p.Every > MaxRotationEvery:
		return Errorf(EINVALID, "rotation_policy.every: must be from %d (1 day) to %d seconds (10 years)", MinRotationEvery, MaxRotationEvery)
	case p.Overlap < 0 || p.Overlap > MaxGracePeriod:
		return Errorf(EINVALID, "rotation_policy.overlap: must be from 0 to %d seconds (30 days)", MaxGracePeriod)
	case p.Overlap >= p.Every:
		return Errorf(EINVALID, "rotation_policy.overlap: must be shorter than every")
	case p.Auto && p.Overlap < MinAutoRotationOverlap:
		return Errorf(EINVALID, "rotation_policy.overlap: must be at least %d seconds (1 hour) when auto is set, so that the new key reaches the consumer before the old one stops working", MinAutoRotationOverlap)
	case p.Notice < 0:
		return Errorf(EINVALID, "rotation_policy.notice: must not be negative")
	case p.Notice >= p.Every:
		return Errorf(EINVALID, "rotation_policy.notice: must be shorter than every")
	}
	return nil
}

// DueAt is when a key created at created is due for rotation.
func (p *RotationPolicy) DueAt(created time.Time) time.Time {
	return created.Add(time.Duration(p.Every) * time.Second)
}

// DueRotation is a key its consumer's rotation policy makes due for
// rotation, with that consumer (its policy and public key) and the moment it
// is due.
type DueRotation struct {
	Key      *APIKey
	Consumer *Consumer
	DueAt    time.Time
}

// SealedRotationPickup is the Sealed.Kind of the new key of an automatic
// rotation, kept for pickup; the Sealed.ID is the old key's id.
const SealedRotationPickup = "rotation_pickup"

// ParseRotationPublicKey parses a consumer's public_key: the standard base64
// of an X25519 public key (32 bytes). Keys of low order, to which nothing
// can be sealed, are refused. Errors never echo the input.
func ParseRotationPublicKey(s string) (*ecdh.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, Errorf(EINVALID, "public_key: must be standard base64")
	}
	if len(b) != 32 {
		return nil, Errorf(EINVALID, "public_key: must be an X25519 public key of 32 bytes, not %d", len(b))
	}
	pub, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		return nil, Errorf(EINVALID, "public_key: not an X25519 public key")
	}
	// A low-order point makes every shared secret zero; crypto/ecdh refuses
	// the exchange. Any private key shows it.
	if _, err := lowOrderProbe.ECDH(pub); err != nil {
		return nil, Errorf(EINVALID, "public_key: a low-order X25519 point, which cannot be sealed to")
	}
	return pub, nil
}

// lowOrderProbe is a fixed X25519 private key; its only use is to find
// public keys of low order.
var lowOrderProbe = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey([]byte("keygate low-order point probe 32"))
	if err != nil {
		panic(err)
	}
	return k
}()

// RotationSealInfo starts the HPKE info of a key sealed to a consumer; the
// new key's id follows, so that a sealed key copied into another event
// does not open.
const RotationSealInfo = "keygate key rotation "

// SealRotatedKey seals key (the new key of an automatic rotation, whose id
// is successorID) to a consumer's X25519 public key with HPKE (RFC 9180,
// base mode): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, info
// RotationSealInfo + successorID, no additional data. The result is the
// standard base64 of the encapsulated key (32 bytes) followed by the
// ciphertext: the sealed_key of the key.rotated event.
func SealRotatedKey(pub *ecdh.PublicKey, successorID, key string) (string, error) {
	if pub == nil || pub.Curve() != ecdh.X25519() {
		return "", errors.New("keygate: seal rotated key: not an X25519 public key")
	}
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("keygate: seal rotated key: %w", err)
	}
	ct, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(RotationSealInfo+successorID), []byte(key))
	if err != nil {
		return "", fmt.Errorf("keygate: seal rotated key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// OpenRotatedKey opens what SealRotatedKey sealed, with the consumer's
// X25519 private key and the new key's id.
func OpenRotatedKey(priv *ecdh.PrivateKey, successorID, sealed string) (string, error) {
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return "", errors.New("keygate: open rotated key: not an X25519 private key")
	}
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return "", errors.New("keygate: open rotated key: sealed_key is not standard base64")
	}
	k, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("keygate: open rotated key: %w", err)
	}
	pt, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(RotationSealInfo+successorID), ct)
	if err != nil {
		return "", errors.New("keygate: open rotated key: does not open with this private key and key id")
	}
	return string(pt), nil
}
