package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/keygate/keygate"
)

// logChanges writes changes to the change log (keygate.ChangeLog) in the
// transaction that made them, next to their audit records: a change is
// logged exactly when it is committed, and so emitted.
func (db *DB) logChanges(ctx context.Context, tx *Tx, changes []keygate.Change) error {
	if len(changes) == 0 {
		return nil
	}
	at := micros(db.stamp())
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO changes (at, kind, op, action, id, key_identifier, username)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, at, c.Kind.String(), c.Op.String(), c.Action, c.ID, c.KeyIdentifier, c.Username); err != nil {
			return fmt.Errorf("store: change log: %w", err)
		}
	}
	return nil
}

// maxChangesPage bounds one ChangesSince.
const maxChangesPage = 10000

func (db *DB) ChangesSince(ctx context.Context, after int64, limit int) ([]keygate.SequencedChange, error) {
	limit = min(max(limit, 1), maxChangesPage)
	rows, err := db.r.QueryContext(ctx, `SELECT seq, at, kind, op, action, id, key_identifier, username FROM changes
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: changes: %w", err))
	}
	defer rows.Close()
	var out []keygate.SequencedChange
	for rows.Next() {
		var c keygate.SequencedChange
		var kind, op string
		if err := rows.Scan(&c.Seq, timeColumn{&c.At}, &kind, &op, &c.Action, &c.ID, &c.KeyIdentifier, &c.Username); err != nil {
			return nil, storeError(fmt.Errorf("store: changes: %w", err))
		}
		c.Kind, c.Op = keygate.ParseChangeKind(kind), keygate.ParseChangeOp(op)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: changes: %w", err))
	}
	return out, nil
}

func (db *DB) LatestChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM changes`).Scan(&seq); err != nil {
		return 0, storeError(fmt.Errorf("store: latest change: %w", err))
	}
	return seq, nil
}

// PruneChanges deletes by time, which is what every node agrees on without
// talking: a delete repeated by another node deletes nothing more. It emits
// no change and is not audited.
func (db *DB) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		res, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE at < ?`, micros(before))
		if err != nil {
			return nil, fmt.Errorf("store: prune changes: %w", err)
		}
		n, err = res.RowsAffected()
		return nil, err
	})
	return n, err
}
