package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// Format constants of version 1; see the package documentation. They are part
// of the file format: changing any of them needs a new format version.
const (
	magic          = "KEYGATE-BACKUP\n"
	formatVersion  = 1
	maxMetaLen     = 16 << 10 // bounds what a reader allocates; also fits KMS limits on additional data
	maxSealedLen   = 16 << 10
	fileKeySize    = 32
	prefixSize     = 7
	nonceSize      = prefixSize + 4 + 1
	tagSize        = 16
	hashSize       = sha256.Size
	chunkSize      = 64 << 10
	chunkKeyInfo   = "keygate backup v1 chunk key"
	lastChunkFlag  = 0x01
	maxChunkNumber = 1<<32 - 1 // the counter is 32 bits: at most 256 TiB per backup
)

// Header is the metadata at the start of a backup. It is authenticated (a
// changed byte is refused) but not encrypted: anyone holding the file can
// read it, so it must not contain secrets.
type Header struct {
	// CreatedAt is when the backup was taken.
	CreatedAt time.Time `json:"created_at"`
	// KeygateVersion is the version of keygate that wrote it.
	KeygateVersion string `json:"keygate_version"`
	// Store names the kind of store it was taken from, e.g. "sqlite".
	Store string `json:"store"`
	// Extra holds whatever else the caller wants to record (a schema
	// version, a host name).
	Extra map[string]string `json:"extra,omitempty"`
}

// Errors a Reader returns; match them with errors.Is. The wrapped messages
// add where the problem is, never key material or plaintext.
var (
	// ErrNotBackup means the input does not start with the backup magic.
	ErrNotBackup = errors.New("not a keygate backup")
	// ErrVersion means the file has a format version this keygate cannot read.
	ErrVersion = errors.New("unsupported backup format version")
	// ErrWrongKey means the root key cannot open the file key: another root
	// key wrote the backup.
	ErrWrongKey = errors.New("the root key does not open this backup")
	// ErrDamaged means the file does not authenticate: a byte changed,
	// chunks were moved, or bytes were cut or added.
	ErrDamaged = errors.New("backup is damaged")
	// ErrTruncated means the file ends early. A truncated backup is also
	// damaged: errors.Is(err, ErrDamaged) holds too. A file cut inside a
	// chunk cannot be told from a changed one and reports as ErrDamaged.
	ErrTruncated error = truncatedError{}
)

type truncatedError struct{}

func (truncatedError) Error() string        { return "backup is truncated" }
func (truncatedError) Is(target error) bool { return target == ErrDamaged }

var (
	errClosed   = errors.New("backup: write after Close")
	errTooLarge = errors.New("backup: too large (over 2^32 chunks)")
)

// preamble returns the header bytes that the sealed file key is bound to:
// magic through nonce prefix.
func preamble(meta, prefix []byte) []byte {
	b := make([]byte, 0, len(magic)+1+4+len(meta)+prefixSize+4+maxSealedLenHint+hashSize)
	b = append(b, magic...)
	b = append(b, formatVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)))
	b = append(b, meta...)
	return append(b, prefix...)
}

// maxSealedLenHint sizes the header buffer for a typical sealed key (an
// in-memory AES-GCM root key adds 28 bytes; KMS ciphertexts are larger).
const maxSealedLenHint = 256

// newChunkAEAD derives the chunk key from the file key.
func newChunkAEAD(fileKey, prefix []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, fileKey, prefix, chunkKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// chunkNonce sets the counter and flag of nonce, whose prefix is in place.
func chunkNonce(nonce *[nonceSize]byte, i uint64, last bool) {
	binary.BigEndian.PutUint32(nonce[prefixSize:], uint32(i))
	nonce[nonceSize-1] = 0
	if last {
		nonce[nonceSize-1] = lastChunkFlag
	}
}
