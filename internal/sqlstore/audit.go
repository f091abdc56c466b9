package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auditchain"
)

// audit records changes in the transaction that made them, with the actor,
// source and reason the context carries.
func (db *DB) audit(ctx context.Context, tx *Tx, changes []keygate.Change) error {
	for _, c := range changes {
		if err := db.record(ctx, tx, c.Kind.String(), c.Verb(), c.ID); err != nil {
			return err
		}
	}
	return nil
}

// record audits a transition; for those of records no cache holds (the
// keyring, access requests and rules), which therefore emit no Change, the
// store methods call it themselves. The event is appended to the chain when
// the transaction commits (appendAudit).
func (db *DB) record(ctx context.Context, tx *Tx, kind, verb, id string) error {
	actor, reason := keygate.Audit(ctx)
	eid, err := newID()
	if err != nil {
		return err
	}
	tx.audits = append(tx.audits, &keygate.AuditEvent{
		ID:         eid,
		At:         db.stamp(),
		Actor:      keygate.CleanReason(actor),
		Source:     keygate.CleanReason(keygate.AuditSource(ctx)),
		Action:     kind + "." + verb,
		TargetKind: kind,
		TargetID:   id,
		Reason:     keygate.CleanReason(reason),
		Result:     keygate.AuditOK,
		Changes:    tx.summaries[id],
	})
	return nil
}

// appendAudit appends the transaction's audit events to the chain. The
// chain's head row is read FOR UPDATE (PostgreSQL): appends from every node
// take their turn on it, so the chain has one order and no forks; a
// transaction that finds the head moved since its snapshot fails with a
// serialization error and is run again (see commit). It comes last before
// the change log, so the lock is held as briefly as can be.
func (db *DB) appendAudit(ctx context.Context, tx *Tx) error {
	if len(tx.audits) == 0 {
		return nil
	}
	var seq int64
	var hash string
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_chain WHERE id = 1`+db.d.ForUpdate).Scan(&seq, &hash)
	missing := errors.Is(err, sql.ErrNoRows)
	if missing {
		seq, hash, err = chainHead(ctx, tx)
	}
	if err != nil {
		return fmt.Errorf("store: audit chain head: %w", err)
	}
	for _, e := range tx.audits {
		seq++
		e.Seq = seq
		auditchain.Seal(e, hash)
		hash = e.Hash
		var changes any
		if len(e.Changes) > 0 {
			b, err := json.Marshal(e.Changes)
			if err != nil {
				return fmt.Errorf("store: audit: %w", err)
			}
			changes = string(b)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, action, target_kind, target_id, reason,
			seq, source, result, changes, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, micros(e.At), e.Actor, e.Action, e.TargetKind, e.TargetID, nullString(e.Reason),
			e.Seq, nullString(e.Source), e.Result, changes, nullString(e.PrevHash), e.Hash); err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
	}
	query := `UPDATE audit_chain SET seq = ?, hash = ? WHERE id = 1`
	if missing {
		query = `INSERT INTO audit_chain (seq, hash, id) VALUES (?, ?, 1)`
	}
	if _, err := tx.ExecContext(ctx, query, seq, hash); err != nil {
		return fmt.Errorf("store: audit chain head: %w", err)
	}
	return nil
}

// chainHead reads the head from the trail itself, for a store whose
// audit_chain row is missing (new, migrated or restored from a backup,
// which leaves the row out). The newest event's hash is "" when it is
// older than the chain: the next event starts the chain.
func chainHead(ctx context.Context, q querier) (seq int64, hash string, err error) {
	err = q.QueryRowContext(ctx, `SELECT seq, coalesce(hash, '') FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, err
}

const auditCols = `id, at, actor, action, target_kind, target_id, reason, seq, source, result, changes, prev_hash, hash`

func (db *DB) ListAudit(ctx context.Context, f keygate.AuditFilter, p keygate.Page) ([]*keygate.AuditEvent, string, error) {
	var since int64
	if !f.Since.IsZero() {
		since = micros(f.Since)
	}
	return listPage(ctx, db.r, p, `SELECT `+auditCols+` FROM audit_events
		WHERE (?1 = '' OR target_id = ?1) AND (?2 = '' OR actor = ?2) AND (?3 = '' OR action = ?3) AND at >= ?4
		AND id > ?5 ORDER BY id LIMIT ?6`,
		scanAudit, func(e *keygate.AuditEvent) string { return e.ID }, f.TargetID, f.Actor, f.Action, since)
}

// maxAuditChainPage bounds one AuditChain.
const maxAuditChainPage = 10000

func (db *DB) AuditChain(ctx context.Context, after int64, limit int) ([]*keygate.AuditEvent, error) {
	limit = min(max(limit, 1), maxAuditChainPage)
	rows, err := db.r.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, storeError(fmt.Errorf("store: audit chain: %w", err))
	}
	defer rows.Close()
	var out []*keygate.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, storeError(fmt.Errorf("store: audit chain: %w", err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(fmt.Errorf("store: audit chain: %w", err))
	}
	return out, nil
}

func (db *DB) AuditHead(ctx context.Context) (keygate.AuditHead, error) {
	var h keygate.AuditHead
	var err error
	if h.Seq, h.Hash, err = chainHead(ctx, db.r); err != nil {
		return h, storeError(fmt.Errorf("store: audit head: %w", err))
	}
	if err := db.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM audit_events WHERE hash IS NULL`).Scan(&h.Anchor); err != nil {
		return h, storeError(fmt.Errorf("store: audit head: %w", err))
	}
	return h, nil
}

func scanAudit(row scanner) (*keygate.AuditEvent, error) {
	e := &keygate.AuditEvent{}
	var seq sql.NullInt64
	var changes string
	if err := row.Scan(&e.ID, timeColumn{&e.At}, &e.Actor, &e.Action, &e.TargetKind, &e.TargetID, nullStringColumn{&e.Reason},
		&seq, nullStringColumn{&e.Source}, &e.Result, nullStringColumn{&changes}, nullStringColumn{&e.PrevHash}, nullStringColumn{&e.Hash}); err != nil {
		return nil, err
	}
	e.Seq = seq.Int64
	if changes != "" {
		if err := json.Unmarshal([]byte(changes), &e.Changes); err != nil {
			return nil, fmt.Errorf("audit event %s: changes: %w", e.ID, err)
		}
	}
	return e, nil
}
