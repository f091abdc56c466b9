// Package postgres implements keygate.Store on PostgreSQL, for clusters of
// keygate nodes sharing one database: the shared SQL store (sqlstore) over
// pgx's database/sql driver, with PostgreSQL's schema and dialect.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/sqlstore"
)

var _ keygate.Store = (*DB)(nil)

// Options configures a DB.
type Options struct {
	// Now is the clock for created_at, updated_at and revoked_at; time.Now when nil.
	Now func() time.Time
	// OnChange, when set, is called after every committed write.
	OnChange keygate.ChangeFunc
	// Schema is the schema that holds keygate's tables, created when
	// missing; "": the first schema of the URL's search_path (the server's
	// default, usually public).
	Schema string
	// MaxConns bounds the connection pool; 0: max(8, 4 × GOMAXPROCS).
	MaxConns int
}

// DB is a keygate.Store on a PostgreSQL database.
//
// Every write is one SERIALIZABLE transaction, run again when it loses to a
// concurrent one (serialization failure, deadlock), so that each store
// method behaves as if it ran alone, as on SQLite, whichever node runs it.
type DB struct {
	*sqlstore.DB
	db *sql.DB
}

// dialect is PostgreSQL's SQL.
var dialect = &sqlstore.Dialect{
	Name:               "postgres",
	DollarPlaceholders: true,
	TxOptions:          &sql.TxOptions{Isolation: sql.LevelSerializable},
	ReadTxOptions:      &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	Classify:           classify,
	JSONNumber: func(col, key string) string {
		return `CAST(CAST(` + col + ` AS jsonb) ->> '` + key + `' AS BIGINT)`
	},
	JSONTrue: func(col, key string) string {
		return `coalesce(CAST(CAST(` + col + ` AS jsonb) ->> '` + key + `' AS BOOLEAN), false)`
	},
	// Containment, not the ? operator: ? is a placeholder to the rebinder.
	JSONListHas: func(col, param string) string {
		return `CAST(` + col + ` AS jsonb) @> jsonb_build_array(CAST(` + param + ` AS TEXT))`
	},
	MonthStart: func(col string) string {
		return `CAST(extract(epoch FROM date_trunc('month', to_timestamp(` + col + `) AT TIME ZONE 'UTC')) AS BIGINT)`
	},
	ForUpdate: ` FOR UPDATE`,
	EmptyBlob: `'\x'::bytea`,
	ArrayRows: func(types ...string) string {
		params := make([]string, len(types))
		for i, t := range types {
			params[i] = `CAST(? AS ` + t + `[])`
		}
		return `unnest(` + strings.Join(params, `, `) + `)`
	},
}

// migrations holds the schema as numbered files, NNNN_what.sql, with the
// same versions as SQLite's; see sqlstore.Migration.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to the database at url (postgres://... or a key=value
// connection string) and brings its schema up to date.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.Schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	sqlDB := stdlib.OpenDB(*cfg)
	n := opts.MaxConns
	if n <= 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	// Connections are renewed now and then, so that a pool follows a
	// failover or a rebalanced proxy instead of keeping old backends.
	sqlDB.SetConnMaxLifetime(30 * time.Minute)

	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := migrate(ctx, sqlDB, migrations, opts.Schema, now); err != nil {
		sqlDB.Close()
		return nil, err
	}
	store, err := sqlstore.New(ctx, sqlstore.Config{Writer: sqlDB, Reader: sqlDB, Dialect: dialect,
		Now: opts.Now, OnChange: opts.OnChange, ReadKeys: keyReader{sqlDB}.readAll})
	if err != nil {
		sqlDB.Close()
		return nil, err
	}
	return &DB{DB: store, db: sqlDB}, nil
}

// Close closes the store and its connections.
func (db *DB) Close() error {
	return errors.Join(db.DB.Close(), db.db.Close())
}

// lockClass is the first key of the advisory lock that migrations take
// ("kg"); the second is the schema's name, hashed.
const lockClass = 0x6b67

// migrate applies every migration in fsys the database has not recorded
// yet. It holds an advisory lock meanwhile, per schema, so that nodes that
// start together migrate once: the first applies, the others wait, then find
// nothing left to do.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, schema string, now func() time.Time) (err error) {
	ms, err := sqlstore.ReadMigrations(fsys)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return storeError(fmt.Errorf("postgres: connect: %w", err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, hashtext(coalesce(nullif($2::text, ''), current_schema(), '')))`,
		lockClass, schema); err != nil {
		return storeError(fmt.Errorf("postgres: migrate: lock: %w", err))
	}
	defer func() {
		_, uerr := conn.ExecContext(context.WithoutCancel(ctx),
			`SELECT pg_advisory_unlock($1, hashtext(coalesce(nullif($2::text, ''), current_schema(), '')))`, lockClass, schema)
		if uerr != nil {
			// The lock goes with the connection: make sure it goes.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if schema != "" {
		if _, err := conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return storeError(fmt.Errorf("postgres: migrate: %w", err))
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return storeError(fmt.Errorf("postgres: migrate: %w", err))
	}
	// An older binary must not write to a schema it does not know.
	if latest := ms[len(ms)-1].Version; current > latest {
		return fmt.Errorf("postgres: database schema version %d is newer than this keygate's (%d)", current, latest)
	}
	// Every migration not recorded yet, not only those above the newest
	// recorded: migrations written in parallel may land out of their
	// numbers' order (0016 before 0015), as SQLite's migrate allows too.
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return storeError(fmt.Errorf("postgres: migrate: %w", err))
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return storeError(fmt.Errorf("postgres: migrate: %w", err))
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return storeError(fmt.Errorf("postgres: migrate: %w", err))
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := applyMigration(ctx, conn, fsys, m, now); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// applyMigration applies m and records it, in one transaction: PostgreSQL's
// DDL is transactional, so a failed migration leaves nothing behind.
func applyMigration(ctx context.Context, conn *sql.Conn, fsys fs.FS, m sqlstore.Migration, now func() time.Time) error {
	script, err := fs.ReadFile(fsys, m.Name)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// No arguments: pgx sends the script as one simple query, which may
	// hold several statements.
	if _, err := tx.ExecContext(ctx, string(script)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
		m.Version, now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// storeError is the store's error for err (see sqlstore.Dialect.StoreError).
func storeError(err error) error { return dialect.StoreError(err) }

// classify says what a driver error means (see sqlstore.Class).
func classify(err error) sqlstore.Class {
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch code := e.Code; {
		case code == "23505": // unique_violation
			return sqlstore.Class{Constraint: sqlstore.Unique, Column: keyColumns(e.Detail)}
		case code == "23503": // foreign_key_violation
			return sqlstore.Class{Constraint: sqlstore.ForeignKey}
		case code == "40001" || code == "40P01": // serialization_failure, deadlock_detected
			return sqlstore.Class{Retry: true}
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"),                     // insufficient resources (disk full, too many connections)
			strings.HasPrefix(code, "58"),                     // system error (I/O)
			code == "57P01", code == "57P02", code == "57P03", // shutting down, starting up
			code == "25006": // read_only_sql_transaction: a standby after failover
			return sqlstore.Class{Unavailable: true}
		}
		return sqlstore.Class{}
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return sqlstore.Class{Unavailable: true}
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return sqlstore.Class{Unavailable: true}
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return sqlstore.Class{Unavailable: true}
	}
	return sqlstore.Class{}
}

// keyColumns reads the column of a unique violation from its detail,
// "Key (name)=(x) already exists.": "name" ("plan_id, route_id" for a key
// of several columns).
func keyColumns(detail string) string {
	_, rest, ok := strings.Cut(detail, "Key (")
	if !ok {
		return ""
	}
	cols, _, _ := strings.Cut(rest, ")=")
	return cols
}
