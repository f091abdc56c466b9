package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate"
)

var _ keygate.LeaseStore = (*DB)(nil)

// NotExported are the schema's tables an export leaves out and a load does
// not expect: leases say who is doing what right now (and nodes who is running), and the change log
// tells running nodes what to drop from their caches, both of which a
// restored or migrated install starts afresh; audit_chain caches the head
// of the audit chain, which the store reads again from audit_events when
// the row is missing.
var NotExported = []string{"leases", "changes", "console_sessions", "audit_chain", "nodes"}

// AcquireLease implements keygate.LeaseStore: one upsert whose update only
// happens when the lease is holder's or has expired, so of two nodes racing
// for a free lease one writes and the other's statement changes no row.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	switch {
	case name == "":
		return false, keygate.Errorf(keygate.EINVALID, "name: required")
	case holder == "":
		return false, keygate.Errorf(keygate.EINVALID, "holder: required")
	case ttl < time.Millisecond:
		return false, keygate.Errorf(keygate.EINVALID, "ttl: must be at least a millisecond")
	}
	var held bool
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		now := db.stamp()
		res, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
				acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END
			WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at`,
			name, holder, micros(now), micros(now.Add(ttl)))
		if err != nil {
			return nil, fmt.Errorf("store: acquire lease: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("store: acquire lease: %w", err)
		}
		held = n == 1
		return nil, nil
	})
	return held, err
}

// ReleaseLease implements keygate.LeaseStore.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ?1 AND holder = ?2`, name, holder); err != nil {
			return nil, fmt.Errorf("store: release lease: %w", err)
		}
		return nil, nil
	})
}
