package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// Imported keys are keys keygate did not generate (Kong's key-auth keys,
// for instance): arbitrary strings, which keep working after an import.
// They carry no identifier, so one is derived from the whole key with the
// pepper:
//
//	identifier = "_" + 11 base62 digits of HMAC-SHA256(pepper, "imported:" + key)
//
// The leading '_' is never part of a generated identifier (base62 only), so
// an imported key's identifier cannot collide with a generated one's, and
// anyone who sees an identifier can tell it is an imported key's without
// reading the store (see IsImportedIdentifier). Without the pepper the
// identifier cannot be computed, so it tells nothing about the key. The
// stored hash is HMAC-SHA256(pepper, identifier || key), bound to its row
// as a generated key's is.

// Bounds on an imported key: printable ASCII without spaces, as a header or
// query value carries it unchanged, and no longer than any key keygate
// reads. Short keys are kept, as Kong took them (its own examples use
// "secret" and "my-key"): their holders would otherwise be locked out, and
// every imported key is listed for replacement anyway.
const (
	MinImportedLen = 1
	MaxImportedLen = maxKeyLen
)

// importedMarker starts every imported key's identifier.
const importedMarker = '_'

// Errors of CheckImported. They never include the key.
var (
	ErrImportedLength = errors.New("apikey: an imported key must be 1 to 256 characters")
	ErrImportedChars  = errors.New("apikey: an imported key may contain only printable ASCII characters, without spaces")
	ErrImportedFormat = errors.New("apikey: the key is in keygate's own format; only keys from elsewhere can be imported")
)

// IsImportedIdentifier reports whether id is an imported key's identifier.
func IsImportedIdentifier(id string) bool {
	return len(id) == IdentifierLen && id[0] == importedMarker
}

// CheckImported reports why s cannot be imported, or nil: it must be 1 to
// 256 printable ASCII characters without spaces, and not have keygate's
// key format (whatever its prefix or checksum), since the gateway reads a
// value of that format as a keygate key and would never try it as an
// imported one.
func (f *Format) CheckImported(s string) error {
	if err := checkImportedShape(s); err != nil {
		return err
	}
	if _, err := f.Parse(s); err != ErrMalformed {
		return ErrImportedFormat
	}
	return nil
}

// IsImportable reports whether s may be an imported key: what the gateway
// checks before it derives an identifier. s must not parse as a keygate key
// (the caller has parsed it). It does not allocate.
func IsImportable(s string) bool { return checkImportedShape(s) == nil }

func checkImportedShape(s string) error {
	if len(s) < MinImportedLen || len(s) > MaxImportedLen {
		return ErrImportedLength
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return ErrImportedChars
		}
	}
	return nil
}

// ImportedIdentifier writes the identifier of imported key s into dst. It
// does not allocate.
func (h *Hasher) ImportedIdentifier(s string, dst *[IdentifierLen]byte) {
	m := h.pool.Get().(*mac)
	m.h.Reset()
	m.h.Write(importedLabel)
	m.h.Write(bytesOf(s))
	m.h.Sum(m.sum[:0])
	dst[0] = importedMarker
	for i := 1; i < IdentifierLen; i++ {
		dst[i] = alphabet[m.sum[i]%62] // a slight bias costs nothing: this is a lookup id, not a secret
	}
	h.pool.Put(m)
}

var importedLabel = []byte("imported:")

// HashImported returns HMAC-SHA256(pepper, identifier || s), the hash stored
// for imported key s whose identifier is id. id has a fixed length, so the
// concatenation is unambiguous.
func (h *Hasher) HashImported(id *[IdentifierLen]byte, s string) [sha256.Size]byte {
	m := h.pool.Get().(*mac)
	m.h.Reset()
	m.id = *id
	m.h.Write(m.id[:])
	m.h.Write(bytesOf(s))
	m.h.Sum(m.sum[:0])
	sum := m.sum
	h.pool.Put(m)
	return sum
}

// VerifyImported reports, in constant time, whether stored is the
// HashImported of s and id.
func (h *Hasher) VerifyImported(id *[IdentifierLen]byte, s string, stored []byte) bool {
	if s == "" {
		return false
	}
	sum := h.HashImported(id, s)
	return subtle.ConstantTimeCompare(sum[:], stored) == 1
}

// ImportedStart is the display hint of an imported key with identifier id:
// none of the key itself, which is all secret, but the start of its derived
// identifier, which tells a consumer's imported keys apart.
func ImportedStart(id string) string {
	if !IsImportedIdentifier(id) {
		return ""
	}
	return "imported" + id[:7]
}
