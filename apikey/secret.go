package apikey

import (
	"crypto/sha256"
	"encoding/binary"
)

// HashSecret returns HMAC-SHA256(pepper, len(id) || id || secret): the stored
// form of a secret that is not an API key (an OAuth client's secret), bound
// to the id of what it belongs to, as Hash binds a key's secret to its
// identifier. The id's length is written first, so that no id and secret
// pair hashes like another.
func (h *Hasher) HashSecret(id, secret string) [sha256.Size]byte {
	m := h.pool.Get().(*mac)
	m.h.Reset()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(id)))
	m.h.Write(n[:])
	m.h.Write([]byte(id))
	m.h.Write([]byte(secret))
	m.h.Sum(m.sum[:0])
	sum := m.sum
	h.pool.Put(m)
	return sum
}
