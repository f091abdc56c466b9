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
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
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

// DB is a keygate.Store on one SQLite file: the shared SQL store
// (sqlstore) on this file, plus what only SQLite does (Export, Restore).
//
// Writes go through a single connection, so they queue in database/sql
// instead of failing with SQLITE_BUSY, and BEGIN IMMEDIATE takes the write
// lock up front, so a transaction that reads then writes cannot deadlock
// against another process. Reads use a separate pool that, in WAL mode, runs
// alongside the writer.
type DB struct {
	*sqlstore.DB
	w, r *sql.DB
	keys *keyReader // LookupKey's reads
	path string
	now  func() time.Time
}

// dialect is SQLite's SQL. Write transactions need no options: the writer's
// connection begins them IMMEDIATE (_txlock).
var dialect = &sqlstore.Dialect{
	Name:          "sqlite",
	ReadTxOptions: &sql.TxOptions{ReadOnly: true}, // in WAL mode, one snapshot
	Classify:      classify,
	JSONNumber:    func(col, key string) string { return `json_extract(` + col + `, '$.` + key + `')` },
	JSONTrue:      func(col, key string) string { return `json_extract(` + col + `, '$.` + key + `') = 1` },
	JSONListHas: func(col, param string) string {
		return `EXISTS (SELECT 1 FROM json_each(` + col + `) WHERE json_each.value = ` + param + `)`
	},
	MonthStart: func(col string) string {
		return `CAST(strftime('%s', ` + col + `, 'unixepoch', 'start of month') AS INTEGER)`
	},
	EmptyBlob: `X''`,
}

// Open opens (creating it if needed, with mode 0600) the database file at
// path and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	db, err := openAt(ctx, path, opts, 0)
	if err != nil {
		return nil, err
	}
	db.keys = newKeyReader(db.path, readerConns())
	db.DB, err = sqlstore.New(ctx, sqlstore.Config{Writer: db.w, Reader: db.r, Dialect: dialect,
		Now: db.now, OnChange: opts.OnChange, Shred: db.shred, ReadKey: db.keys.read, ReadKeys: db.keys.readAll})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openAt opens the database with its schema brought up to version schema (0:
// the newest), without the store on it: Restore loads an export at the
// export's version.
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

	db := &DB{now: opts.Now, path: path}
	if db.now == nil {
		db.now = time.Now
	}
	// secure_delete: a deleted or replaced row (a destroyed data key, a
	// keyring version sealed by a retired root key) is overwritten with zeros
	// in the file instead of lingering in free space. Only the writer deletes.
	//
	// temp_store(MEMORY): a statement that writes several rows (the usage
	// upsert, 128 rows) keeps a statement journal to undo itself if it fails
	// halfway, and SQLite keeps it in a temporary file otherwise: a write(2)
	// of every page it touches, 28% of a usage flush's CPU. cache_size: the
	// pages a usage flush dirties stay in memory until its commit instead of
	// spilling to the log and being written again (docs/benchmarks.md, "Miss
	// path"); negative: KiB.
	if db.w, err = sql.Open("sqlite", dsn(path, "_txlock=immediate&_pragma=secure_delete(1)&_pragma=temp_store(MEMORY)&_pragma=cache_size("+strconv.Itoa(-writerCacheKiB)+")")); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	// Readers map the file (mmap_size) instead of copying each page in with
	// a read(2): a miss of the gateway's key cache reads a handful of
	// B-tree pages, and every commit empties each reader's page cache, so
	// with a large file those reads were system calls (a third of keygate's
	// CPU on the miss path, docs/benchmarks.md). The mapping is address
	// space; the kernel's page cache backs it, shared by all readers.
	if db.r, err = sql.Open("sqlite", dsn(path, "_pragma=query_only(1)&_pragma=mmap_size("+strconv.Itoa(readerMmapSize)+")")); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := readerConns()
	db.r.SetMaxOpenConns(n)
	db.r.SetMaxIdleConns(n)

	// The writer migrates first: it switches the file to WAL before any reader opens.
	if err := migrate(ctx, db.w, migrations, db.now, schema); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// readerConns is how many connections read: the pool's, and the key lookup's.
func readerConns() int { return max(4, runtime.GOMAXPROCS(0)) }

// writerCacheKiB is the writer's page cache: 32 MiB, room for the pages a
// flush of tens of thousands of keys' usage dirties.
const writerCacheKiB = 32 << 10

// readerMmapSize is how much of the database file readers map: 1 GiB,
// beyond which reads fall back to read(2).
const readerMmapSize = 1 << 30

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
	if db.DB != nil {
		errs = append(errs, db.DB.Close())
	}
	if db.keys != nil {
		errs = append(errs, db.keys.Close())
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// shred empties the write-ahead log after a commit that removed key material
// (a destroyed data key, keyring versions sealed by a retired root key).
// secure_delete zeroes the deleted rows in the database pages, but earlier
// commits left whole images of those pages, old rows included, in the -wal
// file, and an ordinary checkpoint copies pages into the database without
// wiping the log: the file is reused from its start, and frames past the
// point reached stay readable. A TRUNCATE checkpoint copies the zeroed pages
// in and cuts the log to zero bytes.
//
// It runs after the commit (sqlstore.Config.Shred), so its failure cannot
// undo the write, and is not reported: the write did happen. If a reader on
// an older snapshot outlasts busy_timeout, the log is emptied by the next
// shredding write or by Close, whose checkpoint deletes the -wal file.
func (db *DB) shred(ctx context.Context) {
	var busy, frames, checkpointed int
	_ = db.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &checkpointed)
}

// SQLite result codes: primary ones that mean the database cannot be used
// right now, rather than that the request is wrong, and the extended ones
// of constraint violations.
const (
	sqliteBusy     = 5  // locked by another connection beyond busy_timeout
	sqliteLocked   = 6  // a table lock within this process
	sqliteIOErr    = 10 // the disk failed
	sqliteFull     = 13 // the disk is full
	sqliteCantOpen = 14 // the file cannot be opened

	constraintForeignKey = 787
	constraintUnique     = 2067
	constraintPrimaryKey = 1555
	// A delete that breaks a foreign key fails with this code (the check
	// runs at the statement's end), reported as a foreign key violation.
	constraintTrigger = 1811
)

// classify says what a driver error means (see sqlstore.Class).
func classify(err error) sqlstore.Class {
	e, ok := errors.AsType[*sqlite.Error](err)
	if !ok {
		return sqlstore.Class{}
	}
	switch e.Code() {
	case constraintUnique, constraintPrimaryKey:
		// "... UNIQUE constraint failed: services.name (2067)"
		c := sqlstore.Class{Constraint: sqlstore.Unique}
		msg := e.Error()
		if i := strings.LastIndex(msg, "failed: "); i >= 0 {
			col := msg[i+len("failed: "):]
			col, _, _ = strings.Cut(col, " ")
			_, c.Column, _ = strings.Cut(col, ".")
		}
		return c
	case constraintForeignKey:
		return sqlstore.Class{Constraint: sqlstore.ForeignKey}
	case constraintTrigger:
		if strings.Contains(e.Error(), "FOREIGN KEY constraint failed") {
			return sqlstore.Class{Constraint: sqlstore.ForeignKey}
		}
		return sqlstore.Class{}
	}
	switch e.Code() & 0xff { // the primary code of an extended one
	case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteFull, sqliteCantOpen:
		return sqlstore.Class{Unavailable: true}
	}
	return sqlstore.Class{}
}

// storeError is the store's error for err (see sqlstore.Dialect.StoreError).
func storeError(err error) error { return dialect.StoreError(err) }
