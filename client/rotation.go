package client

import (
	"crypto/ecdh"
	"errors"
	"fmt"

	"github.com/keygate/keygate"
)

// OpenRotatedKey returns the new key of an automatic rotation from its
// key.rotated event (as a webhook received it, decoded into a
// keygate.Event), opened with the consumer's X25519 private key: the one
// whose public key is the consumer's public_key. The key was sealed with
// HPKE to that public key and bound to the new key's id (see
// keygate.SealRotatedKey), so only this private key opens it, and only as
// the key of that event.
//
// An event without sealed_key is one of a manual rotation, or of an
// automatic one whose new key waits for pickup: POST the old key to the
// path in its pickup field.
func OpenRotatedKey(priv *ecdh.PrivateKey, ev keygate.Event) (string, error) {
	if ev.Type != keygate.EventKeyRotated {
		return "", fmt.Errorf("keygate: open rotated key: a %q event, not %s", ev.Type, keygate.EventKeyRotated)
	}
	sealed, _ := ev.Data["sealed_key"].(string)
	successor, _ := ev.Data["successor_id"].(string)
	switch {
	case sealed == "" && ev.Data["pickup"] != nil:
		return "", fmt.Errorf("keygate: open rotated key: the new key waits for pickup at %v with the old key", ev.Data["pickup"])
	case sealed == "":
		return "", errors.New("keygate: open rotated key: the event carries no sealed_key")
	case successor == "":
		return "", errors.New("keygate: open rotated key: the event names no successor_id")
	}
	return keygate.OpenRotatedKey(priv, successor, sealed)
}
