package console

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/web"
)

// Account is a local console user: for small installs without an identity
// provider. Its password is kept only as an argon2id hash.
type Account struct {
	Name string // an email address or a short name; the audit actor is user:<Name>
	Role string
	Hash string // PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$key
}

// Argon2Params are argon2id's costs. DefaultArgon2 is RFC 9106's second
// recommended option (64 MiB, 3 passes) with 2 lanes (BenchmarkCheckPassword;
// docs/console.md has a measured time). They live in internal/web, shared
// with the consumer portal.
type Argon2Params = web.Argon2Params

// DefaultArgon2 is what HashPassword uses by default.
var DefaultArgon2 = web.DefaultArgon2

// HashPassword returns the argon2id PHC string of password with a fresh salt.
func HashPassword(password string, p Argon2Params) (string, error) {
	return web.HashPassword(password, p)
}

func parsePHC(hash string) (Argon2Params, []byte, []byte, error) { return web.ParsePHC(hash) }
func checkPassword(hash, password string) bool                   { return web.CheckPassword(hash, password) }
func validArgon2(hash string) error                              { return web.ValidArgon2(hash) }

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
