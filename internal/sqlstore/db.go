// Package sqlstore is keygate.Store written once in SQL that both SQLite
// and PostgreSQL run, over database/sql; a Dialect holds what differs. The
// sqlite and postgres packages open their database and hand it to New.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keygate/keygate"
)

var _ keygate.Store = (*DB)(nil)

// Config is what New needs: the database, opened and migrated, and how it
// behaves.
type Config struct {
	// Writer runs the write transactions, Reader everything else; they may
	// be the same pool.
	Writer, Reader *sql.DB
	Dialect        *Dialect
	// Now is the clock for created_at, updated_at and revoked_at; time.Now when nil.
	Now func() time.Time
	// OnChange, when set, is called after every committed write.
	OnChange keygate.ChangeFunc
	// Shred, when set, runs after a commit that removed key material (a
	// destroyed data key, keyring versions sealed by a retired root key),
	// to wipe what the engine keeps of the old rows outside the tables
	// (SQLite's write-ahead log). Its failure is not reported: the write
	// did happen.
	Shred func(ctx context.Context)
	// ReadKey, when set, is LookupKey's read: the row of LookupKeyQuery for
	// identifier into dest, converted as database/sql's Scan would, or
	// sql.ErrNoRows. SQLite reads it through the engine's own interface,
	// without database/sql's work per column (docs/benchmarks.md, "Miss
	// path").
	ReadKey func(ctx context.Context, identifier string, dest []any) error
	// ReadKeys, when set, is LookupKeys' read: the rows of LookupKeysQuery
	// for identifiers (sorted, each once), in one read transaction, each
	// found one into a dest() of its own, converted as database/sql's Scan
	// would. SQLite reads them one by one through the key reader's
	// connection; PostgreSQL in one query through pgx, without database/sql
	// (docs/benchmarks.md, "Miss path").
	ReadKeys func(ctx context.Context, identifiers []string, dest func() []any) error
}

// DB is a keygate.Store on a SQL database.
type DB struct {
	w, r *pool
	d    *Dialect
	// LookupKey and LookupHMACCredential are the gateway's hot reads;
	// prepare them once.
	lookup, lookupHMAC *Stmt
	// lookupKeys are LookupKeys' reads of lookupKeysSizes identifiers.
	lookupKeys [len(lookupKeysSizes)]*Stmt
	// addUsage and addVerifications are the usage flush's upserts.
	addUsage, addVerifications *bulkWrite
	now                        func() time.Time
	onChange                   keygate.ChangeFunc
	shredFn                    func(ctx context.Context)
	readKey                    func(ctx context.Context, identifier string, dest []any) error
	readKeys                   func(ctx context.Context, identifiers []string, dest func() []any) error
	// The dialect's expressions in the queries that need them:
	// scheduled rotation (a key is due when created_at + the policy's every,
	// in seconds, has come; its notice goes out notice seconds before; ?1
	// is the job's now), the webhooks an event of type ?2 about consumer ?1
	// goes to, and the start (unix seconds) of the bucket that holds the
	// usage's minute per granularity, the modulo floored so that minutes
	// before 1970 fall in the right bucket too.
	rotationDueSQL, rotationNoticeSQL, autoRotateSQL, matchingWebhooks string
	usageBuckets                                                       map[keygate.Granularity]string
}

// New returns the store on the database cfg describes, whose schema must be
// the newest. Close closes the prepared statements, not the database.
func New(ctx context.Context, cfg Config) (*DB, error) {
	d := cfg.Dialect
	db := &DB{w: &pool{cfg.Writer, d}, r: &pool{cfg.Reader, d}, d: d, now: cfg.Now, onChange: cfg.OnChange, shredFn: cfg.Shred,
		readKey: cfg.ReadKey, readKeys: cfg.ReadKeys, addUsage: addUsage(), addVerifications: addVerifications()}
	if db.now == nil {
		db.now = time.Now
	}
	every, notice := d.JSONNumber("c.rotation_policy", "every"), d.JSONNumber("c.rotation_policy", "notice")
	db.rotationDueSQL = `k.created_at + ` + every + ` * 1000000 <= ?1`
	db.rotationNoticeSQL = `k.created_at + (` + every + ` - ` + notice + `) * 1000000 <= ?1`
	db.autoRotateSQL = d.JSONTrue("c.rotation_policy", "auto")
	db.matchingWebhooks = `w.enabled AND (w.consumer_id IS NULL OR w.consumer_id = ?1)
	AND ` + d.JSONListHas("w.events", "?2")
	db.usageBuckets = map[keygate.Granularity]string{
		keygate.ByMinute: `minute`,
		keygate.ByHour:   `minute - ((minute % 3600) + 3600) % 3600`,
		keygate.ByDay:    `minute - ((minute % 86400) + 86400) % 86400`,
		keygate.ByMonth:  d.MonthStart("minute"),
	}
	var err error
	if db.lookup, err = db.r.prepare(ctx, lookupKeySQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: prepare: %w", d.Name, err)
	}
	if db.lookupHMAC, err = db.r.prepare(ctx, lookupHMACSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: prepare: %w", d.Name, err)
	}
	for i, query := range lookupKeysSQLs {
		if db.lookupKeys[i], err = db.r.prepare(ctx, query); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: prepare: %w", d.Name, err)
		}
	}
	for _, w := range []*bulkWrite{db.addUsage, db.addVerifications} {
		if err := w.prepare(ctx, db.w); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: prepare: %w", d.Name, err)
		}
	}
	return db, nil
}

// WithSQLReads returns a store on db's database that reads keys through
// database/sql, not through the engine's Config.ReadKey and ReadKeys: what
// an engine's tests compare its own reads with. Close it before db.
func (db *DB) WithSQLReads(ctx context.Context) (*DB, error) {
	return New(ctx, Config{Writer: db.w.db, Reader: db.r.db, Dialect: db.d, Now: db.now})
}

// Close closes the prepared statements; the caller closes the database.
func (db *DB) Close() error {
	var errs []error
	for _, stmt := range append([]*Stmt{db.lookup, db.lookupHMAC, db.addUsage.stmt, db.addVerifications.stmt}, db.lookupKeys[:]...) {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// shred runs the Shred hook; see Config.
func (db *DB) shred(ctx context.Context) {
	if db.shredFn != nil {
		// A caller that gives up right after the commit must not skip it.
		db.shredFn(context.WithoutCancel(ctx))
	}
}

// write runs fn in one write transaction and, only once it has committed,
// reports the changes fn returns: caches must never drop an entry for a
// write that did not happen, nor keep one for a write that did.
//
// Its error is fn's as is, or, when the database cannot be used, EUNAVAILABLE
// (see storeError).
//
// fn may run more than once: a transaction that loses to a concurrent one
// is run again (see commit). So fn sets, never accumulates into, the
// variables it shares with its caller, and the callbacks it calls (seal,
// update) may run again; one that must not (open) comes after a read with
// Dialect.ForUpdate.
func (db *DB) write(ctx context.Context, fn func(tx *Tx) ([]keygate.Change, error)) error {
	changes, err := db.commit(ctx, fn)
	if err != nil {
		return storeError(err)
	}
	if db.onChange != nil {
		for _, c := range changes {
			db.onChange(c)
		}
	}
	return nil
}

// maxAttempts bounds how often a write transaction that lost to a
// concurrent one (Class.Retry) is run again before its error is returned.
const maxAttempts = 20

func (db *DB) commit(ctx context.Context, fn func(tx *Tx) ([]keygate.Change, error)) ([]keygate.Change, error) {
	for attempt := 1; ; attempt++ {
		changes, err := db.commitOnce(ctx, fn)
		if err == nil || !retry(err, attempt) {
			return changes, err
		}
		// A random pause under a ceiling that doubles with the attempts (2 ms
		// to 128 ms: exponential backoff with full jitter), so that the
		// transactions that collided spread out, however many there are and
		// however slow the server is: about a second in all before giving up.
		ceiling := time.Millisecond << min(attempt, 7)
		pause := time.Millisecond + rand.N(ceiling)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// retry says whether a write transaction that failed with err on its
// attempt-th run may be run again. A unique violation that the store did
// not turn into a domain error (ECONFLICT) is one that its reads did not
// foresee: under PostgreSQL's SERIALIZABLE, two transactions that insert
// the same key without having read it collide that way, not with a
// serialization failure. Run again, the loser sees the winner's row; a
// violation that is no race fails the same way a second time.
func retry(err error, attempt int) bool {
	c := classOf(err)
	return c.Retry && attempt < maxAttempts || c.Constraint == Unique && attempt < 2
}

func (db *DB) commitOnce(ctx context.Context, fn func(tx *Tx) ([]keygate.Change, error)) ([]keygate.Change, error) {
	sqlTx, err := db.w.db.BeginTx(ctx, db.d.TxOptions)
	if err != nil {
		return nil, fmt.Errorf("%s: begin: %w", db.d.Name, db.d.wrap(err))
	}
	defer sqlTx.Rollback()
	tx := &Tx{tx: sqlTx, d: db.d}
	changes, err := fn(tx)
	if err != nil {
		return nil, err
	}
	if err := db.audit(ctx, tx, changes); err != nil {
		return nil, err
	}
	if err := db.appendAudit(ctx, tx); err != nil {
		return nil, err
	}
	// Last before the commit: on PostgreSQL the log's sequence number is
	// taken here, so the time it is held uncommitted is as short as can be.
	if err := db.logChanges(ctx, tx, changes); err != nil {
		return nil, err
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("%s: commit: %w", db.d.Name, db.d.wrap(err))
	}
	db.sealCommitted(ctx, tx)
	return changes, nil
}

// storeError maps a failure that means the database is unavailable (closed,
// locked past busy_timeout, out of disk, failing I/O, too slow for the
// request's deadline) to EUNAVAILABLE, which clients see as 503 and may
// retry; any other error is returned as it is. The read and write helpers
// pass every error through it, so this is the one place that decides.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*keygate.Error](err); ok {
		return err // already says what it is
	}
	if unavailable(err) {
		return keygate.Unavailable(err, "store unavailable")
	}
	return err
}

func unavailable(err error) bool {
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if c := classOf(err); c.Unavailable || c.Retry { // Retry: still losing after maxAttempts
		return true
	}
	// database/sql does not export these errors, only their text.
	msg := err.Error()
	return strings.Contains(msg, "sql: database is closed") || strings.Contains(msg, "sql: statement is closed")
}

// stamp returns the current time as stored: UTC, to the microsecond.
func (db *DB) stamp() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("store: new id: %w", err)
	}
	return id.String(), nil
}

// pageSize returns the clamped page size of p.
func pageSize(p keygate.Page) int {
	switch {
	case p.Limit == 0:
		return keygate.DefaultPageSize
	case p.Limit < 1:
		return 1
	case p.Limit > keygate.MaxPageSize:
		return keygate.MaxPageSize
	}
	return p.Limit
}

// listPage runs a keyset-paginated query whose last two parameters are the
// cursor and the limit, and returns at most n items and the next cursor.
func listPage[T any](ctx context.Context, q querier, p keygate.Page, query string, scan func(scanner) (T, error), id func(T) string, args ...any) ([]T, string, error) {
	n := pageSize(p)
	rows, err := q.QueryContext(ctx, query, append(args, p.After, n+1)...)
	if err != nil {
		return nil, "", storeError(fmt.Errorf("store: list: %w", err))
	}
	defer rows.Close()
	items := make([]T, 0, min(n, 64))
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, "", storeError(fmt.Errorf("store: list: %w", err))
		}
		items = append(items, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", storeError(fmt.Errorf("store: list: %w", err))
	}
	if len(items) <= n {
		return items, "", nil
	}
	items = items[:n]
	return items, id(items[n-1]), nil
}
