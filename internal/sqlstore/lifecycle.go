package sqlstore

import (
	"context"
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
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		now := db.stamp()
		var err error
		keys, err = claim(ctx, tx, scanKey, `UPDATE api_keys SET expiry_notice_at = ?1
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
	shredded := false
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		// A successor kept for pickup by an archived key goes by trigger.
		before, err := rotationPickups(ctx, tx)
		if err != nil {
			return nil, err
		}
		now := db.stamp()
		keys, err = claim(ctx, tx, scanKey, `UPDATE api_keys SET status = 'archived', secret_hash = `+db.d.EmptyBlob+`, archived_at = ?1, updated_at = ?1
			WHERE id IN (SELECT id FROM api_keys WHERE status IN ('active', 'revoked')
				AND (revoked_at <= ?2 OR expires_at <= ?2) LIMIT ?3)
			RETURNING `+returningKeyCols, micros(now), micros(endedBefore), limit)
		if err != nil {
			return nil, err
		}
		after, err := rotationPickups(ctx, tx)
		if err != nil {
			return nil, err
		}
		shredded = after < before
		changes := make([]keygate.Change, len(keys))
		for i, k := range keys {
			changes[i] = keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Updated, Action: "archived", ID: k.ID, KeyIdentifier: k.Identifier}
		}
		return changes, nil
	})
	if err != nil {
		return nil, err
	}
	if shredded {
		db.shred(ctx)
	}
	return keys, nil
}

// Scheduled rotation. A key is due when created_at + the policy's every
// (seconds; times are microseconds) has come; its notice goes out notice
// seconds before. Policies are validated before they are stored, so every
// is at least a day and notice shorter. In the conditions below, k is the
// key, c its consumer and ?1 the job's now.
const (
	// rotatableSQL: an active, unexpired key without a successor, whose consumer has a policy.
	rotatableSQL = `c.rotation_policy IS NOT NULL AND k.status = 'active' AND k.successor_id IS NULL
		AND (k.expires_at IS NULL OR k.expires_at > ?1)`
)

func (db *DB) NoticeRotationDue(ctx context.Context, now time.Time, limit int) ([]*keygate.DueRotation, error) {
	if limit < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	var due []*keygate.DueRotation
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		due = nil // a transaction run again claims again
		keys, err := claim(ctx, tx, scanKey, `UPDATE api_keys SET rotation_notice_at = ?2
			WHERE id IN (SELECT k.id FROM api_keys k JOIN consumers c ON c.id = k.consumer_id
				WHERE `+rotatableSQL+` AND k.rotation_notice_at IS NULL AND `+db.rotationNoticeSQL+`
				ORDER BY k.created_at LIMIT ?3)
			RETURNING `+returningKeyCols, micros(now), micros(db.stamp()), limit)
		if err != nil {
			return nil, err
		}
		consumers := map[string]*keygate.Consumer{}
		for _, k := range keys {
			c, ok := consumers[k.Consumer.ID]
			if !ok {
				if c, err = findConsumer(ctx, tx, k.Consumer.ID); err != nil {
					return nil, err
				}
				consumers[k.Consumer.ID] = c
			}
			due = append(due, &keygate.DueRotation{Key: k, Consumer: c, DueAt: c.RotationPolicy.DueAt(k.CreatedAt)})
		}
		return nil, nil // nothing a cache holds changed
	})
	return due, err
}

func (db *DB) DueRotations(ctx context.Context, now time.Time, limit int) ([]*keygate.DueRotation, error) {
	if limit < 1 {
		return nil, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+keyCols+`, `+prefixed("c.", consumerCols)+`
		FROM api_keys k JOIN consumers c ON c.id = k.consumer_id
		WHERE `+rotatableSQL+` AND `+db.autoRotateSQL+` AND `+db.rotationDueSQL+`
		ORDER BY k.created_at LIMIT ?2`, micros(now), limit)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: due rotations: %w", err))
	}
	defer rows.Close()
	var found lookupRows
	if err := found.scan(rows); err != nil {
		return nil, storeError(fmt.Errorf("store: due rotations: %w", err))
	}
	var due []*keygate.DueRotation
	for _, kc := range found.out {
		due = append(due, &keygate.DueRotation{Key: kc.Key, Consumer: kc.Consumer, DueAt: kc.Consumer.RotationPolicy.DueAt(kc.Key.CreatedAt)})
	}
	return due, nil
}

func (db *DB) DestroyKeys(ctx context.Context, archivedBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, keygate.Errorf(keygate.EINVALID, "limit: must be at least 1")
	}
	return db.destroyArchived(ctx, "api_keys", "identifier", archivedBefore, limit, func(id, identifier string) keygate.Change {
		return keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Deleted, Action: "destroyed", ID: id, KeyIdentifier: identifier}
	})
}

// destroyArchived deletes up to limit rows of table archived no later than
// archivedBefore, reporting each with the change change makes of its id
// and its column lookup (what caches index it by), and empties the log.
func (db *DB) destroyArchived(ctx context.Context, table, lookup string, archivedBefore time.Time, limit int,
	change func(id, lookup string) keygate.Change) (int, error) {
	var changes []keygate.Change
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		var err error
		changes, err = claim(ctx, tx, func(row scanner) (keygate.Change, error) {
			var id, key string
			err := row.Scan(&id, &key)
			return change(id, key), err
		}, `DELETE FROM `+table+` WHERE id IN (SELECT id FROM `+table+`
			WHERE status = 'archived' AND archived_at <= ? LIMIT ?) RETURNING id, `+lookup, micros(archivedBefore), limit)
		return changes, err
	})
	if err != nil {
		return 0, err
	}
	if len(changes) > 0 {
		db.shred(ctx) // no trace of what was destroyed in the files
	}
	return len(changes), nil
}

// returningKeyCols are keyCols for a RETURNING clause, which takes no alias.
var returningKeyCols = strings.ReplaceAll(keyCols, "k.", "")

// claim runs an UPDATE or DELETE ... RETURNING the columns scan reads.
func claim[T any](ctx context.Context, tx *Tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: lifecycle: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
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
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		now := db.stamp()
		var err error
		creds, err = claim(ctx, tx, scanHMACCredential, `UPDATE hmac_credentials SET expiry_notice_at = ?1
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
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		now := db.stamp()
		var err error
		creds, err = claim(ctx, tx, scanHMACCredential, `UPDATE hmac_credentials SET status = 'archived', secret = `+db.d.EmptyBlob+`, archived_at = ?1
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
	return db.destroyArchived(ctx, "hmac_credentials", "username", archivedBefore, limit, func(id, username string) keygate.Change {
		return keygate.Change{Kind: keygate.HMACCredentialChanged, Op: keygate.Deleted, Action: "destroyed", ID: id, Username: username}
	})
}

// returningHMACCols are hmacCols for a RETURNING clause, which takes no alias.
var returningHMACCols = strings.ReplaceAll(hmacCols, "h.", "")
