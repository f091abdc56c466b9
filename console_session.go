package keygate

import (
	"context"
	"time"
)

// ConsoleSession is a signed-in user of the admin console. The browser holds
// a random token in a cookie; the store holds only its SHA-256, so reading
// the store never yields a session anyone could use.
type ConsoleSession struct {
	TokenHash []byte
	User      string // the user's email (OIDC) or account name (local)
	Role      string // RoleAdmin, RoleOperator or RoleAuditor
	Method    string // how the user signed in: "oidc" or "local"
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ConsoleSessionStore persists console sessions. Sessions are not records
// with a lifecycle: they emit no change and no audit event, and a backup
// does not carry them. Every method is one transaction.
type ConsoleSessionStore interface {
	// CreateConsoleSession stores s, setting CreatedAt, and deletes the
	// sessions that have expired.
	CreateConsoleSession(ctx context.Context, s *ConsoleSession) error
	// FindConsoleSession is the session with tokenHash; one that does not
	// exist or has expired is ENOTFOUND.
	FindConsoleSession(ctx context.Context, tokenHash []byte) (*ConsoleSession, error)
	// DeleteConsoleSession ends a session; ending one that does not exist
	// is no error (signing out twice is fine).
	DeleteConsoleSession(ctx context.Context, tokenHash []byte) error
}
