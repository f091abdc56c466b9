package keygate

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"time"
)

// KeyStatus is where a key stands in its lifecycle.
type KeyStatus string

const (
	KeyActive  KeyStatus = "active"
	KeyRevoked KeyStatus = "revoked"
	// KeyArchived: expired or revoked long enough ago that its secret was
	// dropped (a key's hash; an HMAC credential's data key and ciphertext);
	// the record stays for audit until it is destroyed.
	KeyArchived KeyStatus = "archived"
)

// APIKey is the stored record of an API key. The key itself is shown once, at
// creation; the store keeps only SecretHash (see package apikey), so a
// database dump cannot reproduce or test guesses of a key.
type APIKey struct {
	ID       string `json:"id"`
	Consumer Ref    `json:"consumer"`
	Name     string `json:"name,omitempty"`
	// Prefix is the key's environment prefix (e.g. kg_live); Start is a short
	// display hint made of the prefix and the start of the identifier.
	Prefix     string    `json:"prefix"`
	Start      string    `json:"start"`
	Identifier string    `json:"-"` // the lookup part of the key; unique
	SecretHash []byte    `json:"-"`
	Status     KeyStatus `json:"status"`
	// Restrictions; empty lists allow everything. Services and routes are ids.
	AllowedServices []string   `json:"allowed_services"`
	AllowedRoutes   []string   `json:"allowed_routes"`
	AllowedCIDRs    []string   `json:"allowed_cidrs"`
	Tags            []string   `json:"tags"`
	ExpiresAt       *time.Time `json:"expires_at"`
	RevokedAt       *time.Time `json:"revoked_at,omitempty"`
	// RotatedFrom is the key this one replaced; SuccessorID the key that
	// replaces this one, which then works only until its grace period ends
	// (ExpiresAt).
	RotatedFrom string `json:"rotated_from,omitempty"`
	SuccessorID string `json:"successor_id,omitempty"`
	// Lineage is the id of the first key of this key's rotation chain: its
	// own id for a key that replaced none, its predecessor's lineage for a
	// successor. Limits counted per key count per lineage, so that rotating
	// a key does not reset them. The store sets it; it is read-only.
	Lineage string `json:"lineage_id"`
	// Plan, when set, is the usage plan this key is limited by instead of
	// its consumer's. Stores keep its id.
	Plan *Ref `json:"plan"`
	// Imported marks a key keygate did not generate (one of Kong's,
	// imported): any string, looked up by an identifier derived from it
	// (see apikey.IsImportedIdentifier). Rotating it issues a keygate key.
	Imported bool `json:"imported"`
	// Permissions and Roles are the names of the permissions and roles the
	// key holds itself (its consumer's apply too; see EffectivePermissions).
	Permissions []string `json:"permissions"`
	Roles       []string `json:"roles"`
	// RolePermissions are the permissions of the roles of the key and its
	// consumer, by role name, as the store's lookups read them.
	RolePermissions map[string][]string `json:"-"`
	Timestamps
	// Enabled false disables the key, reversibly (DISABLED at verify, 401 at
	// the gateway); nil or true: enabled. Stores write it as true or false.
	Enabled *bool `json:"enabled"`
	// Meta is free-form JSON (an object, at most MaxMetaSize bytes) that
	// the verify API answers with.
	Meta json.RawMessage `json:"meta,omitempty"`
	// Credits, when set, bound the key's uses (see Credits).
	Credits *Credits `json:"credits,omitempty"`
}

// Expired reports whether the key's lifetime is over at now.
func (k *APIKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// State is the verification code the key's own state gives at now, before
// any restriction is looked at.
func (k *APIKey) State(now time.Time) VerifyCode {
	switch {
	case k.Status == KeyRevoked, k.Status == KeyArchived && !k.Expired(now):
		return CodeRevoked
	case k.Expired(now):
		return CodeExpired
	case !IsEnabled(k.Enabled):
		return CodeDisabled
	}
	return CodeValid
}

// Normalize makes nil lists empty, so that they are written as [] and never
// as null. Stores call it before they save.
func (k *APIKey) Normalize() {
	k.AllowedServices, k.AllowedRoutes = orEmpty(k.AllowedServices), orEmpty(k.AllowedRoutes)
	k.AllowedCIDRs, k.Tags = orEmpty(k.AllowedCIDRs), orEmpty(k.Tags)
	k.Permissions, k.Roles = orEmpty(k.Permissions), orEmpty(k.Roles)
	if k.Enabled == nil {
		k.Enabled = new(bool)
		*k.Enabled = true
	}
}

// ValidateRestrictions checks the key's own fields (references are resolved
// by the caller before the key is stored).
func (k *APIKey) ValidateRestrictions() error {
	if err := validateName("name", k.Name, false); err != nil {
		return err
	}
	if _, err := ParseCIDRs("allowed_cidrs", k.AllowedCIDRs); err != nil {
		return err
	}
	if err := ValidateGrants("permissions", k.Permissions); err != nil {
		return err
	}
	if err := ValidateGrants("roles", k.Roles); err != nil {
		return err
	}
	if err := validateTags(k.Tags); err != nil {
		return err
	}
	if err := k.Credits.Validate("credits"); err != nil {
		return err
	}
	_, err := ValidateMeta("meta", k.Meta)
	return err
}

// KeyFixedField returns the JSON name of the first field that differs
// between before and after other than the ones UpdateKey may change (name,
// tags, plan, permissions and roles), or "" when only those differ. Nil and empty lists are
// the same list.
func KeyFixedField(before, after *APIKey) string {
	switch {
	case after.ID != before.ID:
		return "id"
	case after.Consumer != before.Consumer:
		return "consumer"
	case after.Prefix != before.Prefix:
		return "prefix"
	case after.Start != before.Start:
		return "start"
	case after.Identifier != before.Identifier:
		return "identifier"
	case !bytes.Equal(after.SecretHash, before.SecretHash):
		return "secret_hash"
	case after.Status != before.Status:
		return "status"
	case !slices.Equal(after.AllowedServices, before.AllowedServices):
		return "allowed_services"
	case !slices.Equal(after.AllowedRoutes, before.AllowedRoutes):
		return "allowed_routes"
	case !slices.Equal(after.AllowedCIDRs, before.AllowedCIDRs):
		return "allowed_cidrs"
	case !sameTime(after.ExpiresAt, before.ExpiresAt):
		return "expires_at"
	case !sameTime(after.RevokedAt, before.RevokedAt):
		return "revoked_at"
	case after.RotatedFrom != before.RotatedFrom:
		return "rotated_from"
	case after.SuccessorID != before.SuccessorID:
		return "successor_id"
	case after.Lineage != before.Lineage:
		return "lineage_id"
	case after.Imported != before.Imported:
		return "imported"
	case !after.CreatedAt.Equal(before.CreatedAt):
		return "created_at"
	case !after.UpdatedAt.Equal(before.UpdatedAt):
		return "updated_at"
	}
	return ""
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// ParseCIDRs parses an allowlist of networks; a bare address is a one-address
// network. IPv4-mapped IPv6 networks (::ffff:10.0.0.0/104) become the IPv4
// networks they stand for (10.0.0.0/8): client addresses are unmapped before
// they are matched, so a mapped network would never match.
func ParseCIDRs(field string, cidrs []string) ([]netip.Prefix, error) {
	if len(cidrs) > maxListLen {
		return nil, Errorf(EINVALID, "%s: at most %d entries", field, maxListLen)
	}
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, Errorf(EINVALID, "%s[%d]: not a CIDR block or IP address", field, i)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return nil, Errorf(EINVALID, "%s[%d]: an IPv4-mapped network must be /96 or longer; give it as IPv4", field, i)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// MaxIdentifierPage bounds one page of ListKeyIdentifiers: identifiers are
// short, so pages are larger than the admin API's.
const MaxIdentifierPage = 10_000

// KeyWithConsumer is a key with its consumer, as the gateway's cache holds them.
type KeyWithConsumer struct {
	Key      *APIKey
	Consumer *Consumer
}

// KeyFilter narrows ListKeys; zero fields match everything.
type KeyFilter struct {
	ConsumerID string
	// Imported, if set, lists only keys whose Imported is *Imported.
	Imported *bool
}

// KeyStore persists API keys. Every method is one transaction.
type KeyStore interface {
	// CreateKey assigns ID, Lineage and timestamps and stores k;
	// k.Consumer.ID must be an existing consumer (ENOTFOUND otherwise). A
	// key with RotatedFrom set takes that key's Lineage; that key must
	// exist (ENOTFOUND naming rotated_from) and be the same consumer's
	// (EINVALID), so that no key can join another consumer's limits.
	CreateKey(ctx context.Context, k *APIKey) error
	FindKey(ctx context.Context, id string) (*APIKey, error)
	ListKeys(ctx context.Context, f KeyFilter, p Page) (keys []*APIKey, next string, err error)
	// LookupKey finds a key and its consumer by the key's identifier: the
	// gateway's read on a cache miss.
	LookupKey(ctx context.Context, identifier string) (*APIKey, *Consumer, error)
	// ListKeyIdentifiers returns up to limit identifiers of stored keys
	// (whatever their status) above after, in ascending order: the listing
	// the gateway builds its filter of issued identifiers from, lean enough
	// to read a million of. limit is capped at MaxIdentifierPage; below 1 it
	// is 1.
	ListKeyIdentifiers(ctx context.Context, after string, limit int) ([]string, error)

	// RecentlyUsedKeys returns up to limit keys, each with its consumer as
	// LookupKey reads them, that have usage recorded in the minute of since
	// or later, in id order after the key id after ("": from the first):
	// what a restarting gateway preloads into its cache, a batch at a time.
	RecentlyUsedKeys(ctx context.Context, since time.Time, after string, limit int) ([]KeyWithConsumer, error)
	// LookupKeys is LookupKey for several identifiers in one read: the keys
	// found, each with its consumer, in no particular order; identifiers
	// without a key are left out.
	LookupKeys(ctx context.Context, identifiers []string) ([]KeyWithConsumer, error)
	// UpdateKey applies update to the stored key and saves it, in one
	// transaction. Only Name, Tags, Plan, Permissions and Roles may
	// change (permissions and roles must exist: ENOTFOUND naming the
	// entry): restrictions and
	// lifetime are what a key was issued with (rotate it for others), so a
	// change to any other field is refused, EINVALID naming that field, and
	// nothing is written. The plan is given by id or name and stored as its
	// id (ENOTFOUND naming plan when there is none); nil or empty: none.
	// Reported as Updated, with the key's identifier, so that every cache
	// drops the key.
	UpdateKey(ctx context.Context, id string, update func(*APIKey) error) (*APIKey, error)
	// RevokeKey marks a key revoked; revoking a revoked key changes nothing
	// stored but is still reported (as Updated), so every cache drops the key.
	RevokeKey(ctx context.Context, id string) (*APIKey, error)
	// RotateKey stores successor (as CreateKey does, with RotatedFrom set,
	// so that it inherits key id's Lineage) as the key that replaces key
	// id, and ends key id's life at graceEnd, or when it already ends if
	// that is sooner — in one transaction. Key id must be active, unexpired
	// and without a successor (ECONFLICT otherwise), so that a key in its
	// grace period cannot start a second chain. It returns the old key as
	// stored afterwards.
	RotateKey(ctx context.Context, id string, successor *APIKey, graceEnd time.Time) (*APIKey, error)
	// RotateKeyForPickup is RotateKey that also keeps the successor's full
	// key for one pickup by the holder of key id, in the same transaction:
	// once the rotation is known to apply it calls seal with key id and
	// stores what seal returns (the full key, sealed as
	// SealedRotationPickup). A transaction that fails after sealing and
	// runs again calls seal again, so seal must have no side effects. The
	// sealed copy goes when it is picked up, and when either key is
	// revoked, archived or deleted.
	RotateKeyForPickup(ctx context.Context, id string, successor *APIKey, graceEnd time.Time, seal func(id string) (*Sealed, error)) (*APIKey, error)
	// PickUpRotatedKey hands the successor kept for key id to open, inside
	// the transaction; when open succeeds, the sealed copy and its data key
	// are destroyed (crypto-shredding), so that only one caller ever opens
	// it. ENOTFOUND when none waits for key id. It returns the old key and
	// the successor as stored.
	PickUpRotatedKey(ctx context.Context, id string, open func(*Sealed) error) (old, successor *APIKey, err error)
	DeleteKey(ctx context.Context, id string) error

	// The lifecycle jobs. Each claims what it returns with one conditional
	// write, so nodes running them at once never handle a key twice.

	// NoticeExpiring marks up to limit active keys that expire after now and
	// no later than before, have no successor and were not noticed yet, and
	// returns them: the ones to tell their consumers about.
	NoticeExpiring(ctx context.Context, before time.Time, limit int) ([]*APIKey, error)
	// NoticeRotationDue marks up to limit active, unexpired keys without a
	// successor whose consumer's rotation policy makes them due no later
	// than its notice after now, and not noticed yet, and returns them: the
	// ones to send a key.rotation_due for.
	NoticeRotationDue(ctx context.Context, now time.Time, limit int) ([]*DueRotation, error)
	// DueRotations returns up to limit active, unexpired keys without a
	// successor whose consumer's rotation policy is automatic and makes them
	// due no later than now, the earliest due first. It only reads: the
	// claim is RotateKey (or RotateKeyForPickup), which rotates a key once.
	DueRotations(ctx context.Context, now time.Time, limit int) ([]*DueRotation, error)
	// ArchiveKeys archives up to limit keys that expired or were revoked no
	// later than endedBefore: status archived, secret hash dropped. Reported
	// as Updated.
	ArchiveKeys(ctx context.Context, endedBefore time.Time, limit int) ([]*APIKey, error)
	// DestroyKeys deletes up to limit keys archived no later than
	// archivedBefore, reported as Deleted, and says how many.
	DestroyKeys(ctx context.Context, archivedBefore time.Time, limit int) (int, error)

	CreditStore
}
