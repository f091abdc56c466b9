package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/sqlite"
)

func newMigrateCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Move a keygate install to another store"}
	cmd.AddCommand(newMigrateSQLiteToPostgresCommand())
	return cmd
}

func newMigrateSQLiteToPostgresCommand() *cobra.Command {
	var cfg Config
	var quiet bool
	cmd := &cobra.Command{
		Use:   "sqlite-to-postgres --data-dir DIR --store postgres://...",
		Short: "Copy a single-node install (SQLite in --data-dir) into an empty PostgreSQL store, and verify it",
		Long: `Copy everything in the SQLite database of --data-dir (services, routes,
consumers, keys, HMAC credentials, the keyring, plans, usage, audit trail,
webhooks, admin tokens ...) into the PostgreSQL store of --store and
--store-schema, which must hold no rows yet (a new schema is created).

Stop keygate first: the copy is taken from one consistent snapshot, and
writes made after it are not carried over. The SQLite file is brought to
this keygate's schema version first, as serve does.

Everything is written in one PostgreSQL transaction. Before it commits,
every table is counted and read back and compared with the SQLite
snapshot (row counts and a digest of the rows); on any difference it is
rolled back and nothing is left in PostgreSQL.

Secrets are copied as they are, sealed: start keygate on PostgreSQL with
the same root key. When the root key is given (--root-key-file or
KEYGATE_ROOT_KEY), it is checked against the keyring before the copy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.loadLocal(cmd)
			if !cfg.usesPostgres() {
				if cfg.Store == "" {
					return errors.New("--store: required: the PostgreSQL store to copy into (postgres://user@host:port/db?sslmode=...)")
				}
				return fmt.Errorf("--store: %q is not a PostgreSQL URL (postgres://...)", redactURL(cfg.Store))
			}
			var root *keyring.LocalRootKey
			if cfg.RootKey != "" || cfg.RootKeyFile != "" {
				var err error
				if root, err = cfg.loadRootKey(); err != nil {
					return err
				}
			}
			bar := newProgressBar(cmd.ErrOrStderr(), "migrate", "rows", quiet)
			tables, err := migrateSQLiteToPostgres(cmd.Context(), cfg, root, bar.update)
			bar.done()
			if len(tables) > 0 {
				printLoaded(cmd.OutOrStdout(), tables)
			}
			if err != nil {
				return err
			}
			rows := 0
			for _, t := range tables {
				rows += t.Loaded
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Copied %d rows from %s into %s and verified them. Start keygate with --store on it and the same root key.\n",
				rows, filepath.Join(cfg.DataDir, dbFile), storeName(cfg))
			return nil
		},
	}
	rootKeyFlags(cmd, &cfg)
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

// storeName names a PostgreSQL store in messages: its URL without the
// password, and its schema.
func storeName(cfg Config) string {
	if cfg.StoreSchema == "" {
		return redactURL(cfg.Store)
	}
	return redactURL(cfg.Store) + " (schema " + cfg.StoreSchema + ")"
}

// errLoadStopped ends an export whose reader, the load, has returned.
var errLoadStopped = errors.New("the load into PostgreSQL stopped")

// migrateSQLiteToPostgres streams an export of the SQLite store of
// cfg.DataDir into postgres.Load. root, when not nil, must open the keyring
// on both sides.
func migrateSQLiteToPostgres(ctx context.Context, cfg Config, root *keyring.LocalRootKey, progress func(done, total int)) ([]postgres.LoadedTable, error) {
	path := filepath.Join(cfg.DataDir, dbFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no keygate database in %s: %w", cfg.DataDir, err)
	}
	src, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer src.Close()
	if root != nil {
		versions, err := src.KeyringVersions(ctx)
		if err != nil {
			return nil, err
		}
		// No keyring yet (keygate never served from it): nothing is
		// sealed, nothing to check.
		if len(versions) > 0 {
			if _, err := keyring.Open(ctx, root, versions); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		} else {
			root = nil
		}
	}

	pr, pw := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		err := src.Export(ctx, pw, nil)
		pw.CloseWithError(err) // nil: EOF
		exported <- err
	}()
	tables, err := postgres.Load(ctx, cfg.Store, postgres.Options{Schema: cfg.StoreSchema}, pr, progress)
	pr.CloseWithError(errLoadStopped) // the export stops too, if it has not ended
	if eerr := <-exported; eerr != nil && !errors.Is(eerr, errLoadStopped) {
		// The export failed first (Load then saw a broken stream), or,
		// which cannot happen as Load saw its end marker, after a
		// successful load: either way its error is the one to report.
		return tables, fmt.Errorf("%s: %w", path, eerr)
	}
	if err != nil {
		return tables, fmt.Errorf("postgres store %s: %w", storeName(cfg), err)
	}

	if root != nil {
		dst, err := postgres.Open(ctx, cfg.Store, postgres.Options{Schema: cfg.StoreSchema})
		if err != nil {
			return tables, err
		}
		defer dst.Close()
		versions, err := dst.KeyringVersions(ctx)
		if err != nil {
			return tables, err
		}
		if _, err := keyring.Open(ctx, root, versions); err != nil {
			return tables, fmt.Errorf("copied, but in PostgreSQL %w", err)
		}
	}
	return tables, nil
}

// printLoaded prints each table's rows on both sides and whether their
// digests agree.
func printLoaded(w io.Writer, tables []postgres.LoadedTable) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSQLITE\tPOSTGRES\tCHECK")
	for _, t := range tables {
		verdict := "ok"
		switch {
		case t.Source != t.Read:
			verdict = fmt.Sprintf("MISMATCH: counted %d, read %d", t.Source, t.Read)
		case t.Read != t.Loaded:
			verdict = "MISMATCH: counts differ"
		case t.SourceDigest != t.LoadedDigest:
			verdict = "MISMATCH: contents differ"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.Name, t.Source, t.Loaded, verdict)
	}
	tw.Flush()
}
