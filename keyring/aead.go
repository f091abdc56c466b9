package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	"github.com/keygate/keygate"
)

const (
	keySize  = 32 // AES-256
	formatV1 = 1  // first byte of every blob; a new layout gets a new number
)

// errOpen is the cause of every failure to open a blob; callers wrap it with
// a message that says which blob.
var errOpen = errors.New("message authentication failed")

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(b)
}

// seal returns formatV1 || nonce || ciphertext || tag.
func seal(a cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, 1, 1+a.Overhead()+len(plaintext))
	out[0] = formatV1
	return a.Seal(out, nil, plaintext, ad)
}

func open(a cipher.AEAD, blob, ad []byte) ([]byte, error) {
	if len(blob) < 1+a.Overhead() || blob[0] != formatV1 {
		return nil, errOpen
	}
	pt, err := a.Open(nil, nil, blob[1:], ad)
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}

func randomKey() []byte {
	k := make([]byte, keySize)
	rand.Read(k) // never fails: crashes the program instead (Go 1.24+)
	return k
}

// versionAD binds a sealed keyring version to its number, so that versions
// swapped in the store do not open.
func versionAD(version int) []byte {
	return strconv.AppendInt([]byte("keygate/keyring/v"), int64(version), 10)
}

const (
	wrapDomain   = "keygate/datakey\x00"
	sealedDomain = "keygate/sealed\x00"
)

// wrapAD is the additional data of a data key wrapped by keyring version
// version for record kind/id.
func wrapAD(version int, kind, id string) []byte {
	b := make([]byte, 0, len(wrapDomain)+12+len(kind)+len(id))
	b = append(b, wrapDomain...)
	b = binary.BigEndian.AppendUint32(b, uint32(version))
	return appendRecord(b, kind, id)
}

// additionalData returns wrapAD and the additional data of the secret
// itself, in one allocation.
func additionalData(version int, kind, id string) (wrap, sealed []byte) {
	n := len(sealedDomain) + 8 + len(kind) + len(id)
	b := make([]byte, 0, n+len(wrapDomain)+12+len(kind)+len(id))
	b = append(b, sealedDomain...)
	b = appendRecord(b, kind, id)
	b = append(b, wrapDomain...)
	b = binary.BigEndian.AppendUint32(b, uint32(version))
	b = appendRecord(b, kind, id)
	return b[n:], b[:n:n]
}

// appendRecord length-prefixes kind and id, so that ("a", "bc") and
// ("ab", "c") give different additional data.
func appendRecord(b []byte, kind, id string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(kind)))
	b = append(b, kind...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(id)))
	return append(b, id...)
}

// validVersion reports whether version can be a keyring version (its
// number is written as a uint32 in additional data).
func validVersion(version int) bool {
	return version >= 1 && uint64(version) <= math.MaxUint32
}

// checkRecord checks the kind and id a secret is sealed for.
func checkRecord(kind, id string) error {
	switch {
	case kind == "":
		return keygate.Errorf(keygate.EINVALID, "a sealed value needs a kind")
	case id == "":
		return keygate.Errorf(keygate.EINVALID, "a sealed value needs an id")
	case uint64(len(kind)) > math.MaxUint32 || uint64(len(id)) > math.MaxUint32:
		return keygate.Errorf(keygate.EINVALID, "a sealed value's kind or id is too long")
	}
	return nil
}
