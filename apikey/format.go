package apikey

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unsafe"
)

const (
	idLen        = IdentifierLen
	secretLen    = SecretLen
	minSecretLen = 32
	maxSecretLen = 128
	checksumLen  = 6
	maxPrefixLen = 32
	maxKeyLen    = 256 // longer input is rejected before it is looked at

	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Parse errors. They never include the input, which may be a real key.
var (
	ErrMalformed     = errors.New("apikey: malformed key")
	ErrUnknownPrefix = errors.New("apikey: unknown key prefix")
	ErrChecksum      = errors.New("apikey: key checksum mismatch")
)

// base62Value maps a byte to its digit value, or -1 if it is not base62.
var base62Value = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// A Format generates keys with its current prefix and parses keys with the
// current or any accepted prefix, so a prefix can be rotated without
// invalidating keys already handed out.
type Format struct {
	prefix   string
	accepted []string
}

// NewFormat returns a Format that generates keys with prefix and also parses
// keys with any of the accepted (older) prefixes.
func NewFormat(prefix string, accepted ...string) (*Format, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, prefixError("prefix", prefix, err)
	}
	for i, p := range accepted {
		if err := checkPrefix(p); err != nil {
			return nil, prefixError(fmt.Sprintf("accepted prefix %d", i+1), p, err)
		}
	}
	return &Format{prefix: prefix, accepted: append([]string(nil), accepted...)}, nil
}

var (
	errPrefixLength = errors.New("must be 1 to 32 characters")
	errPrefixStart  = errors.New("must start with a letter")
	errPrefixChars  = errors.New("may contain only letters, digits and underscores")
	errPrefixUnder  = errors.New(`must not end with "_" or contain "__"`)
)

func prefixError(name, p string, err error) error {
	if err == errPrefixLength {
		// Don't quote it: a value this long may be a whole key pasted into
		// the wrong setting.
		return fmt.Errorf("apikey: %s is %d characters: %w", name, len(p), err)
	}
	return fmt.Errorf("apikey: %s %q %w", name, p, err)
}

// checkPrefix returns one of the errPrefix errors. It does not allocate, as
// Parse uses it too.
func checkPrefix(p string) error {
	if len(p) < 1 || len(p) > maxPrefixLen {
		return errPrefixLength
	}
	if c := p[0] | 0x20; c < 'a' || c > 'z' { // | 0x20 lower-cases ASCII letters
		return errPrefixStart
	}
	for i := range len(p) {
		if p[i] != '_' && base62Value[p[i]] < 0 {
			return errPrefixChars
		}
	}
	if p[len(p)-1] == '_' || strings.Contains(p, "__") {
		return errPrefixUnder
	}
	return nil
}

// Lengths of the parts of generated keys. Parse accepts secrets of
// 32 to 128 characters, so that a future format may lengthen them.
const (
	IdentifierLen = 12
	SecretLen     = 32
)

// Generate returns a new random key with the current prefix.
func (f *Format) Generate() (Key, error) {
	var rnd [idLen + secretLen]byte
	if err := randomBase62(rnd[:]); err != nil {
		return Key{}, err
	}
	var b strings.Builder
	b.Grow(len(f.prefix) + 1 + len(rnd) + 1 + checksumLen)
	b.WriteString(f.prefix)
	b.WriteByte('_')
	b.Write(rnd[:])
	var sum [checksumLen]byte
	encodeChecksum(&sum, crc32.ChecksumIEEE(bytesOf(b.String())))
	b.WriteByte('_')
	b.Write(sum[:])
	return newKey(b.String(), len(f.prefix)), nil
}

// RandomBase62 returns n uniformly random base62 digits: for other secrets
// and identifiers that should look like keys (an OAuth client's id and
// secret).
func RandomBase62(n int) (string, error) {
	b := make([]byte, n)
	if err := randomBase62(b); err != nil {
		return "", err
	}
	return string(b), nil
}

// randomBase62 fills dst with uniformly random base62 digits. Bytes at or
// above 248 (= 4*62) are discarded, so that b%62 is unbiased.
func randomBase62(dst []byte) error {
	var buf [64]byte
	for i := 0; i < len(dst); {
		if _, err := rand.Read(buf[:]); err != nil {
			return fmt.Errorf("apikey: reading random bytes: %w", err)
		}
		for _, c := range buf {
			if c < 248 && i < len(dst) {
				dst[i] = alphabet[c%62]
				i++
			}
		}
	}
	return nil
}

// Parse parses s, which must carry the current or an accepted prefix. It
// checks structure and characters first, then the prefix, then the checksum,
// and does not allocate: the returned Key refers to s.
func (f *Format) Parse(s string) (Key, error) {
	if len(s) > maxKeyLen {
		return Key{}, ErrMalformed
	}
	i := strings.LastIndexByte(s, '_')
	if i < 0 || len(s)-i-1 != checksumLen {
		return Key{}, ErrMalformed
	}
	j := strings.LastIndexByte(s[:i], '_')
	if j < 0 {
		return Key{}, ErrMalformed
	}
	prefix, body, sum := s[:j], s[j+1:i], s[i+1:]
	if n := len(body) - idLen; n < minSecretLen || n > maxSecretLen || !isBase62(body) || !isBase62(sum) {
		return Key{}, ErrMalformed
	}
	if !f.accepts(prefix) {
		// Accepted prefixes were checked by NewFormat; only others need it.
		if checkPrefix(prefix) != nil {
			return Key{}, ErrMalformed
		}
		return Key{}, ErrUnknownPrefix
	}
	if decodeChecksum(sum) != uint64(crc32.ChecksumIEEE(bytesOf(s[:i]))) {
		return Key{}, ErrChecksum
	}
	return newKey(s, len(prefix)), nil
}

func (f *Format) accepts(prefix string) bool {
	if prefix == f.prefix {
		return true
	}
	for _, p := range f.accepted {
		if prefix == p {
			return true
		}
	}
	return false
}

// Checksum returns the 6-character base62 checksum of s, the part of a key
// before its final underscore.
func Checksum(s string) string {
	var sum [checksumLen]byte
	encodeChecksum(&sum, crc32.ChecksumIEEE(bytesOf(s)))
	return string(sum[:])
}

// 62^6 > 2^32, so six digits hold any CRC-32.
func encodeChecksum(dst *[checksumLen]byte, v uint32) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = alphabet[v%62]
		v /= 62
	}
}

// decodeChecksum returns the value of base62 digits s, which the caller has
// checked. A uint64 holds any 6 digits, so values above 2^32-1 can't alias a
// valid checksum.
func decodeChecksum(s string) uint64 {
	var v uint64
	for i := range len(s) {
		v = v*62 + uint64(base62Value[s[i]])
	}
	return v
}

func isBase62(s string) bool {
	for i := range len(s) {
		if base62Value[s[i]] < 0 {
			return false
		}
	}
	return true
}

// bytesOf returns s's bytes without copying them, so that checksumming,
// hashing and comparing key material don't allocate. The slice must only be
// read and must not be kept.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
