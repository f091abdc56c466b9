package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keygate/keygate"
	"modernc.org/sqlite" // also registers the "sqlite" driver
)

var _ keygate.Store = (*DB)(nil)

// Options configures a DB.
type Options struct {
	// Now is the clock for created_at, updated_at and revoked_at; time.Now when nil.
	Now func() time.Time
	// OnChange, when set, is called after every committed write.
	OnChange keygate.ChangeFunc
}

// DB is a keygate.Store on one SQLite file.
//
// Writes go through a single connection, so they queue in database/sql
// instead of failing with SQLITE_BUSY, and BEGIN IMMEDIATE takes the write
// lock up front, so a transaction that reads then writes cannot deadlock
// against another process. Reads use a separate pool that, in WAL mode, runs
// alongside the writer.
type DB struct {
	w, r *sql.DB
	// LookupKey and LookupHMACCredential are the gateway's hot reads;
	// prepare them once. lookupHMAC is nil at a schema without HMAC
	// credentials (a restore in progress).
	lookup, lookupHMAC *sql.Stmt
	now                func() time.Time
	onChange           keygate.ChangeFunc
}

// Open opens (creating it if needed, with mode 0600) the database file at
// path and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	return openAt(ctx, path, opts, 0)
}

// openAt opens the database with its schema brought up to version schema (0:
// the newest).
func openAt(ctx context.Context, path string, opts Options, schema int) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// SQLite would create the file world-readable; it holds key hashes.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	db := &DB{now: opts.Now, onChange: opts.OnChange}
	if db.now == nil {
		db.now = time.Now
	}
	// secure_delete: a deleted or replaced row (a destroyed data key, a
	// keyring version sealed by a retired root key) is overwritten with zeros
	// in the file instead of lingering in free space. Only the writer deletes.
	if db.w, err = sql.Open("sqlite", dsn(path, "_txlock=immediate&_pragma=secure_delete(1)")); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	if db.r, err = sql.Open("sqlite", dsn(path, "_pragma=query_only(1)")); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.r.SetMaxOpenConns(n)
	db.r.SetMaxIdleConns(n)

	// The writer migrates first: it switches the file to WAL before any reader opens.
	if err := migrate(ctx, db.w, migrations, db.now, schema); err != nil {
		db.Close()
		return nil, err
	}
	// The gateway's hot reads are prepared against the newest schema only: a
	// store opened at an older one (by Restore, to load an export) serves none.
	if schema == 0 {
		if db.lookup, err = db.r.PrepareContext(ctx, lookupKeySQL); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		if db.lookupHMAC, err = db.r.PrepareContext(ctx, lookupHMACSQL); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	return db, nil
}

// dsn builds a file: URI, so that any character in path is escaped rather
// than read as the start of the query string.
func dsn(path, extra string) string {
	q := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&" + extra
	u := url.URL{Scheme: "file", OmitHost: true, Path: filepath.ToSlash(path), RawQuery: q}
	return u.String()
}

// Close closes the database; readers first, so the writer's connection is
// the last one and checkpoints the WAL into the main file.
func (db *DB) Close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{db.lookup, db.lookupHMAC} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// querier is what read helpers need; *sql.DB and *sql.Tx both have it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in one write transaction and, only once it has committed,
// reports the changes fn returns: caches must never drop an entry for a
// write that did not happen, nor keep one for a write that did.
//
// Its error is fn's as is, or, when the database cannot be used, EUNAVAILABLE
// (see storeError).
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) ([]keygate.Change, error)) error {
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

func (db *DB) commit(ctx context.Context, fn func(tx *sql.Tx) ([]keygate.Change, error)) ([]keygate.Change, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	changes, err := fn(tx)
	if err != nil {
		return nil, err
	}
	if err := db.audit(ctx, tx, changes); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: commit: %w", err)
	}
	return changes, nil
}

// SQLite primary result codes that mean the database cannot be used right
// now, rather than that the request is wrong.
const (
	sqliteBusy     = 5  // locked by another connection beyond busy_timeout
	sqliteLocked   = 6  // a table lock within this process
	sqliteIOErr    = 10 // the disk failed
	sqliteFull     = 13 // the disk is full
	sqliteCantOpen = 14 // the file cannot be opened
)

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
	if e, ok := errors.AsType[*sqlite.Error](err); ok {
		switch e.Code() & 0xff { // the primary code of an extended one
		case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return true
		}
		return false
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
		return "", fmt.Errorf("sqlite: new id: %w", err)
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
		return nil, "", storeError(fmt.Errorf("sqlite: list: %w", err))
	}
	defer rows.Close()
	items := make([]T, 0, min(n, 64))
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, "", storeError(fmt.Errorf("sqlite: list: %w", err))
		}
		items = append(items, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", storeError(fmt.Errorf("sqlite: list: %w", err))
	}
	if len(items) <= n {
		return items, "", nil
	}
	items = items[:n]
	return items, id(items[n-1]), nil
}
