package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"sync"
)

// MinPepperLen is the minimum length of a Hasher's pepper.
const MinPepperLen = 32

// A Hasher computes the value stored for a key in place of its secret: a
// peppered HMAC, so a leaked table of hashes can't be checked offline
// without the pepper, which is kept outside the database.
type Hasher struct {
	pool sync.Pool // of *mac; hmac.New is too costly to call per request
}

type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte   // Sum target that doesn't escape to a new allocation
	id  [IdentifierLen]byte // HashImported's copy of the caller's identifier, which so stays on its stack
}

// NewHasher returns a Hasher keyed with pepper, which must be at least
// MinPepperLen bytes long. The pepper is copied.
func NewHasher(pepper []byte) (*Hasher, error) {
	if len(pepper) < MinPepperLen {
		return nil, fmt.Errorf("apikey: pepper is %d bytes, must be at least %d", len(pepper), MinPepperLen)
	}
	pepper = append([]byte(nil), pepper...)
	h := &Hasher{}
	h.pool.New = func() any { return &mac{h: hmac.New(sha256.New, pepper)} }
	return h, nil
}

// Hash returns HMAC-SHA256(pepper, identifier || secret). The identifier is
// included so that a hash copied from one key's row to another's does not
// validate there: each hash is bound to the key it was made for. The
// identifier has a fixed length, so the concatenation is unambiguous. The
// prefix is left out: it is public, and Parse has already checked it.
func (h *Hasher) Hash(k Key) [sha256.Size]byte {
	m := h.pool.Get().(*mac)
	m.h.Reset()
	m.h.Write(bytesOf(k.idSecret()))
	m.h.Sum(m.sum[:0])
	sum := m.sum
	h.pool.Put(m)
	return sum
}

// Verify reports, in constant time, whether stored is the Hash of k. It is
// always false for the zero Key.
func (h *Hasher) Verify(k Key, stored []byte) bool {
	if k.IsZero() {
		return false
	}
	sum := h.Hash(k)
	return subtle.ConstantTimeCompare(sum[:], stored) == 1
}
