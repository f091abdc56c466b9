package keygate

import (
	"context"
	"time"
)

// Store is everything keygate persists. Implementations (sqlite, postgres)
// pass the conformance suite in package storetest.
type Store interface {
	ServiceStore
	RouteStore
	ConsumerStore
	KeyStore
	AdminTokenStore
	Close() error
}

// AdminToken grants access to the admin API. Only a hash of the token is stored.
type AdminToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      []byte    `json:"-"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// RoleAdmin may do everything.
const RoleAdmin = "admin"

// AdminTokenStore persists admin tokens. Every method is one transaction.
type AdminTokenStore interface {
	// CreateAdminToken stores t; a hash already stored is ECONFLICT.
	CreateAdminToken(ctx context.Context, t *AdminToken) error
	FindAdminToken(ctx context.Context, hash []byte) (*AdminToken, error)
	CountAdminTokens(ctx context.Context) (int, error)
}

// ChangeKind says what kind of entity a Change is about.
type ChangeKind uint8

const (
	ServiceChanged ChangeKind = iota + 1
	RouteChanged
	ConsumerChanged
	KeyChanged
	AdminTokenChanged
)

// ChangeOp says what happened to the entity.
type ChangeOp uint8

const (
	Created ChangeOp = iota + 1
	Updated
	Deleted
)

// Change tells caches that an entity was created, updated or deleted. Stores
// emit one after each committed write, so a revoke reaches the gateway's
// caches before the admin API answers.
type Change struct {
	Kind ChangeKind
	Op   ChangeOp
	ID   string
	// KeyIdentifier is set for keys, so that caches indexed by it can drop it.
	KeyIdentifier string
}

// ChangeFunc receives changes, synchronously after the commit, on the writer's
// goroutine. It may read the store (to rebuild a routing table) but must not write.
type ChangeFunc func(Change)
