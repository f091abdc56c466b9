package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/console"
)

// consoleConfig is the admin console's part of Config.
type consoleConfig struct {
	OIDCIssuer       string
	OIDCClientID     string
	OIDCRedirectURL  string
	OIDCRoleClaim    string
	OIDCRoles        []string // claim value=role
	OIDCClientSecret string   // KEYGATE_CONSOLE_OIDC_CLIENT_SECRET only
	UsersFile        string
	SessionTTL       time.Duration
	SecureCookies    bool
}

func (c *consoleConfig) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.OIDCIssuer, "console-oidc-issuer", "", "admin console single sign-on: the OpenID Connect issuer URL (its client secret comes from KEYGATE_CONSOLE_OIDC_CLIENT_SECRET)")
	fs.StringVar(&c.OIDCClientID, "console-oidc-client-id", "", "admin console single sign-on: the client id registered at the provider")
	fs.StringVar(&c.OIDCRedirectURL, "console-oidc-redirect-url", "", "admin console single sign-on: the callback registered at the provider, https://<admin host>/ui/oidc/callback")
	fs.StringVar(&c.OIDCRoleClaim, "console-oidc-role-claim", "groups", "admin console single sign-on: the ID token claim holding the user's groups or roles (dots reach into objects: realm_access.roles)")
	fs.StringSliceVar(&c.OIDCRoles, "console-oidc-roles", nil, "admin console single sign-on: which values of the role claim give which console role, value=admin|operator|auditor (comma-separated); users with none are refused")
	fs.StringVar(&c.UsersFile, "console-users-file", "", "admin console local accounts: a file of \"name role argon2id-hash\" lines (keygate users create writes them)")
	fs.DurationVar(&c.SessionTTL, "console-session-ttl", console.DefaultSessionTTL, "how long an admin console sign-in lasts")
	fs.BoolVar(&c.SecureCookies, "console-secure-cookies", false, "mark the admin console's cookies Secure even when requests arrive over plain HTTP (behind a proxy that terminates TLS); over TLS they always are")
}

func (c *consoleConfig) load() {
	c.OIDCClientSecret = os.Getenv(envPrefix + "CONSOLE_OIDC_CLIENT_SECRET")
}

// console builds the admin console over the admin API's store and key
// actions; a bad setting fails the start, naming the flag.
func (m *Main) console(admin *adminapi.Server) (http.Handler, error) {
	c := m.Config.Console
	cfg := console.Config{Store: m.Store, Keys: admin, SessionTTL: c.SessionTTL, SecureCookies: c.SecureCookies,
		Logger: m.Logger, Now: m.Now}
	if c.UsersFile != "" {
		f, err := os.Open(c.UsersFile)
		if err != nil {
			return nil, fmt.Errorf("--console-users-file: %w", err)
		}
		defer f.Close()
		if cfg.Accounts, err = console.ParseAccounts(f); err != nil {
			return nil, fmt.Errorf("--console-users-file %s: %w", c.UsersFile, err)
		}
	}
	if c.OIDCIssuer != "" {
		roles := map[string]string{}
		for _, kv := range c.OIDCRoles {
			v, role, ok := strings.Cut(kv, "=")
			if !ok || v == "" {
				return nil, fmt.Errorf("--console-oidc-roles: %q: want value=role", kv)
			}
			roles[v] = role
		}
		cfg.OIDC = &console.OIDCConfig{Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID, ClientSecret: c.OIDCClientSecret,
			RedirectURL: c.OIDCRedirectURL, RoleClaim: c.OIDCRoleClaim, Roles: roles}
		if err := cfg.OIDC.Validate(); err != nil {
			// The error names a setting ("oidc client id: ..."): name its flag.
			field, msg, _ := strings.Cut(err.Error(), ": ")
			return nil, fmt.Errorf("--console-%s: %s", strings.ReplaceAll(field, " ", "-"), msg)
		}
	} else if c.OIDCClientID != "" || len(c.OIDCRoles) > 0 || c.OIDCRedirectURL != "" {
		return nil, fmt.Errorf("--console-oidc-issuer: required with the other --console-oidc-* settings")
	}
	s, err := console.New(cfg)
	if err != nil {
		return nil, err
	}
	return s.Handler(), nil
}
