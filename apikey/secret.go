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
	// m.sum is scratch until Sum fills it: a local array would escape.
	binary.BigEndian.PutUint32(m.sum[:4], uint32(len(id)))
	m.h.Write(m.sum[:4])
	m.h.Write(bytesOf(id)) // hash.Hash never keeps or changes what it is given
	m.h.Write(bytesOf(secret))
	m.h.Sum(m.sum[:0])
	sum := m.sum
	h.pool.Put(m)
	return sum
}
