package sqlstore

import (
	"context"
	"fmt"

	"github.com/keygate/keygate"
)

// audit records changes in the transaction that made them, with the actor
// and reason the context carries.
func (db *DB) audit(ctx context.Context, tx *Tx, changes []keygate.Change) error {
	if len(changes) == 0 {
		return nil
	}
	actor, reason := keygate.Audit(ctx)
	actor, reason = keygate.CleanReason(actor), keygate.CleanReason(reason)
	at := micros(db.stamp())
	for _, c := range changes {
		if err := insertAudit(ctx, tx, at, actor, reason, c.Kind.String(), c.Verb(), c.ID); err != nil {
			return err
		}
	}
	return nil
}

// record audits a transition of a record no cache holds (the keyring, access
// requests and rules), which therefore emits no Change.
func (db *DB) record(ctx context.Context, tx *Tx, kind, verb, id string) error {
	actor, reason := keygate.Audit(ctx)
	actor, reason = keygate.CleanReason(actor), keygate.CleanReason(reason)
	return insertAudit(ctx, tx, micros(db.stamp()), actor, reason, kind, verb, id)
}

func insertAudit(ctx context.Context, tx *Tx, at int64, actor, reason, kind, verb, target string) error {
	id, err := newID()
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, action, target_kind, target_id, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, at, actor, kind+"."+verb, kind, target, nullString(reason)); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

func (db *DB) ListAudit(ctx context.Context, f keygate.AuditFilter, p keygate.Page) ([]*keygate.AuditEvent, string, error) {
	var since int64
	if !f.Since.IsZero() {
		since = micros(f.Since)
	}
	return listPage(ctx, db.r, p, `SELECT id, at, actor, action, target_kind, target_id, reason FROM audit_events
		WHERE (?1 = '' OR target_id = ?1) AND (?2 = '' OR actor = ?2) AND (?3 = '' OR action = ?3) AND at >= ?4
		AND id > ?5 ORDER BY id LIMIT ?6`,
		scanAudit, func(e *keygate.AuditEvent) string { return e.ID }, f.TargetID, f.Actor, f.Action, since)
}

func scanAudit(row scanner) (*keygate.AuditEvent, error) {
	e := &keygate.AuditEvent{}
	if err := row.Scan(&e.ID, timeColumn{&e.At}, &e.Actor, &e.Action, &e.TargetKind, &e.TargetID, nullStringColumn{&e.Reason}); err != nil {
		return nil, err
	}
	return e, nil
}

// RecordAudit writes one audit entry that goes with no stored change (an
// anomaly alert), in a transaction of its own.
func (db *DB) RecordAudit(ctx context.Context, kind, verb, targetID string) error {
	return db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		return nil, db.record(ctx, tx, kind, verb, targetID)
	})
}

var _ keygate.AuditRecorder = (*DB)(nil)
