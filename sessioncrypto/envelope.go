package sessioncrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
)

// Sizes of the envelope format.
const (
	Version    = 1
	KeySize    = 32 // AES-256
	NonceSize  = 12
	TagSize    = 16
	HeaderSize = 1 + 8 + NonceSize
	// Overhead is how much longer an envelope is than its plaintext.
	Overhead = HeaderSize + TagSize
	// maxField bounds the session id, method and path in the additional data.
	maxField = 1<<16 - 1
)

// Directions: an envelope sealed for a request never opens as a response.
const (
	dirRequest  = 'Q'
	dirResponse = 'R'
)

// Errors Open returns. None of them says which check failed beyond what the
// caller could see for itself: a tampered envelope and one sealed for
// another session, route or key are the same error.
var (
	ErrMalformed = errors.New("sessioncrypto: envelope too short")
	ErrVersion   = errors.New("sessioncrypto: unknown envelope version")
	ErrSequence  = errors.New("sessioncrypto: sequence number must be at least 1")
	ErrOpen      = errors.New("sessioncrypto: envelope does not open: tampered, or sealed for another session, key, method or path")
	ErrKeySize   = errors.New("sessioncrypto: a session key is 32 bytes")
	ErrField     = errors.New("sessioncrypto: session id, method or path longer than 65535 bytes")
)

// Key is a session key, ready to seal and open. It is safe for concurrent use.
type Key struct {
	aead cipher.AEAD
}

// GenerateKey returns a random session key.
func GenerateKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // never fails (crypto/rand)
	return k
}

// NewKey returns the key for 32 bytes of key material.
func NewKey(material []byte) (*Key, error) {
	if len(material) != KeySize {
		return nil, ErrKeySize
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{aead: aead}, nil
}

// SealRequest appends to dst the envelope of a request body.
func (k *Key) SealRequest(dst []byte, sessionID string, seq uint64, method, path string, plaintext []byte) ([]byte, error) {
	return k.seal(dst, dirRequest, sessionID, seq, method, path, plaintext)
}

// OpenRequest appends to dst the plaintext of a request envelope and
// returns it with the envelope's sequence number, which the caller checks
// against the session's Window.
func (k *Key) OpenRequest(dst []byte, sessionID, method, path string, envelope []byte) ([]byte, uint64, error) {
	return k.open(dst, dirRequest, sessionID, method, path, envelope)
}

// SealResponse appends to dst the envelope of the answer to the request
// with sequence number seq.
func (k *Key) SealResponse(dst []byte, sessionID string, seq uint64, method, path string, plaintext []byte) ([]byte, error) {
	return k.seal(dst, dirResponse, sessionID, seq, method, path, plaintext)
}

// OpenResponse opens a response envelope; it must carry want, the request's
// sequence number, so an answer cannot be swapped for another's.
func (k *Key) OpenResponse(dst []byte, sessionID string, want uint64, method, path string, envelope []byte) ([]byte, error) {
	pt, seq, err := k.open(dst, dirResponse, sessionID, method, path, envelope)
	if err != nil {
		return nil, err
	}
	if seq != want {
		return nil, ErrOpen
	}
	return pt, nil
}

var aadPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (k *Key) seal(dst []byte, dir byte, sessionID string, seq uint64, method, path string, plaintext []byte) ([]byte, error) {
	if seq == 0 {
		return nil, ErrSequence
	}
	if len(sessionID) > maxField || len(method) > maxField || len(path) > maxField {
		return nil, ErrField
	}
	start := len(dst)
	dst = growBy(dst, Overhead+len(plaintext))
	env := dst[start:]
	env[0] = Version
	binary.BigEndian.PutUint64(env[1:9], seq)
	rand.Read(env[9:HeaderSize]) // never fails (crypto/rand)
	ab := aadPool.Get().(*[]byte)
	aad := appendAAD((*ab)[:0], env[:9], dir, sessionID, method, path)
	k.aead.Seal(env[HeaderSize:HeaderSize], env[9:HeaderSize], plaintext, aad)
	*ab = aad
	aadPool.Put(ab)
	return dst, nil
}

func (k *Key) open(dst []byte, dir byte, sessionID, method, path string, env []byte) ([]byte, uint64, error) {
	if len(env) < Overhead {
		return nil, 0, ErrMalformed
	}
	if env[0] != Version {
		return nil, 0, ErrVersion
	}
	seq := binary.BigEndian.Uint64(env[1:9])
	if seq == 0 {
		return nil, 0, ErrSequence
	}
	if len(sessionID) > maxField || len(method) > maxField || len(path) > maxField {
		return nil, 0, ErrField
	}
	ab := aadPool.Get().(*[]byte)
	aad := appendAAD((*ab)[:0], env[:9], dir, sessionID, method, path)
	pt, err := k.aead.Open(dst, env[9:HeaderSize], env[HeaderSize:], aad)
	*ab = aad
	aadPool.Put(ab)
	if err != nil {
		return nil, 0, ErrOpen
	}
	return pt, seq, nil
}

func appendAAD(b, header []byte, dir byte, sessionID, method, path string) []byte {
	b = append(b, header...)
	b = append(b, dir)
	for _, f := range [...]string{sessionID, method, path} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// growBy extends b by n bytes, reallocating only when its capacity is short.
func growBy(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
