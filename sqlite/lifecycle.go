package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// The lifecycle jobs' writes. Each is one UPDATE or DELETE ... RETURNING
// whose WHERE clause is the claim: a key another node handled a moment ago
// no longer matches.

func (db *DB) NoticeExpiring(ctx context.Context, before time.Time, limit int) ([]*keygate.APIKey, error) {
	if limit < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	var keys []*keygate.APIKey
	err := db.write(ctx, func(tx *sql.Tx) ([]keygate.Change, error) {
		now := db.stamp()
		var err error
		keys, err = claimKeys(ctx, tx, `UPDATE api_keys SET expiry_notice_at = ?1
			WHERE id IN (SELECT id FROM api_keys WHERE status = 'active' AND successor_id IS NULL
				AND expiry_notice_at IS NULL AND expires_at > ?1 AND expires_at <= ?2 ORDER BY expires_at LIMIT ?3)
			RETURNING `+returningKeyCols, micros(now), micros(before), limit)
		return nil, err // nothing a cache holds changed
	})
	return keys, err
}

func (db *DB) ArchiveKeys(ctx context.Context, endedBefore time.Time, limit int) ([]*keygate.APIKey, error) {
	if limit < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	var keys []*keygate.APIKey
	err := db.write(ctx, func(tx *sql.Tx) ([]keygate.Change, error) {
		now := db.stamp()
		var err error
		keys, err = claimKeys(ctx, tx, `UPDATE api_keys SET status = 'archived', secret_hash = X'', archived_at = ?1, updated_at = ?1
			WHERE id IN (SELECT id FROM api_keys WHERE status IN ('active', 'revoked')
				AND (revoked_at <= ?2 OR expires_at <= ?2) LIMIT ?3)
			RETURNING `+returningKeyCols, micros(now), micros(endedBefore), limit)
		changes := make([]keygate.Change, len(keys))
		for i, k := range keys {
			changes[i] = keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "archived", ID: k.ID, KeyIdentifier: k.Identifier}
		}
		return changes, err
	})
	return keys, err
}

func (db *DB) DestroyKeys(ctx context.Context, archivedBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	n := 0
	err := db.write(ctx, func(tx *sql.Tx) ([]keygate.Change, error) {
		rows, err := tx.QueryContext(ctx, `DELETE FROM api_keys WHERE id IN (SELECT id FROM api_keys
			WHERE status = 'archived' AND archived_at <= ? LIMIT ?) RETURNING id, identifier`, micros(archivedBefore), limit)
		if err != nil {
			return nil, fmt.Errorf("sqlite: destroy keys: %w", err)
		}
		defer rows.Close()
		var changes []keygate.Change
		for rows.Next() {
			var id, identifier string
			if err := rows.Scan(&id, &identifier); err != nil {
				return nil, err
			}
			changes = append(changes, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, Action: "destroyed", ID: id, KeyIdentifier: identifier})
		}
		n = len(changes)
		return changes, rows.Err()
	})
	return n, err
}

// returningKeyCols are keyCols for a RETURNING clause, which takes no alias.
var returningKeyCols = strings.ReplaceAll(keyCols, "k.", "")

// claimKeys runs an UPDATE ... RETURNING returningKeyCols.
func claimKeys(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]*keygate.APIKey, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lifecycle: %w", err)
	}
	defer rows.Close()
	var keys []*keygate.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// The same jobs for HMAC credentials. A credential's secret is sealed
// rather than hashed, so archiving it is crypto-shredding: the UPDATE that
// claims it empties its ciphertext, and a trigger deletes its data key in
// the same statement (see 0010_hmac_lifecycle.sql); the log is then emptied
// so that neither stays in the files (see shred).

func (db *DB) NoticeExpiringHMACCredentials(ctx context.Context, before time.Time, limit int) ([]*keygate.HMACCredential, error) {
	if limit < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	var creds []*keygate.HMACCredential
	err := db.write(ctx, func(tx *sql.Tx) ([]keygate.Change, error) {
		now := db.stamp()
		var err error
		creds, err = claimHMACCredentials(ctx, tx, `UPDATE hmac_credentials SET expiry_notice_at = ?1
			WHERE id IN (SELECT id FROM hmac_credentials WHERE status = 'active'
				AND expiry_notice_at IS NULL AND expires_at > ?1 AND expires_at <= ?2 ORDER BY expires_at LIMIT ?3)
			RETURNING `+returningHMACCols, micros(now), micros(before), limit)
		return nil, err // nothing a cache holds changed
	})
	return creds, err
}

func (db *DB) ArchiveHMACCredentials(ctx context.Context, endedBefore time.Time, limit int) ([]*keygate.HMACCredential, error) {
	if limit < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	var creds []*keygate.HMACCredential
	err := db.write(ctx, func(tx *sql.Tx) ([]keygate.Change, error) {
		now := db.stamp()
		var err error
		creds, err = claimHMACCredentials(ctx, tx, `UPDATE hmac_credentials SET status = 'archived', secret = X'', archived_at = ?1
			WHERE id IN (SELECT id FROM hmac_credentials WHERE status IN ('active', 'revoked')
				AND (revoked_at <= ?2 OR expires_at <= ?2) LIMIT ?3)
			RETURNING `+returningHMACCols, micros(now), micros(endedBefore), limit)
		if err != nil {
			return nil, err
		}
		changes := make([]keygate.Change, len(creds))
		for i, c := range creds {
			changes[i] = keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Updated, Action: "archived", ID: c.ID, Username: c.Username}
		}
		return changes, nil
	})
	if err != nil {
		return nil, err
	}
	if len(creds) > 0 {
		db.shred(ctx)
	}
	return creds, nil
}

func (db *DB) DestroyHMACCredentials(ctx context.Context, archivedBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	n := 0
	err := db.write(ctx, func(tx *sql.Tx) ([]keygate.Change, error) {
		rows, err := tx.QueryContext(ctx, `DELETE FROM hmac_credentials WHERE id IN (SELECT id FROM hmac_credentials
			WHERE status = 'archived' AND archived_at <= ? LIMIT ?) RETURNING id, username`, micros(archivedBefore), limit)
		if err != nil {
			return nil, fmt.Errorf("sqlite: destroy hmac credentials: %w", err)
		}
		defer rows.Close()
		var changes []keygate.Change
		for rows.Next() {
			var id, username string
			if err := rows.Scan(&id, &username); err != nil {
				return nil, err
			}
			changes = append(changes, keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, Action: "destroyed", ID: id, Username: username})
		}
		n = len(changes)
		return changes, rows.Err()
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		db.shred(ctx)
	}
	return n, nil
}

// returningHMACCols are hmacCols for a RETURNING clause, which takes no alias.
var returningHMACCols = strings.ReplaceAll(hmacCols, "h.", "")

// claimHMACCredentials runs an UPDATE ... RETURNING returningHMACCols.
func claimHMACCredentials(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]*keygate.HMACCredential, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lifecycle: %w", err)
	}
	defer rows.Close()
	var creds []*keygate.HMACCredential
	for rows.Next() {
		c, err := scanHMACCredential(rows)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	return creds, rows.Err()
}
