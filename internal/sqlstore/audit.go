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
	return db.recordEvent(ctx, tx, &keygate.AuditEvent{Action: kind + "." + verb, TargetKind: kind, TargetID: id,
		Result: keygate.AuditOK, Changes: tx.summaries[id]})
}

// recordEvent fills in e from ctx and the clock and adds it to tx's events.
func (db *DB) recordEvent(ctx context.Context, tx *Tx, e *keygate.AuditEvent) error {
	actor, reason := keygate.Audit(ctx)
	id, err := newID()
	if err != nil {
		return err
	}
	e.ID, e.At = id, db.stamp()
	e.Actor, e.Reason = keygate.CleanReason(actor), keygate.CleanReason(reason)
	e.Source = keygate.CleanReason(keygate.AuditSource(ctx))
	e.Seq, e.PrevHash, e.Hash = 0, "", ""
	tx.audits = append(tx.audits, e)
	return nil
}

func (db *DB) RecordAudit(ctx context.Context, e *keygate.AuditEvent) error {
	if e.Action == "" || e.TargetKind == "" || e.Result == "" {
		return keygate.Errorf(keygate.EINVALID, "action, target_kind, result: required for an audit event")
	}
	stored := *e
	stored.Action, stored.TargetKind = keygate.CleanReason(e.Action), keygate.CleanReason(e.TargetKind)
	stored.TargetID, stored.Result = keygate.CleanReason(e.TargetID), keygate.CleanReason(e.Result)
	var ev keygate.AuditEvent
	err := db.write(ctx, func(tx *Tx) ([]keygate.Change, error) {
		ev = stored // a transaction run again starts afresh
		return nil, db.recordEvent(ctx, tx, &ev)
	})
	if err != nil {
		return err
	}
	*e = ev // sealed already on SQLite; on PostgreSQL, just after the commit
	return nil
}

// appendAudit writes the transaction's audit events: they exist exactly
// when the change commits. Where write transactions never overlap (SQLite)
// they are sealed into the chain as they are written; on PostgreSQL they
// are written unsealed (no seq, no hashes) and sealed right after the
// commit (see sealCommitted), because a SERIALIZABLE transaction cannot
// read the chain's head as another node has just moved it: every write
// would fail and be run again as soon as two nodes write at once.
func (db *DB) appendAudit(ctx context.Context, tx *Tx) error {
	if len(tx.audits) == 0 {
		return nil
	}
	inline := db.d.ForUpdate == ""
	var seq int64
	var hash string
	if inline {
		var err error
		if seq, hash, err = lockHead(ctx, tx); err != nil {
			return err
		}
	}
	for _, e := range tx.audits {
		var changes any
		if len(e.Changes) > 0 {
			b, err := json.Marshal(e.Changes)
			if err != nil {
				return fmt.Errorf("store: audit: %w", err)
			}
			changes = string(b)
		}
		var seqArg, prevArg, hashArg any
		if inline {
			seq++
			e.Seq = seq
			auditchain.Seal(e, hash)
			hash = e.Hash
			seqArg, prevArg, hashArg = e.Seq, nullString(e.PrevHash), e.Hash
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (id, at, actor, action, target_kind, target_id, reason,
			source, result, changes, seq, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, micros(e.At), e.Actor, e.Action, e.TargetKind, e.TargetID, nullString(e.Reason),
			nullString(e.Source), e.Result, changes, seqArg, prevArg, hashArg); err != nil {
			return fmt.Errorf("store: audit: %w", err)
		}
	}
	if inline {
		return moveHead(ctx, tx, seq, hash)
	}
	return nil
}

// lockHead reads the chain's head, locking its row (FOR UPDATE on
// PostgreSQL), so that appends take their turn on it.
func lockHead(ctx context.Context, tx *Tx) (seq int64, hash string, err error) {
	head := `SELECT seq, hash FROM audit_chain WHERE id = 1` + tx.d.ForUpdate
	err = tx.QueryRowContext(ctx, head).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		// A new, migrated or restored store: the head comes from the trail.
		if seq, hash, err = chainHead(ctx, tx); err != nil {
			return 0, "", fmt.Errorf("store: audit chain head: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_chain (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`, seq, hash); err != nil {
			return 0, "", fmt.Errorf("store: audit chain head: %w", err)
		}
		err = tx.QueryRowContext(ctx, head).Scan(&seq, &hash) // another sealer's, if it came first
	}
	if err != nil {
		return 0, "", fmt.Errorf("store: audit chain head: %w", err)
	}
	return seq, hash, nil
}

func moveHead(ctx context.Context, tx *Tx, seq int64, hash string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE audit_chain SET seq = ?, hash = ? WHERE id = 1`, seq, hash); err != nil {
		return fmt.Errorf("store: audit chain head: %w", err)
	}
	return nil
}

// sealCommitted seals what the committed transaction tx appended, and any
// event left unsealed before (a node that stopped between its commit and
// its seal), on PostgreSQL. Its failure is not the write's, which did
// happen: the events wait for the next seal, by any node, or the next read
// of the whole chain (AuditChain).
func (db *DB) sealCommitted(ctx context.Context, tx *Tx) {
	if len(tx.audits) > 0 && db.d.ForUpdate != "" {
		_ = db.sealPending(context.WithoutCancel(ctx))
	}
}

// sealPending seals every unsealed event, in its own transaction. On
// PostgreSQL it runs READ COMMITTED: the lock on the head row orders the
// sealers of every node, and each of its statements reads what the sealer
// before it committed.
func (db *DB) sealPending(ctx context.Context) error {
	var opts *sql.TxOptions
	if db.d.ForUpdate != "" {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	sqlTx, err := db.w.db.BeginTx(ctx, opts)
	if err != nil {
		return storeError(fmt.Errorf("%s: begin: %w", db.d.Name, db.d.wrap(err)))
	}
	defer sqlTx.Rollback()
	if err := seal(ctx, &Tx{tx: sqlTx, d: db.d}); err != nil {
		return storeError(err)
	}
	if err := sqlTx.Commit(); err != nil {
		return storeError(fmt.Errorf("%s: commit: %w", db.d.Name, db.d.wrap(err)))
	}
	return nil
}

// sealBatch bounds the events one query of seal reads.
const sealBatch = 500

// seal appends the unsealed events to the chain, oldest id (UUIDv7: time)
// first: each gets the next seq, the head's hash as prev_hash and its own
// hash. The head row, locked, makes seals one at a time.
func seal(ctx context.Context, tx *Tx) error {
	seq, hash, err := lockHead(ctx, tx)
	if err != nil {
		return err
	}
	sealed := false
	for {
		rows, err := tx.QueryContext(ctx, `SELECT `+auditCols+` FROM audit_events WHERE seq IS NULL ORDER BY id LIMIT ?`, sealBatch)
		if err != nil {
			return fmt.Errorf("store: audit seal: %w", err)
		}
		var batch []*keygate.AuditEvent
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: audit seal: %w", err)
			}
			batch = append(batch, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: audit seal: %w", err)
		}
		for _, e := range batch {
			seq++
			e.Seq = seq
			auditchain.Seal(e, hash)
			hash = e.Hash
			if _, err := tx.ExecContext(ctx, `UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ? WHERE id = ?`,
				e.Seq, nullString(e.PrevHash), e.Hash, e.ID); err != nil {
				return fmt.Errorf("store: audit seal: %w", err)
			}
			sealed = true
		}
		if len(batch) < sealBatch {
			break
		}
	}
	if !sealed {
		return nil
	}
	return moveHead(ctx, tx, seq, hash)
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
	if after == 0 {
		// A read of the whole chain includes events whose seal failed.
		if err := db.sealPending(ctx); err != nil {
			return nil, err
		}
	}
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
	if err := db.sealPending(ctx); err != nil {
		return h, err
	}
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
