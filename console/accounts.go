package console

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/keygate/keygate"
)

// Account is a local console user: for small installs without an identity
// provider. Its password is kept only as an argon2id hash.
type Account struct {
	Name string // an email address or a short name; the audit actor is user:<Name>
	Role string
	Hash string // PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$key
}

// Argon2Params are argon2id's costs. DefaultArgon2 is RFC 9106's second
// recommended option (64 MiB, 3 passes) with 2 lanes: 64 MiB and 3 passes
// over it per check, which an attacker pays per guess too
// (BenchmarkCheckPassword; docs/console.md has a measured time).
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is what HashPassword uses by default.
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

// parsePHC splits an argon2id PHC string into its parameters, salt and key.
func parsePHC(hash string) (p Argon2Params, salt, key []byte, err error) {
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

// checkPassword reports whether password matches the PHC string hash.
func checkPassword(hash, password string) bool {
	p, salt, want, err := parsePHC(hash)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// validArgon2 says whether hash is a PHC string checkPassword can use, with
// costs no lower than a floor (so a file cannot hold a hash cheap to crack)
// and no higher than a ceiling (so one cannot exhaust memory).
func validArgon2(hash string) error {
	p, _, _, err := parsePHC(hash)
	if err != nil {
		return err
	}
	if p.Memory < 8*1024 || p.Memory > 1024*1024 || p.Time < 1 || p.Time > 20 || p.Threads < 1 {
		return fmt.Errorf("argon2id parameters out of range (m 8192..1048576 KiB, t 1..20, p ≥ 1)")
	}
	return nil
}

// ParseAccounts reads a users file: one account a line, "name role hash",
// blank lines and lines starting with # ignored. Errors name the line.
func ParseAccounts(r io.Reader) ([]Account, error) {
	var accounts []Account
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want three fields: name role argon2id-hash", n)
		}
		a := Account{Name: f[0], Role: f[1], Hash: f[2]}
		if err := ValidRole(a.Role); err != nil {
			return nil, fmt.Errorf("line %d: %s", n, keygate.ErrorMessage(err))
		}
		if err := validArgon2(a.Hash); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if seen[strings.ToLower(a.Name)] {
			return nil, fmt.Errorf("line %d: %s: listed twice", n, a.Name)
		}
		seen[strings.ToLower(a.Name)] = true
		accounts = append(accounts, a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return accounts, nil
}

// AccountLine is the users file line of an account.
func AccountLine(a Account) string { return a.Name + " " + a.Role + " " + a.Hash + "\n" }

// ValidRole accepts the roles a console user may hold.
func ValidRole(role string) error {
	switch role {
	case keygate.RoleAdmin, keygate.RoleOperator, keygate.RoleAuditor:
		return nil
	}
	return keygate.Errorf(keygate.EINVALID, "role: %q is not one of admin, operator, auditor", role)
}

// ValidAccountName accepts names fit for a users file and an audit actor.
func ValidAccountName(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return keygate.Errorf(keygate.EINVALID, "name: 1 to 200 characters, no spaces or control characters")
	}
	return nil
}
