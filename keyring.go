package keygate

import (
	"context"
	"time"
)

// RootKey seals the keyring. It never reaches the store: a key held in
// memory (package keyring) or an external KMS implements it.
type RootKey interface {
	// Seal encrypts plaintext, bound to additionalData.
	Seal(ctx context.Context, plaintext, additionalData []byte) ([]byte, error)
	// Open decrypts what Seal returned with the same additional data. A
	// wrong key, a changed byte or other additional data is an error.
	Open(ctx context.Context, sealed, additionalData []byte) ([]byte, error)
}

// KeyringVersion is one key-encryption key, stored sealed by the root key.
// Versions count up from 1; the newest wraps every new data key.
type KeyringVersion struct {
	Version   int       `json:"version"`
	Sealed    []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// Sealed is a secret sealed for one record: its own data key, wrapped by a
// keyring version, and the ciphertext. Both are bound to Kind and ID, so a
// sealed value copied to another record does not open.
type Sealed struct {
	Kind string // what the record is, e.g. "pepper", "hmac_credential"
	ID   string // the record's id
	DataKey
	Ciphertext []byte
}

// DataKey is a record's data key, wrapped by keyring version Version.
type DataKey struct {
	Version int
	Wrapped []byte
}

// Rewrap moves one data key from one keyring version to another.
type Rewrap struct {
	Kind, ID    string
	FromVersion int
	// FromWrapped, when set (keyring.Rewrap always sets it), must match the
	// stored wrapping too: a record replaced under the same version since it
	// was read has another data key, which this rewrap must not overwrite.
	FromWrapped []byte
	To          DataKey
}

// KeyringStore persists the keyring and the data keys of sealed records.
// Every method is one transaction.
type KeyringStore interface {
	// KeyringVersions returns every version, oldest first.
	KeyringVersions(ctx context.Context) ([]*KeyringVersion, error)
	// AddKeyringVersion stores v and sets its CreatedAt. v.Version must be
	// one more than the newest stored version (1 for the first), otherwise
	// ECONFLICT: another node rotated at the same moment.
	AddKeyringVersion(ctx context.Context, v *KeyringVersion) error
	// ResealKeyring replaces the sealed form of every version at once (a root
	// key rotation). versions must name exactly the stored versions, otherwise
	// ECONFLICT and nothing changes.
	ResealKeyring(ctx context.Context, versions []*KeyringVersion) error
	// DeleteKeyringVersion retires a version: ENOTFOUND when absent, ECONFLICT
	// when it is the newest or a data key still uses it.
	DeleteKeyringVersion(ctx context.Context, version int) error
	// DataKeyCounts says how many data keys each version wraps; versions
	// wrapping none are absent.
	DataKeyCounts(ctx context.Context) (map[int]int, error)
	// SealedBefore returns up to limit (>= 1) records whose data key is
	// wrapped by a version older than version, in (kind, id) order,
	// Ciphertext left empty. A rewrap loop asks again after each batch: what
	// it moved no longer comes back.
	SealedBefore(ctx context.Context, version, limit int) ([]*Sealed, error)
	// RewrapDataKeys stores new wrappings. Each applies only while the data
	// key is still wrapped by FromVersion, so a concurrent destroy or rewrap
	// wins; it returns how many applied. A To.Version not in the keyring is
	// ECONFLICT and FromVersion == To.Version EINVALID; either refuses the
	// whole batch.
	RewrapDataKeys(ctx context.Context, rewraps []Rewrap) (int, error)
}

// SecretStore keeps sealed secrets that belong to no other record (the API
// key pepper). Records that own a sealed field store it with themselves.
type SecretStore interface {
	// PutSecret creates or replaces the secret s.Kind/s.ID; a data key
	// version not in the keyring is ECONFLICT.
	PutSecret(ctx context.Context, s *Sealed) error
	// GetSecret returns it, ENOTFOUND when absent.
	GetSecret(ctx context.Context, kind, id string) (*Sealed, error)
	// DestroySecret deletes the data key and the ciphertext (crypto-
	// shredding); ENOTFOUND when absent. Backups taken before still hold
	// both, sealed under the root key of their day.
	DestroySecret(ctx context.Context, kind, id string) error
}
