package portal

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/web"
)

// Account is a local portal user, for installs without an identity
// provider: a name, the consumers (ids or usernames) it acts for, and an
// argon2id password hash.
type Account struct {
	Name      string
	Consumers []string
	Hash      string
}

// MaxConsumers bounds the consumers one user acts for.
const MaxConsumers = 50

// ParseAccounts reads a portal users file: one account a line,
// "name consumer[,consumer...] argon2id-hash", blank lines and lines
// starting with # ignored. Errors name the line.
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
			return nil, fmt.Errorf("line %d: want three fields: name consumer[,consumer] argon2id-hash", n)
		}
		a := Account{Name: f[0], Consumers: strings.Split(f[1], ","), Hash: f[2]}
		if err := validName(a.Name); err != nil {
			return nil, fmt.Errorf("line %d: %s", n, keygate.ErrorMessage(err))
		}
		if len(a.Consumers) > MaxConsumers {
			return nil, fmt.Errorf("line %d: at most %d consumers", n, MaxConsumers)
		}
		for _, c := range a.Consumers {
			if c == "" {
				return nil, fmt.Errorf("line %d: an empty consumer in %q", n, f[1])
			}
		}
		if err := web.ValidArgon2(a.Hash); err != nil {
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
func AccountLine(a Account) string {
	return a.Name + " " + strings.Join(a.Consumers, ",") + " " + a.Hash + "\n"
}

func validName(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return keygate.Errorf(keygate.EINVALID, "name: 1 to 200 characters, no spaces or control characters")
	}
	return nil
}
