package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/sqlite"
)

// dbFile is the name of the SQLite database in the data dir.
const dbFile = "keygate.db"

// storeFlagHelp is --store's help, shared by serve and the commands that
// work on the store directly.
const storeFlagHelp = "the store: empty for the SQLite file in --data-dir; postgres://user@host:port/db?sslmode=... for PostgreSQL, shared by every node of a cluster (put the password in PGPASSWORD or ~/.pgpass, not on the command line)"

// usesPostgres says whether --store names a PostgreSQL database.
func (c *Config) usesPostgres() bool {
	return strings.HasPrefix(c.Store, "postgres://") || strings.HasPrefix(c.Store, "postgresql://")
}

// validateStore checks --store and --store-schema once, at load, so that a
// typo fails with a message naming the flag rather than at the first write.
func (c *Config) validateStore() error {
	switch {
	case c.Store != "" && !c.usesPostgres():
		return fmt.Errorf("--store: %q is not a store: leave it empty for SQLite in --data-dir, or give a postgres:// URL", redactURL(c.Store))
	case c.StoreSchema != "" && !c.usesPostgres():
		return fmt.Errorf("--store-schema: only for a PostgreSQL --store")
	}
	return nil
}

// openStore opens the store the config names. existing: refuse to create
// a SQLite file (the commands that work on an existing install).
func (c *Config) openStore(ctx context.Context, now func() time.Time, onChange keygate.ChangeFunc, existing bool) (keygate.Store, error) {
	if err := c.validateStore(); err != nil {
		return nil, err
	}
	if c.usesPostgres() {
		db, err := postgres.Open(ctx, c.Store, postgres.Options{Now: now, OnChange: onChange, Schema: c.StoreSchema})
		if err != nil {
			return nil, fmt.Errorf("postgres store %s: %w", redactURL(c.Store), err)
		}
		return db, nil
	}
	path := filepath.Join(c.DataDir, dbFile)
	if existing {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no keygate database in %s: %w", c.DataDir, err)
		}
	}
	db, err := sqlite.Open(ctx, path, sqlite.Options{Now: now, OnChange: onChange})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// usageBatch is how many usage records one write of a flush holds. On
// SQLite, 20,000, not the meter's 1,000: every commit makes each of the key
// reader's connections drop its mapping of the file, and mapping the pages
// in again was 28 % of the page faults of a gateway meeting many new keys
// (docs/benchmarks.md, session of 2026-12-07, fourth). The price is a longer write, which
// other writes wait for: about 0.3 s of CPU at 20,000 records
// (BenchmarkUsageFlush: 13.6–13.9 ms per 1,000), reached only by a node
// that meets 2,000 new keys a second. PostgreSQL keeps the default: its
// readers keep nothing per commit, and a flush that loses to another node's
// runs again whole.
func (c *Config) usageBatch() int {
	if c.usesPostgres() {
		return 0
	}
	return 20_000
}

// redactURL is a store URL fit for messages: without its password.
func redactURL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.IndexByte(rest, '@')
	if slash := strings.IndexByte(rest, '/'); at < 0 || slash >= 0 && slash < at {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return s[:i+3] + user + ":xxxxx" + rest[at:]
}
