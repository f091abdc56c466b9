package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// The API key pepper is a sealed secret in the store, under the keyring, so
// a database dump alone cannot be used to test key guesses.
const pepperKind, pepperID = "pepper", "apikey"

// loadPepper opens the pepper sealed in the store. On the first start of a
// new store it makes one; on the first start after an upgrade it seals the
// pepper an earlier keygate kept in <data-dir>/pepper or KEYGATE_PEPPER, so
// that every issued key keeps working, and then removes the file.
func (m *Main) loadPepper(ctx context.Context) ([]byte, error) {
	ring := m.Keyring.Ring
	sealed, err := m.Store.GetSecret(ctx, pepperKind, pepperID)
	if err == nil {
		pepper, err := ring.Open(sealed)
		if err != nil {
			return nil, fmt.Errorf("pepper: %w", err)
		}
		if m.Config.Pepper != "" && m.Config.Pepper != string(pepper) {
			return nil, errors.New("KEYGATE_PEPPER differs from the pepper sealed in the store, which every issued key depends on; unset KEYGATE_PEPPER")
		}
		return pepper, nil
	}
	if keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return nil, fmt.Errorf("pepper: %w", err)
	}

	legacyFile := filepath.Join(m.Config.DataDir, "pepper")
	pepper, err := legacyPepper(m.Config.Pepper, legacyFile)
	if err != nil {
		return nil, err
	}
	if pepper == nil {
		keys, _, err := m.Store.ListKeys(ctx, keygate.KeyFilter{}, keygate.Page{Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("pepper: %w", err)
		}
		if len(keys) > 0 {
			return nil, fmt.Errorf("the store holds API keys but no pepper, and %s is missing: "+
				"every issued key was hashed with that pepper and would stop working with a new one. "+
				"Restore the pepper file from a backup (mode 0600), or set KEYGATE_PEPPER to the pepper in use", legacyFile)
		}
		var b [32]byte
		rand.Read(b[:])
		pepper = []byte(base64.RawURLEncoding.EncodeToString(b[:]))
	}
	if sealed, err = ring.Seal(pepperKind, pepperID, pepper); err != nil {
		return nil, fmt.Errorf("pepper: %w", err)
	}
	if err := m.Store.PutSecret(ctx, sealed); err != nil {
		return nil, fmt.Errorf("pepper: %w", err)
	}
	if err := os.Remove(legacyFile); err == nil {
		m.Logger.Info("the API key pepper is now sealed in the store; removed the old pepper file", "file", legacyFile)
	}
	return pepper, nil
}

// legacyPepper returns the pepper of a keygate from before the keyring, if
// there is one.
func legacyPepper(fromEnv, path string) ([]byte, error) {
	if fromEnv != "" {
		if len(fromEnv) < apikey.MinPepperLen {
			return nil, fmt.Errorf("KEYGATE_PEPPER: must be at least %d characters", apikey.MinPepperLen)
		}
		return []byte(fromEnv), nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pepper: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by other users (mode %v); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	pepper := []byte(strings.TrimSpace(string(data)))
	if len(pepper) < apikey.MinPepperLen {
		return nil, fmt.Errorf("%s: pepper must be at least %d characters", path, apikey.MinPepperLen)
	}
	return pepper, nil
}
