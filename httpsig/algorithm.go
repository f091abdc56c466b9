package httpsig

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"errors"
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
	defer clear(st.pad[:])
	defer clear(st.sum[:]) // both hold what the secret gives
	h, pad := st.h, st.keyPad(secret)
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

// PrepareKey appends secret prepared for a to dst: the hash's states after
// HMAC's inner and outer key blocks (RFC 2104's K XOR ipad and K XOR
// opad), as crypto/hmac keeps them between messages. MACPrepared starts
// from them, which saves two of the hash's blocks on every MAC. A prepared
// key is as sensitive as the secret: keep, copy and zero it as the secret.
func (a Algorithm) PrepareKey(dst, secret []byte) []byte {
	st := macPools[a].Get().(*macState)
	defer macPools[a].Put(st)
	defer clear(st.pad[:])
	defer clear(st.sum[:])
	h, pad := st.h, st.keyPad(secret)
	defer h.Reset() // the pooled hash would hold the outer key block's state
	dst = appendState(dst, h, pad)
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	return appendState(dst, h, pad)
}

// appendState appends the state of h after the block pad alone.
func appendState(dst []byte, h hash.Hash, pad []byte) []byte {
	h.Reset()
	h.Write(pad)
	dst, err := h.(encoding.BinaryAppender).AppendBinary(dst)
	if err != nil { // the standard hashes never fail (TestPrepareKey)
		panic("httpsig: " + err.Error())
	}
	return dst
}

// PreparedKeySize is the length of a's prepared keys (PrepareKey).
func (a Algorithm) PreparedKeySize() int {
	if !a.valid() {
		return 0
	}
	return 2 * stateSizes[a]
}

// MaxPreparedKeySize is the largest PreparedKeySize, room enough for any.
const MaxPreparedKeySize = 2 * maxStateSize

// maxStateSize bounds the hashes' saved states (SHA-512's: 204 bytes).
const maxStateSize = 256

// ErrPreparedKey is returned for a key that PrepareKey did not make for the
// algorithm.
var ErrPreparedKey = errors.New("httpsig: not a prepared key for this algorithm")

// MACPrepared appends HMAC(secret, msg) to dst, given key =
// a.PrepareKey(nil, secret): MAC without the two blocks of the key.
func (a Algorithm) MACPrepared(dst, key, msg []byte) ([]byte, error) {
	if !a.valid() || len(key) != 2*stateSizes[a] {
		return dst, ErrPreparedKey
	}
	st := macPools[a].Get().(*macState)
	out, ok := st.macPrepared(key, msg)
	dst = append(dst, out...)
	// What the secret gives, and the hash, which holds the outer state.
	clear(st.state[:len(key)])
	clear(st.sum[:])
	clear(out)
	st.h.Reset()
	macPools[a].Put(st)
	if !ok {
		return dst, ErrPreparedKey
	}
	return dst, nil
}

// macPrepared is MACPrepared on st, without the checks and the cleanup (one
// place for both, and no defer, which this function's hot path would pay
// for).
func (st *macState) macPrepared(key, msg []byte) ([]byte, bool) {
	h := st.h
	// Through st.state, so that the caller's buffer is never handed to the
	// hash (an interface), which would move it to the heap.
	state := st.state[:len(key)]
	copy(state, key)
	n := len(state) / 2
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state[:n]) != nil {
		return nil, false
	}
	h.Write(msg)
	inner := h.Sum(st.sum[:0])
	if h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state[n:]) != nil {
		return nil, false
	}
	h.Write(inner)
	return h.Sum(st.out[:0]), true
}

// macState is a hash and room for one MAC's pads, sums and prepared key.
type macState struct {
	h        hash.Hash
	pad      [128]byte // the largest block, SHA-512's
	sum, out [64]byte
	state    [MaxPreparedKeySize]byte
}

// keyPad returns the key block XOR ipad in st.pad: the secret, hashed
// first if it is longer than a block, padded with zeros.
func (st *macState) keyPad(secret []byte) []byte {
	h, bs := st.h, st.h.BlockSize()
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
	return pad
}

var (
	macPools   [HMACSHA512 + 1]sync.Pool
	stateSizes [HMACSHA512 + 1]int
)

func init() {
	for a := HMACSHA1; a <= HMACSHA512; a++ {
		macPools[a].New = func() any { return &macState{h: algorithms[a].new()} }
		state, err := algorithms[a].new().(encoding.BinaryAppender).AppendBinary(nil)
		if err != nil || len(state) > maxStateSize {
			panic("httpsig: cannot save the state of " + a.String())
		}
		stateSizes[a] = len(state)
	}
}
