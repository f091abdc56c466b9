package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate"
)

// Revoked access tokens: one row per jti until the token expires. The jti
// is no secret (it names a token, it does not let anyone use one), so it is
// stored as it is and is the audit record's target.

const revokedTokenCols = `jti, client_id, expires_at, revoked_at`

func scanRevokedToken(row scanner) (*keygate.RevokedToken, error) {
	t := &keygate.RevokedToken{}
	if err := row.Scan(&t.JTI, &t.ClientID, timeColumn{&t.ExpiresAt}, timeColumn{&t.RevokedAt}); err != nil {
		return nil, err
	}
	return t, nil
}

func (db *DB) RevokeAccessToken(ctx context.Context, t *keygate.RevokedToken) error {
	switch {
	case t == nil || t.JTI == "":
		return keygate.Errorf(keygate.EINVALID, "jti: required")
	case len(t.JTI) > keygate.MaxJTILen:
		return keygate.Errorf(keygate.EINVALID, "jti: at most %d characters", keygate.MaxJTILen)
	case t.ClientID == "":
		return keygate.Errorf(keygate.EINVALID, "client_id: required")
	case t.ExpiresAt.IsZero():
		return keygate.Errorf(keygate.EINVALID, "expires_at: required")
	}
	var stored *keygate.RevokedToken
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		// A second revocation keeps the first record: ON CONFLICT DO NOTHING,
		// then the row as it is.
		if _, err := tx.ExecContext(ctx, `INSERT INTO revoked_access_tokens (`+revokedTokenCols+`) VALUES (?, ?, ?, ?)
			ON CONFLICT (jti) DO NOTHING`, t.JTI, t.ClientID, micros(t.ExpiresAt.UTC().Truncate(time.Microsecond)), micros(db.stamp())); err != nil {
			return nil, fmt.Errorf("store: revoke access token: %w", err)
		}
		var err error
		stored, err = scanRevokedToken(tx.QueryRowContext(ctx, `SELECT `+revokedTokenCols+` FROM revoked_access_tokens WHERE jti = ?`, t.JTI))
		if err != nil {
			return nil, fmt.Errorf("store: revoke access token: %w", err)
		}
		return []keygate.Change{{Kind: keygate.AccessTokenChanged, Op: keygate.Updated, Action: "revoked", ID: t.JTI}}, nil
	})
	if err != nil {
		return err
	}
	*t = *stored
	return nil
}

func (db *DB) ListRevokedAccessTokens(ctx context.Context, now time.Time, p keygate.Page) ([]*keygate.RevokedToken, string, error) {
	return listPage(ctx, db.r, p, `SELECT `+revokedTokenCols+` FROM revoked_access_tokens
		WHERE expires_at > ?1 AND jti > ?2 ORDER BY jti LIMIT ?3`,
		scanRevokedToken, func(t *keygate.RevokedToken) string { return t.JTI }, micros(now))
}

// PurgeRevokedAccessTokens deletes by time, as PruneChanges does: a delete
// repeated by another node deletes nothing more. It emits no change (no
// cache needs to hear of a token that expired) and is not audited.
func (db *DB) PurgeRevokedAccessTokens(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM revoked_access_tokens WHERE expires_at < ?`, micros(before))
		if err != nil {
			return nil, fmt.Errorf("store: purge revoked access tokens: %w", err)
		}
		n, err = res.RowsAffected()
		return nil, err
	})
	return n, err
}
