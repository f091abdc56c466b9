package keygate

import (
	"context"
	"time"
)

// RevokedToken is an access token revoked before it expired (RFC 7009): its
// jti is refused by every gateway node until ExpiresAt, after which the
// token is refused for its expiry anyway and the record can go.
type RevokedToken struct {
	JTI       string    `json:"jti"`
	ClientID  string    `json:"client_id"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at"`
}

// MaxJTILen bounds a stored jti: keygate's are 22 characters.
const MaxJTILen = 128

// AccessTokenStore persists revoked access tokens, the denylist every node
// loads and keeps current from the changes (AccessTokenChanged, ID the jti).
// Every method is one transaction.
type AccessTokenStore interface {
	// RevokeAccessToken records t and assigns RevokedAt. Revoking a jti
	// again keeps the first record (t gets its fields) and still reports
	// the change. JTI (at most MaxJTILen), ClientID and ExpiresAt are
	// required (EINVALID).
	RevokeAccessToken(ctx context.Context, t *RevokedToken) error
	// ListRevokedAccessTokens lists the revoked tokens that expire after
	// now, in jti order.
	ListRevokedAccessTokens(ctx context.Context, now time.Time, p Page) (tokens []*RevokedToken, next string, err error)
	// PurgeRevokedAccessTokens deletes the records of tokens that expired
	// before before and says how many. Any number of nodes may purge at once.
	PurgeRevokedAccessTokens(ctx context.Context, before time.Time) (int64, error)
}
