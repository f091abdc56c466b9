// Package sqlitetest gives tests fresh SQLite databases without migrating
// each one: a database is migrated once per test binary, and every test gets
// a copy of its file.
//
// Migrating a new file runs every migration, and each ALTER TABLE makes
// SQLite parse the whole schema again: 50–100 ms, and 1–2 s under the race
// detector, which made opening stores most of several packages' test time.
// A copy is the same database, schema_migrations included (applied_at aside).
package sqlitetest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keygate/keygate/sqlite"
)

// File is the name Path gives the database, the one a data dir holds.
const File = "keygate.db"

var migrated struct {
	once  sync.Once
	image []byte
	err   error
}

// Path returns the path of a new, migrated database file in a directory
// of tb's own (removed with it): open it with sqlite.Open, or use its
// directory as a node's data dir.
func Path(tb testing.TB) string {
	tb.Helper()
	migrated.once.Do(func() { migrated.image, migrated.err = migrate() })
	if migrated.err != nil {
		tb.Fatalf("sqlitetest: migrating a template database: %v", migrated.err)
	}
	path := filepath.Join(tb.TempDir(), File)
	if err := os.WriteFile(path, migrated.image, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// migrate opens a new database, which migrates it, closes it, which folds
// its write-ahead log into the file, and returns the file's bytes.
func migrate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "sqlitetest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, File)
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}
