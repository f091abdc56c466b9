package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/keyring"
)

// errNoRootKey says how to provide the root key; keygate will not start
// without one.
var errNoRootKey = errors.New("no root key: keygate seals its secrets with a root key kept outside the database. " +
	"Create one with `keygate root-key generate --out /etc/keygate/root.key` and pass --root-key-file " +
	"(or KEYGATE_ROOT_KEY_FILE), or set KEYGATE_ROOT_KEY to its base64 text; `serve --dev` makes a throwaway one")

// loadRootKey reads the root key from KEYGATE_ROOT_KEY or --root-key-file.
func (c *Config) loadRootKey() (*keyring.LocalRootKey, error) {
	var key []byte
	var err error
	switch {
	case c.RootKey != "" && c.RootKeyFile != "":
		return nil, errors.New("both KEYGATE_ROOT_KEY and --root-key-file are set: use one")
	case c.RootKey != "":
		if key, err = keyring.ParseRootKey(c.RootKey); err != nil {
			return nil, fmt.Errorf("KEYGATE_ROOT_KEY: %w", err)
		}
	case c.RootKeyFile != "":
		if key, err = keyring.ReadRootKeyFile(c.RootKeyFile); err != nil {
			return nil, err
		}
	default:
		return nil, errNoRootKey
	}
	return keyring.NewLocalRootKey(key)
}

// rootKeyFlags are the flags of the commands that work on the data dir
// directly (root-key rotate, backup, restore): they run where keygate runs.
func rootKeyFlags(cmd *cobra.Command, c *Config) {
	cmd.Flags().StringVar(&c.DataDir, "data-dir", "./data", "keygate's data dir (env KEYGATE_DATA_DIR)")
	cmd.Flags().StringVar(&c.RootKeyFile, "root-key-file", "", "file holding the root key (env KEYGATE_ROOT_KEY_FILE; or set KEYGATE_ROOT_KEY)")
	cmd.Flags().StringVar(&c.Store, "store", "", storeFlagHelp+" (env KEYGATE_STORE)")
	cmd.Flags().StringVar(&c.StoreSchema, "store-schema", "", "PostgreSQL schema of keygate's tables (env KEYGATE_STORE_SCHEMA)")
}

// loadLocal fills unset flags from the environment, as serve does.
func (c *Config) loadLocal(cmd *cobra.Command) {
	for flag, dst := range map[string]*string{"data-dir": &c.DataDir, "root-key-file": &c.RootKeyFile,
		"store": &c.Store, "store-schema": &c.StoreSchema} {
		if v, ok := os.LookupEnv(envName(flag)); ok && !cmd.Flags().Changed(flag) {
			*dst = v
		}
	}
	c.RootKey = os.Getenv(envPrefix + "ROOT_KEY")
}

func newRootKeyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "root-key", Short: "Create and rotate the root key that seals the keyring"}
	cmd.AddCommand(newRootKeyGenerateCommand(), newRootKeyRotateCommand())
	return cmd
}

func newRootKeyGenerateCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "generate --out FILE",
		Short: "Write a new random root key to a file (mode 0600; an existing file is never overwritten)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out: required")
			}
			key, err := keyring.GenerateRootKey()
			if err != nil {
				return err
			}
			if err := keyring.WriteRootKeyFile(out, key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote root key %s to %s. Keep a copy apart from the database: without it nothing sealed can be opened.\n",
				keyring.Fingerprint(key), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to create")
	return cmd
}

func newRootKeyRotateCommand() *cobra.Command {
	var cfg Config
	var newFile string
	cmd := &cobra.Command{
		Use:   "rotate --new-root-key-file FILE",
		Short: "Re-seal the keyring under a new root key, atomically; the old root key then opens nothing",
		Long: `Re-seal the keyring under a new root key in one transaction. Run it on the
machine that holds the data dir; a running keygate keeps serving (its keyring
is already open) and needs the new root key at its next start. If FILE does
not exist, a new root key is generated into it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.loadLocal(cmd)
			if newFile == "" {
				return errors.New("--new-root-key-file: required")
			}
			oldRoot, err := cfg.loadRootKey()
			if err != nil {
				return err
			}
			newKey, err := readOrCreateRootKey(newFile)
			if err != nil {
				return err
			}
			newRoot, err := keyring.NewLocalRootKey(newKey)
			if err != nil {
				return err
			}
			if newRoot.Fingerprint() == oldRoot.Fingerprint() {
				return errors.New("the new root key is the old one")
			}
			db, err := cfg.openStore(cmd.Context(), nil, nil, true)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := rotateRootKey(cmd.Context(), db, oldRoot, newRoot); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The keyring is now sealed by root key %s (%s); root key %s opens nothing any more.\n",
				newRoot.Fingerprint(), newFile, oldRoot.Fingerprint())
			return nil
		},
	}
	rootKeyFlags(cmd, &cfg)
	cmd.Flags().StringVar(&newFile, "new-root-key-file", "", "file with the new root key (created if missing)")
	return cmd
}

// rotateRootKey re-seals every keyring version under newRoot in one
// transaction.
func rotateRootKey(ctx context.Context, store keygate.KeyringStore, oldRoot, newRoot keygate.RootKey) error {
	versions, err := store.KeyringVersions(ctx)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return errors.New("the store holds no keyring yet: start keygate once first")
	}
	ring, err := keyring.Open(ctx, oldRoot, versions)
	if err != nil {
		return err
	}
	resealed, err := ring.Reseal(ctx, newRoot)
	if err != nil {
		return err
	}
	return store.ResealKeyring(ctx, resealed)
}

func readOrCreateRootKey(path string) ([]byte, error) {
	key, err := keyring.ReadRootKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if key, err = keyring.GenerateRootKey(); err != nil {
			return nil, err
		}
		err = keyring.WriteRootKeyFile(path, key)
	}
	return key, err
}
