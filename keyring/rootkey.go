package keyring

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"github.com/keygate/keygate"
)

// RootKeySize is the length of a root key in bytes.
const RootKeySize = keySize

// LocalRootKey is a root key held in memory (read from a file or the
// environment). It implements keygate.RootKey.
type LocalRootKey struct {
	aead        cipher.AEAD
	fingerprint string
}

var _ keygate.RootKey = (*LocalRootKey)(nil)

// NewLocalRootKey returns a root key made of key, which must be
// RootKeySize bytes. key is not retained: the caller may clear it.
func NewLocalRootKey(key []byte) (*LocalRootKey, error) {
	if len(key) != RootKeySize {
		return nil, keygate.Errorf(keygate.EINVALID, "root key is %d bytes, must be %d", len(key), RootKeySize)
	}
	a, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: root key: %w", err)
	}
	return &LocalRootKey{aead: a, fingerprint: Fingerprint(key)}, nil
}

// Seal encrypts plaintext bound to additionalData.
func (k *LocalRootKey) Seal(_ context.Context, plaintext, additionalData []byte) ([]byte, error) {
	return seal(k.aead, plaintext, additionalData), nil
}

// Open decrypts what Seal returned with the same additional data.
func (k *LocalRootKey) Open(_ context.Context, sealed, additionalData []byte) ([]byte, error) {
	pt, err := open(k.aead, sealed, additionalData)
	if err != nil {
		return nil, &keygate.Error{Code: keygate.EINVALID, Message: "root key " + k.fingerprint + " does not open the sealed value", Cause: err}
	}
	return pt, nil
}

// Fingerprint returns the key's fingerprint (see Fingerprint).
func (k *LocalRootKey) Fingerprint() string { return k.fingerprint }

// String names the key by its fingerprint, never by its bytes.
func (k *LocalRootKey) String() string { return "root key " + k.fingerprint }

// GenerateRootKey returns a new random root key.
func GenerateRootKey() ([]byte, error) {
	return randomKey(), nil
}

// Fingerprint returns a short, non-secret name for a root key, so that
// operators can tell keys apart: the first 8 bytes of
// HMAC-SHA256(key, "keygate root key fingerprint"), in hex.
func Fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("keygate root key fingerprint"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// EncodeRootKey returns the text form of a root key: standard, padded base64.
func EncodeRootKey(key []byte) string {
	return base64.StdEncoding.EncodeToString(key)
}

// ParseRootKey parses the text form of a root key, ignoring surrounding
// whitespace. Its errors never contain the input.
func ParseRootKey(s string) ([]byte, error) {
	text := []byte(strings.TrimSpace(s))
	defer clear(text)
	return parseRootKey(text)
}

func parseRootKey(text []byte) ([]byte, error) {
	key := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(key, text)
	if err != nil {
		clear(key)
		// base64's error names only an offset, but say less anyway.
		return nil, keygate.Errorf(keygate.EINVALID, "root key is not valid base64 (standard alphabet, padded)")
	}
	if n != RootKeySize {
		clear(key)
		return nil, keygate.Errorf(keygate.EINVALID, "root key is %d bytes, must be %d", n, RootKeySize)
	}
	return key[:n:n], nil
}

// maxRootKeyFile bounds what ReadRootKeyFile reads: the text form is 44
// bytes, so anything much larger is not a root key file.
const maxRootKeyFile = 1 << 10

// ReadRootKeyFile reads a root key written by WriteRootKeyFile. It refuses
// a file that group or others may read or write: a root key there is
// already half leaked.
func ReadRootKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // of the opened file, so it cannot be swapped after the check
	if err != nil {
		return nil, fmt.Errorf("keyring: root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, keygate.Errorf(keygate.EINVALID, "root key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, keygate.Errorf(keygate.EINVALID,
			"root key file %s has mode %04o: group or others may read or write it; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRootKeyFile+1))
	defer clear(b)
	if err != nil {
		return nil, fmt.Errorf("keyring: root key file: %w", err)
	}
	if len(b) > maxRootKeyFile {
		return nil, keygate.Errorf(keygate.EINVALID, "root key file %s is larger than %d bytes", path, maxRootKeyFile)
	}
	key, err := parseRootKey(bytes.TrimSpace(b))
	if err != nil {
		return nil, keygate.Errorf(keygate.EINVALID, "root key file %s: %s", path, keygate.ErrorMessage(err))
	}
	return key, nil
}

// WriteRootKeyFile writes key in its text form to a new file at path with
// mode 0600. It never overwrites a file: losing a root key loses every
// secret sealed under it.
func WriteRootKeyFile(path string, key []byte) error {
	if len(key) != RootKeySize {
		return keygate.Errorf(keygate.EINVALID, "root key is %d bytes, must be %d", len(key), RootKeySize)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return keygate.Errorf(keygate.ECONFLICT, "root key file %s already exists; refusing to overwrite it", path)
	}
	if err != nil {
		return fmt.Errorf("keyring: root key file: %w", err)
	}
	_, err = f.WriteString(EncodeRootKey(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // a partial key file is worse than none
		return fmt.Errorf("keyring: root key file: %w", err)
	}
	return nil
}
