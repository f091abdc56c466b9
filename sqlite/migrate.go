package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"github.com/keygate/keygate/internal/sqlstore"
	"io/fs"
	"time"
)

// migrations holds the schema as numbered files, NNNN_what.sql, applied in
// order, each once. Released files are never edited: a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

type migration = sqlstore.Migration

var readMigrations = sqlstore.ReadMigrations

// migrate applies every migration in fsys that db has not recorded yet, up
// to version upTo (0: all of them).
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, now func() time.Time, upTo int) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	ms, err := readMigrations(fsys)
	if err != nil {
		return err
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// An older binary must not write to a schema it does not know.
	if latest := ms[len(ms)-1].Version; current > latest {
		return fmt.Errorf("sqlite: database schema version %d is newer than this keygate's (%d)", current, latest)
	}
	for _, m := range ms {
		if upTo > 0 && m.Version > upTo {
			break
		}
		if err := applyMigration(ctx, db, fsys, m, now); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// applyMigration applies m in its own transaction unless it already is. The
// check is inside the (immediate) transaction, so two processes opening the
// same new file cannot both apply it.
func applyMigration(ctx context.Context, db *sql.DB, fsys fs.FS, m migration, now func() time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var applied bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, m.Version).Scan(&applied); err != nil {
		return err
	}
	if applied {
		return nil
	}
	script, err := fs.ReadFile(fsys, m.Name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(script)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.Version, now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}
