package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/backup"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
)

func newBackupCommand() *cobra.Command {
	var cfg Config
	var out string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a sealed backup of the whole store (a consistent snapshot, taken while keygate serves)",
		Long: `Write a sealed, integrity-checked backup of the whole store to FILE. It is
taken from one consistent snapshot while keygate keeps serving. The file is
encrypted under a key sealed by the root key: keep the root key, or the backup
cannot be restored. Run it on the machine that holds the data dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.loadLocal(cmd)
			if cfg.usesPostgres() {
				// Not yet: a PostgreSQL store has no Export. Refused before
				// anything is opened or written.
				return errors.New("backup: not available for a PostgreSQL store yet; back it up with PostgreSQL's own tools (pg_dump), with the root key kept apart")
			}
			if out == "" {
				return errors.New("--out: required")
			}
			root, err := cfg.loadRootKey()
			if err != nil {
				return err
			}
			store, err := cfg.openStore(cmd.Context(), nil, nil, true)
			if err != nil {
				return err
			}
			defer store.Close()
			db, ok := store.(backupSource)
			if !ok {
				return errors.New("backup: this store cannot be backed up")
			}
			bar := newProgressBar(cmd.ErrOrStderr(), "backup", "rows", quiet)
			rows, err := writeBackup(cmd.Context(), db, root, out, bar.update)
			bar.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Backed up %d rows to %s, sealed by root key %s.\n", rows, out, root.Fingerprint())
			return nil
		},
	}
	rootKeyFlags(cmd, &cfg)
	cmd.Flags().StringVar(&out, "out", "", "file to write (must not exist)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

// writeBackup writes the sealed backup to a temporary file beside path and
// renames it into place once complete, so that path is either a whole
// backup or absent. The root key must open the store's keyring: a backup
// that this root key could not restore is refused up front.
// backupSource is a store that can be backed up.
type backupSource interface {
	keygate.KeyringStore
	keygate.Exporter
}

func writeBackup(ctx context.Context, db backupSource, root *keyring.LocalRootKey, path string, progress func(done, total int)) (rows int, err error) {
	if _, err := os.Stat(path); err == nil {
		return 0, fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	versions, err := db.KeyringVersions(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := keyring.Open(ctx, root, versions); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keygate-backup-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return 0, err
	}
	w, err := backup.NewWriter(ctx, tmp, root, backup.Header{CreatedAt: time.Now().UTC(), KeygateVersion: buildVersion(), Store: "sqlite"})
	if err != nil {
		return 0, err
	}
	if err := db.Export(ctx, w, func(done, total int) { rows = done; progress(done, total) }); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	// A hard link, unlike a rename, never replaces a file that appeared at
	// path in the meantime.
	if err := os.Link(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return 0, err
	}
	return rows, os.Remove(tmp.Name())
}

func newRestoreCommand() *cobra.Command {
	var cfg Config
	var quiet bool
	cmd := &cobra.Command{
		Use:   "restore FILE --data-dir NEW_DIR",
		Short: "Restore a backup into a new, empty data dir",
		Long: `Restore a backup written by keygate backup into a new data dir (it must not
hold a database yet), with the root key the backup was sealed by. A damaged,
truncated or foreign file, or the wrong root key, is refused and nothing is
left behind.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.loadLocal(cmd)
			if cfg.Store != "" {
				return errors.New("restore: only into a SQLite data dir (--data-dir) for now, not into --store " + redactURL(cfg.Store))
			}
			root, err := cfg.loadRootKey()
			if err != nil {
				return err
			}
			bar := newProgressBar(cmd.ErrOrStderr(), "restore", "rows", quiet)
			err = restoreBackup(cmd.Context(), args[0], cfg.DataDir, root, bar.update)
			bar.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restored %s into %s.\n", args[0], cfg.DataDir)
			return nil
		},
	}
	rootKeyFlags(cmd, &cfg)
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

// restoreBackup loads the backup at path into a new database in dataDir and
// checks that root opens the restored keyring. On any failure the new
// database is removed.
func restoreBackup(ctx context.Context, path, dataDir string, root *keyring.LocalRootKey, progress func(done, total int)) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, _, err := backup.NewReader(ctx, f, root)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	dbPath := filepath.Join(dataDir, dbFile)
	if err := sqlite.Restore(ctx, dbPath, r, sqlite.Options{}, progress); err != nil {
		if errors.Is(err, backup.ErrDamaged) {
			return fmt.Errorf("%s: %w", path, err)
		}
		return err
	}
	defer func() {
		if err != nil {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(dbPath + suffix)
			}
		}
	}()
	db, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	versions, err := db.KeyringVersions(ctx)
	if err != nil {
		return err
	}
	if _, err := keyring.Open(ctx, root, versions); err != nil {
		return fmt.Errorf("restored, but %w", err)
	}
	return nil
}

// progressBar draws "backup [#####.....] 50% 5000/10000 rows" on one line.
type progressBar struct {
	w       io.Writer
	label   string
	unit    string
	quiet   bool
	last    int // percent drawn last
	started bool
}

func newProgressBar(w io.Writer, label, unit string, quiet bool) *progressBar {
	return &progressBar{w: w, label: label, unit: unit, quiet: quiet, last: -1}
}

func (p *progressBar) update(done, total int) {
	if p.quiet || total <= 0 {
		return
	}
	pct := done * 100 / total
	if pct == p.last {
		return
	}
	p.last, p.started = pct, true
	const width = 30
	filled := width * done / total
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3d%% %s/%s %s", p.label, bar, pct, strconv.Itoa(done), strconv.Itoa(total), p.unit)
}

func (p *progressBar) done() {
	if p.started {
		fmt.Fprintln(p.w)
	}
}

var _ keygate.Exporter = (*sqlite.DB)(nil)

// buildVersion is keygate's module version, or its VCS revision.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return info.Main.Version + " " + s.Value
		}
	}
	return info.Main.Version
}
