package httpsig

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"sync"
)

// Algorithm is an HMAC algorithm, named as Kong names it.
type Algorithm uint8

const (
	HMACSHA1 Algorithm = iota + 1
	HMACSHA256
	HMACSHA384
	HMACSHA512
)

var algorithms = [...]struct {
	name string
	new  func() hash.Hash
	size int
}{
	HMACSHA1:   {"hmac-sha1", sha1.New, sha1.Size},
	HMACSHA256: {"hmac-sha256", sha256.New, sha256.Size},
	HMACSHA384: {"hmac-sha384", sha512.New384, sha512.Size384},
	HMACSHA512: {"hmac-sha512", sha512.New, sha512.Size},
}

// ParseAlgorithm returns the algorithm named name: exactly "hmac-sha1",
// "hmac-sha256", "hmac-sha384" or "hmac-sha512", as Kong compares them.
func ParseAlgorithm(name string) (Algorithm, bool) {
	for a := HMACSHA1; a <= HMACSHA512; a++ {
		if algorithms[a].name == name {
			return a, true
		}
	}
	return 0, false
}

// String returns Kong's name of the algorithm.
func (a Algorithm) String() string {
	if !a.valid() {
		return "unknown"
	}
	return algorithms[a].name
}

// Size is the length of the algorithm's MAC in bytes.
func (a Algorithm) Size() int {
	if !a.valid() {
		return 0
	}
	return algorithms[a].size
}

func (a Algorithm) valid() bool { return a >= HMACSHA1 && a <= HMACSHA512 }

// New returns an HMAC keyed with secret. a must be valid.
func (a Algorithm) New(secret []byte) hash.Hash { return hmac.New(algorithms[a].new, secret) }

// MAC appends HMAC(secret, msg) to dst. It is RFC 2104 over a pooled
// hash, as crypto/hmac computes it (TestMACIsHMAC), without the five
// allocations of hmac.New on every verification.
func (a Algorithm) MAC(dst, secret, msg []byte) []byte {
	st := macPools[a].Get().(*macState)
	defer macPools[a].Put(st)
	h, bs := st.h, st.h.BlockSize()
	defer clear(st.pad[:])
	defer clear(st.sum[:]) // both hold what the secret gives
	pad := st.pad[:bs]
	key := secret
	if len(key) > bs {
		// Hashed through pad, so that the caller's buffer is never handed
		// to the hash (an interface), which would move it to the heap.
		h.Reset()
		for k := key; len(k) > 0; {
			n := copy(pad, k)
			h.Write(pad[:n])
			k = k[n:]
		}
		key = h.Sum(st.sum[:0])
	}
	clear(pad)
	copy(pad, key)
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.Reset()
	h.Write(pad)
	h.Write(msg)
	inner := h.Sum(st.sum[:0])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Reset()
	h.Write(pad)
	h.Write(inner)
	n := len(dst)
	out := h.Sum(st.out[:0])
	return append(dst[:n], out...)
}

// macState is a hash and room for one MAC's pads and sums.
type macState struct {
	h        hash.Hash
	pad      [128]byte // the largest block, SHA-512's
	sum, out [64]byte
}

var macPools [HMACSHA512 + 1]sync.Pool

func init() {
	for a := HMACSHA1; a <= HMACSHA512; a++ {
		macPools[a].New = func() any { return &macState{h: algorithms[a].new()} }
	}
}
