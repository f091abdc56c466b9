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
