package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/keygate/keygate"
)

// Argon2Params are argon2id's costs.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is RFC 9106's second recommended option (64 MiB, 3 passes)
// with 2 lanes: an attacker pays that per guess too.
var DefaultArgon2 = Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 2}

// HashPassword returns the argon2id PHC string of password with a fresh salt.
func HashPassword(password string, p Argon2Params) (string, error) {
	if password == "" {
		return "", keygate.Errorf(keygate.EINVALID, "password: required")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// ParsePHC splits an argon2id PHC string into its parameters, salt and key.
func ParsePHC(hash string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, fmt.Errorf("not an argon2id hash ($argon2id$v=19$...)")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("argon2id parameters: want m=...,t=...,p=...")
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("argon2id salt: not base64")
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("argon2id key: not base64 of at least 16 bytes")
	}
	return p, salt, key, nil
}

// CheckPassword reports whether password matches the PHC string hash.
func CheckPassword(hash, password string) bool {
	p, salt, want, err := ParsePHC(hash)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// ValidArgon2 says whether hash is a PHC string CheckPassword can use, with
// costs no lower than a floor (so a file cannot hold a hash cheap to crack)
// and no higher than a ceiling (so one cannot exhaust memory).
func ValidArgon2(hash string) error {
	p, _, _, err := ParsePHC(hash)
	if err != nil {
		return err
	}
	if p.Memory < 8*1024 || p.Memory > 1024*1024 || p.Time < 1 || p.Time > 20 || p.Threads < 1 {
		return fmt.Errorf("argon2id parameters out of range (m 8192..1048576 KiB, t 1..20, p ≥ 1)")
	}
	return nil
}
