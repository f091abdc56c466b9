package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/internal/web"
	"github.com/keygate/keygate/portal"
)

// portalConfig is the consumer portal's part of Config. The portal is off
// unless --portal-listen is set: a listener of its own, so that it can be
// exposed to partners while the admin listener stays inside.
type portalConfig struct {
	Listen           string
	OIDCIssuer       string
	OIDCClientID     string
	OIDCRedirectURL  string
	OIDCClaim        string
	OIDCConsumers    []string // claim value=consumer
	OIDCClientSecret string   // KEYGATE_PORTAL_OIDC_CLIENT_SECRET only
	UsersFile        string
	SessionTTL       time.Duration
	SecureCookies    bool
}

func (c *portalConfig) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "portal-listen", "", "address of the consumer portal's own listener (pages under /portal/), on admin nodes; empty: no portal")
	fs.StringVar(&c.OIDCIssuer, "portal-oidc-issuer", "", "consumer portal single sign-on: the OpenID Connect issuer URL (its client secret comes from KEYGATE_PORTAL_OIDC_CLIENT_SECRET)")
	fs.StringVar(&c.OIDCClientID, "portal-oidc-client-id", "", "consumer portal single sign-on: the client id registered at the provider")
	fs.StringVar(&c.OIDCRedirectURL, "portal-oidc-redirect-url", "", "consumer portal single sign-on: the callback registered at the provider, https://<portal host>/portal/oidc/callback")
	fs.StringVar(&c.OIDCClaim, "portal-oidc-consumer-claim", "groups", "consumer portal single sign-on: the ID token claim whose values name the user's groups (dots reach into objects)")
	fs.StringSliceVar(&c.OIDCConsumers, "portal-oidc-consumers", nil, "consumer portal single sign-on: which values of the consumer claim act for which consumer, value=consumer (id or username; comma-separated, a value may appear several times); users with none are refused")
	fs.StringVar(&c.UsersFile, "portal-users-file", "", "consumer portal local accounts: a file of \"name consumer[,consumer] argon2id-hash\" lines (keygate users create-portal writes them)")
	fs.DurationVar(&c.SessionTTL, "portal-session-ttl", portal.DefaultSessionTTL, "how long a consumer portal sign-in lasts")
	fs.BoolVar(&c.SecureCookies, "portal-secure-cookies", false, "mark the portal's cookies Secure even over plain HTTP (behind a proxy that terminates TLS); over TLS they always are")
}

func (c *portalConfig) load() {
	c.OIDCClientSecret = os.Getenv(envPrefix + "PORTAL_OIDC_CLIENT_SECRET")
}

// portalHandler builds the consumer portal over the admin API's store and
// actions; a bad setting fails the start, naming the flag.
func (m *Main) portalHandler(admin *adminapi.Server) (http.Handler, error) {
	c := m.Config.Portal
	cfg := portal.Config{Store: m.Store, Actions: admin, SessionTTL: c.SessionTTL, SecureCookies: c.SecureCookies,
		Logger: m.Logger, Now: m.Now}
	if c.UsersFile != "" {
		f, err := os.Open(c.UsersFile)
		if err != nil {
			return nil, fmt.Errorf("--portal-users-file: %w", err)
		}
		defer f.Close()
		if cfg.Accounts, err = portal.ParseAccounts(f); err != nil {
			return nil, fmt.Errorf("--portal-users-file %s: %w", c.UsersFile, err)
		}
	}
	if c.OIDCIssuer != "" {
		consumers := map[string][]string{}
		for _, kv := range c.OIDCConsumers {
			v, consumer, ok := strings.Cut(kv, "=")
			if !ok || v == "" || consumer == "" {
				return nil, fmt.Errorf("--portal-oidc-consumers: %q: want value=consumer", kv)
			}
			consumers[v] = append(consumers[v], consumer)
		}
		cfg.OIDC = &portal.OIDCConfig{Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID, ClientSecret: c.OIDCClientSecret,
			RedirectURL: c.OIDCRedirectURL, ConsumerClaim: c.OIDCClaim, Consumers: consumers}
		if err := cfg.OIDC.Validate(); err != nil {
			field, msg, _ := strings.Cut(err.Error(), ": ")
			return nil, fmt.Errorf("--portal-%s: %s", strings.ReplaceAll(field, " ", "-"), msg)
		}
	} else if c.OIDCClientID != "" || len(c.OIDCConsumers) > 0 || c.OIDCRedirectURL != "" {
		return nil, fmt.Errorf("--portal-oidc-issuer: required with the other --portal-oidc-* settings")
	}
	p, err := portal.New(cfg)
	if err != nil {
		return nil, err
	}
	return p.Handler(), nil
}

// servePortal starts the portal's listener when --portal-listen is set.
func (m *Main) servePortal(admin *adminapi.Server) error {
	if m.Config.Portal.Listen == "" {
		return nil
	}
	h, err := m.portalHandler(admin)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/portal/", h)
	mux.Handle("GET /{$}", http.RedirectHandler("/portal/", http.StatusFound))
	m.portalServer, m.portalAddr, err = m.listen("portal", m.Config.Portal.Listen, mux)
	return err
}

// PortalURL is where the portal's listener ended up; "" without one.
func (m *Main) PortalURL() string { return listenerURL(m.portalAddr) }

// newPortalUsersCommand writes portal accounts: keygate users create-portal.
func newPortalUsersCommand() *cobra.Command {
	var file, name, consumers string
	cmd := &cobra.Command{
		Use:   "create-portal",
		Short: "Add a consumer portal account, reading its password from stdin",
		Long: `Add a consumer portal account to a portal users file (created with mode
0600 when missing); the password is the first line of stdin:

  read -rs PW && printf '%s\n' "$PW" | keygate users create-portal --file portal-users.txt --name dev@partner.example --consumers partner-app

Only an argon2id hash of it is written. keygate serve reads the file at start
(--portal-users-file): restart it to apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a := portal.Account{Name: name, Consumers: strings.Split(consumers, ",")}
			password, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1025)).ReadString('\n')
			if err != nil && err != io.EOF {
				return fmt.Errorf("reading the password from stdin: %w", err)
			}
			password = strings.TrimRight(password, "\r\n")
			switch {
			case len(password) < 12:
				return errors.New("password: at least 12 characters, on the first line of stdin")
			case len(password) > 1024:
				return errors.New("password: at most 1024 characters")
			}
			if a.Hash, err = web.HashPassword(password, web.DefaultArgon2); err != nil {
				return err
			}
			line := portal.AccountLine(a)
			existing, err := os.ReadFile(file)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			// The file as it would be must parse: this checks the name, the
			// consumers and that the name is not there already.
			if _, err := portal.ParseAccounts(strings.NewReader(string(existing) + "\n" + line)); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if err := appendLine(file, line); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added %s (acting for %s) to %s; restart keygate serve to apply.\n", name, consumers, file)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the portal users file (the one --portal-users-file names)")
	cmd.Flags().StringVar(&name, "name", "", "the account's name, usually an email address; the audit trail names it portal:<name>")
	cmd.Flags().StringVar(&consumers, "consumers", "", "the consumers (ids or usernames, comma-separated) the account acts for")
	cmd.MarkFlagRequired("file")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("consumers")
	return cmd
}
