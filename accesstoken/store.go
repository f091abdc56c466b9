package accesstoken

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/keygate/keygate"
)

// The key set is one sealed secret: private keys never reach the store in
// clear, and the sealing binds them to this record.
const secretKind, secretID = "oauth2_signing_keys", "default"

// Sealer seals and opens a record's secret; *keyring.Keyring is one.
type Sealer interface {
	Seal(kind, id string, plaintext []byte) (*keygate.Sealed, error)
	Open(s *keygate.Sealed) ([]byte, error)
}

// storedKey is one key as serialized inside the sealed secret.
type storedKey struct {
	JWK         jose.JSONWebKey `json:"jwk"` // private, with kid and alg
	State       KeyState        `json:"state"`
	CreatedAt   time.Time       `json:"created_at"`
	ActivatedAt time.Time       `json:"activated_at,omitzero"`
	RetiredAt   time.Time       `json:"retired_at,omitzero"`
}

// Save seals set and stores it, replacing what was there. Two nodes
// rotating at once would overwrite each other: run rotation under a lease.
func Save(ctx context.Context, store keygate.SecretStore, ring Sealer, set *KeySet) error {
	keys := make([]storedKey, len(set.Keys))
	for i, k := range set.Keys {
		keys[i] = storedKey{
			JWK:   jose.JSONWebKey{Key: k.private, KeyID: k.ID, Algorithm: k.Alg, Use: "sig"},
			State: k.State, CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt,
		}
	}
	plain, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	sealed, err := ring.Seal(secretKind, secretID, plain)
	clear(plain)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if err := store.PutSecret(ctx, sealed); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	return nil
}

// Load opens the stored key set. None stored yet is an empty set (Rotate
// makes the first key); a store failure or a secret that does not open is
// an error.
func Load(ctx context.Context, store keygate.SecretStore, ring Sealer) (*KeySet, error) {
	sealed, err := store.GetSecret(ctx, secretKind, secretID)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return &KeySet{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	plain, err := ring.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	defer clear(plain)
	var keys []storedKey
	if err := json.Unmarshal(plain, &keys); err != nil {
		return nil, fmt.Errorf("signing keys: stored set is damaged: %w", err)
	}
	set := &KeySet{Keys: make([]*SigningKey, 0, len(keys))}
	for _, sk := range keys {
		priv, ok := sk.JWK.Key.(crypto.Signer)
		if !ok || sk.JWK.IsPublic() || !checkKeyAlg(sk.JWK.Algorithm, priv.Public()) {
			return nil, fmt.Errorf("signing keys: stored key %q is damaged", sk.JWK.KeyID)
		}
		k, err := newSigningKey(sk.JWK.Algorithm, priv, sk.CreatedAt)
		if err != nil {
			return nil, err
		}
		if k.ID != sk.JWK.KeyID {
			return nil, fmt.Errorf("signing keys: stored key %q does not match its kid", sk.JWK.KeyID)
		}
		k.State, k.ActivatedAt, k.RetiredAt = sk.State, sk.ActivatedAt, sk.RetiredAt
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}
