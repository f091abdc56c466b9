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
	HMACCredentialStore
	WebhookStore
	AdminTokenStore
	ConsoleSessionStore
	NodeStore
	AuditStore
	KeyringStore
	SecretStore
	AccessRequestStore
	AccessRuleStore
	PlanStore
	OAuthClientStore
	AccessTokenStore
	UsageStore
	VerificationStore
	LeaseStore
	PayloadSessionStore
	PermissionStore
	ChangeLog
	Close() error
}

// AdminToken grants access to the admin API. Only a hash of the token is stored.
type AdminToken struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Hash []byte `json:"-"`
	Role string `json:"role"`
	// Services restricts a verifier token to verifying keys for these
	// services (ids); nil: any service.
	Services []string `json:"services,omitempty"`
	// Consumers scopes an operator or auditor token to these consumers
	// (ids): it may call only the endpoints under /v1/consumers/{consumer}
	// for them; nil: every consumer.
	Consumers []string  `json:"consumers,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Roles an admin token (or a console user) holds.
const (
	// RoleAdmin may do everything.
	RoleAdmin = "admin"
	// RoleOperator may do everything but the keyring and root actions.
	RoleOperator = "operator"
	// RoleAuditor may read everything, the audit trail included, and change nothing.
	RoleAuditor = "auditor"
	// RoleVerifier may call the verify endpoint and nothing else.
	RoleVerifier = "verifier"
)

// AdminTokenStore persists admin tokens. Every method is one transaction.
// Names are unique.
type AdminTokenStore interface {
	// CreateAdminToken assigns ID and CreatedAt and stores t; a name or a
	// hash already stored is ECONFLICT.
	CreateAdminToken(ctx context.Context, t *AdminToken) error
	// PutAdminToken stores t under its name, replacing, in the same
	// transaction, the token of that name and any token with t's hash: a
	// replaced token stops working at once. When the token of that name
	// already has t's hash, role, services and consumers, nothing changes and t gets its ID and
	// CreatedAt; otherwise t gets new ones. Each replaced token is reported as
	// Deleted and t as Created. A name is required (EINVALID).
	PutAdminToken(ctx context.Context, t *AdminToken) error
	FindAdminToken(ctx context.Context, hash []byte) (*AdminToken, error)
	// ListAdminTokens lists tokens in creation order.
	ListAdminTokens(ctx context.Context, p Page) (tokens []*AdminToken, next string, err error)
	// DeleteAdminToken removes the token with id; a missing one is ENOTFOUND.
	DeleteAdminToken(ctx context.Context, id string) error
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
	HMACCredentialChanged
	PlanChanged
	OAuthClientChanged
	// AccessTokenChanged: an access token was revoked; ID is its jti.
	AccessTokenChanged
	// PayloadSessionChanged: a payload encryption session started or ended.
	PayloadSessionChanged
	// PermissionChanged: a permission was created, updated or deleted.
	PermissionChanged
	// RoleChanged: a role (its permissions) changed; caches of keys drop
	// every key, since any may hold the role.
	RoleChanged
)

// String names the kind as the audit trail does.
func (k ChangeKind) String() string {
	switch k {
	case ServiceChanged:
		return "service"
	case RouteChanged:
		return "route"
	case ConsumerChanged:
		return "consumer"
	case KeyChanged:
		return "key"
	case AdminTokenChanged:
		return "admin_token"
	case HMACCredentialChanged:
		return "hmac_credential"
	case PlanChanged:
		return "plan"
	case OAuthClientChanged:
		return "oauth_client"
	case AccessTokenChanged:
		return "access_token"
	case PayloadSessionChanged:
		return "payload_session"
	case PermissionChanged:
		return "permission"
	case RoleChanged:
		return "role"
	}
	return "unknown"
}

// ParseChangeKind is the kind String names; 0 for a name it does not know
// (one a newer keygate wrote), which no cache acts on.
func ParseChangeKind(s string) ChangeKind {
	for k := ServiceChanged; k <= RoleChanged; k++ {
		if k.String() == s {
			return k
		}
	}
	return 0
}

// ChangeOp says what happened to the entity.
type ChangeOp uint8

const (
	Created ChangeOp = iota + 1
	Updated
	Deleted
)

// String names the op: created, updated or deleted.
func (o ChangeOp) String() string {
	switch o {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	}
	return "unknown"
}

// ParseChangeOp is the op String names; 0 for a name it does not know.
func ParseChangeOp(s string) ChangeOp {
	for o := Created; o <= Deleted; o++ {
		if o.String() == s {
			return o
		}
	}
	return 0
}

// Verb is the audit trail's verb for c.
func (c Change) Verb() string {
	switch {
	case c.Action != "":
		return c.Action
	case c.Op == Created:
		return "created"
	case c.Op == Deleted:
		return "deleted"
	}
	return "updated"
}

// Change tells caches that an entity was created, updated or deleted. Stores
// emit one after each committed write, so a revoke reaches the gateway's
// caches before the admin API answers. Op is always set: Created by a
// Create method, Updated by an Update method and by RevokeKey, Deleted by a
// Delete method, including for the keys and HMAC credentials
// DeleteConsumer removes with their consumer.
type Change struct {
	Kind ChangeKind
	Op   ChangeOp
	// Action is the verb the audit trail records (revoked, rotated,
	// archived, ...); empty: created, updated or deleted, after Op.
	Action string
	ID     string
	// KeyIdentifier is set for keys and Username for HMAC credentials, so
	// that caches indexed by them can drop the entry.
	KeyIdentifier string
	Username      string
}

// ChangeFunc receives changes, synchronously after the commit, on the writer's
// goroutine. It may read the store (to rebuild a routing table) but must not write.
type ChangeFunc func(Change)

// SequencedChange is a Change as the change log holds it: numbered as it
// was logged, and when (the writer's clock).
type SequencedChange struct {
	Seq int64
	At  time.Time
	Change
}

// ChangeLog is the durable record of every Change the store emits, written
// in the transaction that made it, so that every node of a cluster can
// read what it may have missed on a faster, lossy channel (Redis pub/sub).
//
// Sequence numbers grow and are never reused, but are not gapless (a
// transaction that rolled back used one up), and on PostgreSQL a lower
// number may become visible after a higher one (its transaction committed
// later): a reader must not take "after the highest I saw" as "everything
// before it is seen". See changelog.Reconciler.
type ChangeLog interface {
	// ChangesSince returns at most limit logged changes with a sequence
	// number above after, in sequence order.
	ChangesSince(ctx context.Context, after int64, limit int) ([]SequencedChange, error)
	// LatestChange is the highest sequence number logged so far (0: none).
	LatestChange(ctx context.Context) (int64, error)
	// PruneChanges deletes the changes logged before before and says how
	// many. Any number of nodes may prune at once.
	PruneChanges(ctx context.Context, before time.Time) (int64, error)
}
