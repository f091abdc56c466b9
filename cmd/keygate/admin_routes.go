package main

import (
	"cmp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var routeHeader = []string{"ID", "NAME", "SERVICE", "HOSTS", "PATHS", "METHODS", "AUTH", "ACL"}

func routeRow(r *keygate.Route) []string {
	var kinds []string
	if r.KeyAuth != nil {
		kinds = append(kinds, "key-auth")
	}
	if r.HMACAuth != nil {
		kinds = append(kinds, "hmac-auth")
	}
	if r.OAuth2 != nil {
		kinds = append(kinds, "oauth2")
	}
	auth := joinOrDash(kinds)
	acl := "-"
	if a := r.ACL; a != nil && len(a.Allow) > 0 {
		acl = "allow:" + strings.Join(a.Allow, ",")
	} else if a != nil {
		acl = "deny:" + strings.Join(a.Deny, ",")
	}
	return []string{r.ID, r.Name, cmp.Or(r.Service.String(), "-"), joinOrDash(r.Hosts), joinOrDash(r.Paths), joinOrDash(r.Methods), auth, acl}
}

// routeFlags holds the flags of routes create and update.
type routeFlags struct {
	route   *keygate.Route
	service string
	keyAuth bool
	ka      keygate.KeyAuthConfig
	hmac    bool
	ha      keygate.HMACAuthConfig
	acl     keygate.ACLConfig
	noACL   bool
	oauth2  *oauth2Settings
}

var (
	keyAuthFlags = []string{"key-auth", "key-names", "key-in-header", "key-in-query", "key-in-bearer", "hide-credentials", "anonymous"}
	aclFlags     = []string{"acl-allow", "acl-deny", "hide-groups-header", "no-acl"}
	hmacFlags    = []string{"hmac-auth", "hmac-clock-skew", "hmac-enforce-headers", "hmac-algorithms", "hmac-validate-body",
		"hmac-hide-credentials", "hmac-anonymous", "hmac-realm", "hmac-replay-protection", "hmac-max-body-size"}
	// routeFields maps the flags of plain fields to their JSON names.
	routeFields = map[string]string{"name": "name", "host": "hosts", "path": "paths", "method": "methods",
		"strip-path": "strip_path", "preserve-host": "preserve_host", "tag": "tags", "payload-encryption": "payload_encryption"}
)

func newRouteFlags(fs *pflag.FlagSet, update bool) *routeFlags {
	f := &routeFlags{route: keygate.NewRoute()}
	r := f.route
	fs.StringVar(&r.Name, "name", "", "unique name")
	fs.StringVar(&f.service, "service", "", "service (id or name) to send traffic to")
	fs.StringSliceVar(&r.Hosts, "host", nil, "host to match, such as api.example.com or *.example.com (repeatable)")
	fs.StringArrayVar(&r.Paths, "path", nil, "path prefix to match, such as /orders (repeatable)")
	fs.StringSliceVar(&r.Methods, "method", nil, "HTTP method to match (repeatable)")
	fs.BoolVar(&r.StripPath, "strip-path", r.StripPath, "strip the matched path prefix before proxying")
	fs.BoolVar(&r.PreserveHost, "preserve-host", false, "send the client's Host header upstream")
	fs.StringSliceVar(&r.Tags, "tag", nil, "tag (repeatable)")
	fs.StringVar(&r.PayloadEncryption, "payload-encryption", "", "off, static or dynamic: bodies travel sealed (docs/payload-encryption.md)")

	d := keygate.NewKeyAuthConfig()
	fs.BoolVar(&f.keyAuth, "key-auth", false, "require an API key (Kong's key-auth, with defaults for the settings not given)")
	fs.StringSliceVar(&f.ka.KeyNames, "key-names", d.KeyNames, "header and query names to read the key from")
	fs.BoolVar(&f.ka.KeyInHeader, "key-in-header", d.KeyInHeader, "read the key from a header")
	fs.BoolVar(&f.ka.KeyInQuery, "key-in-query", d.KeyInQuery, "read the key from a query parameter")
	fs.BoolVar(&f.ka.KeyInBearer, "key-in-bearer", d.KeyInBearer, "read the key from Authorization: Bearer")
	fs.BoolVar(&f.ka.HideCredentials, "hide-credentials", false, "remove the key before proxying")
	fs.StringVar(&f.ka.Anonymous, "anonymous", "", "consumer that requests without a key proceed as")
	h := keygate.NewHMACAuthConfig()
	fs.BoolVar(&f.hmac, "hmac-auth", false, "require signed requests (Kong's hmac-auth or RFC 9421, with defaults for the settings not given)")
	fs.IntVar(&f.ha.ClockSkew, "hmac-clock-skew", h.ClockSkew, "seconds the request's date may be off")
	fs.StringSliceVar(&f.ha.EnforceHeaders, "hmac-enforce-headers", nil, "headers every signature must cover")
	fs.StringSliceVar(&f.ha.Algorithms, "hmac-algorithms", h.Algorithms, "accepted algorithms")
	fs.BoolVar(&f.ha.ValidateRequestBody, "hmac-validate-body", false, "require a body digest that matches the body")
	fs.BoolVar(&f.ha.HideCredentials, "hmac-hide-credentials", false, "remove the signature headers before proxying")
	fs.StringVar(&f.ha.Anonymous, "hmac-anonymous", "", "consumer that unsigned requests proceed as")
	fs.StringVar(&f.ha.Realm, "hmac-realm", "", "realm in WWW-Authenticate")
	fs.BoolVar(&f.ha.ReplayProtection, "hmac-replay-protection", h.ReplayProtection, "refuse a signature seen before")
	fs.IntVar(&f.ha.MaxBodySize, "hmac-max-body-size", h.MaxBodySize, "largest body read to check its digest, in bytes")
	fs.StringSliceVar(&f.acl.Allow, "acl-allow", nil, "admit only consumers in one of these groups (needs key or hmac auth)")
	fs.StringSliceVar(&f.acl.Deny, "acl-deny", nil, "refuse consumers in any of these groups (needs key or hmac auth)")
	fs.BoolVar(&f.acl.HideGroupsHeader, "hide-groups-header", false, "don't send the consumer's groups upstream")
	if update {
		fs.BoolVar(&f.noACL, "no-acl", false, "remove the route's ACL")
	}
	f.oauth2 = addOAuth2Flags(fs)
	return f
}

func anyChanged(fs *pflag.FlagSet, names []string) bool {
	for _, n := range names {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}

// keyAuthFrom applies the key-auth flags given to cur: key_auth is replaced
// as a whole by the API, so settings not given are kept from cur.
func (f *routeFlags) keyAuthFrom(fs *pflag.FlagSet, cur *keygate.KeyAuthConfig) *keygate.KeyAuthConfig {
	if fs.Changed("key-auth") && !f.keyAuth {
		return nil
	}
	ka := *keygate.NewKeyAuthConfig()
	if cur != nil {
		ka = *cur
	}
	set := map[string]func(){
		"key-names":        func() { ka.KeyNames = f.ka.KeyNames },
		"key-in-header":    func() { ka.KeyInHeader = f.ka.KeyInHeader },
		"key-in-query":     func() { ka.KeyInQuery = f.ka.KeyInQuery },
		"key-in-bearer":    func() { ka.KeyInBearer = f.ka.KeyInBearer },
		"hide-credentials": func() { ka.HideCredentials = f.ka.HideCredentials },
		"anonymous":        func() { ka.Anonymous = f.ka.Anonymous },
	}
	for name, apply := range set {
		if fs.Changed(name) {
			apply()
		}
	}
	return &ka
}

// hmacFrom applies the hmac-auth flags given to cur, as keyAuthFrom does.
func (f *routeFlags) hmacFrom(fs *pflag.FlagSet, cur *keygate.HMACAuthConfig) *keygate.HMACAuthConfig {
	if fs.Changed("hmac-auth") && !f.hmac {
		return nil
	}
	h := *keygate.NewHMACAuthConfig()
	if cur != nil {
		h = *cur
	}
	set := map[string]func(){
		"hmac-clock-skew":        func() { h.ClockSkew = f.ha.ClockSkew },
		"hmac-enforce-headers":   func() { h.EnforceHeaders = nonNil(f.ha.EnforceHeaders) },
		"hmac-algorithms":        func() { h.Algorithms = f.ha.Algorithms },
		"hmac-validate-body":     func() { h.ValidateRequestBody = f.ha.ValidateRequestBody },
		"hmac-hide-credentials":  func() { h.HideCredentials = f.ha.HideCredentials },
		"hmac-anonymous":         func() { h.Anonymous = f.ha.Anonymous },
		"hmac-realm":             func() { h.Realm = f.ha.Realm },
		"hmac-replay-protection": func() { h.ReplayProtection = f.ha.ReplayProtection },
		"hmac-max-body-size":     func() { h.MaxBodySize = f.ha.MaxBodySize },
	}
	for name, apply := range set {
		if fs.Changed(name) {
			apply()
		}
	}
	return &h
}

// aclFrom applies the ACL flags given to cur, as keyAuthFrom does.
func (f *routeFlags) aclFrom(fs *pflag.FlagSet, cur *keygate.ACLConfig) *keygate.ACLConfig {
	if f.noACL {
		return nil
	}
	var acl keygate.ACLConfig
	if cur != nil {
		acl = *cur
	}
	// Allow and deny exclude each other: giving one replaces the other.
	if fs.Changed("acl-allow") {
		acl.Allow, acl.Deny = f.acl.Allow, nil
	}
	if fs.Changed("acl-deny") {
		acl.Allow, acl.Deny = nil, f.acl.Deny
	}
	if fs.Changed("hide-groups-header") {
		acl.HideGroupsHeader = f.acl.HideGroupsHeader
	}
	return &acl
}

func (a *adminCLI) routesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "routes", Aliases: []string{"route"}, Short: "Manage routes (which requests go to which service, with which credentials)"}

	var cf *routeFlags
	create := &cobra.Command{
		Use:   "create --name NAME --service SERVICE --path /prefix [flags]",
		Short: "Create a route",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			r, fs := cf.route, cmd.Flags()
			r.Service = refOf(cf.service)
			r.Hosts, r.Paths, r.Methods, r.Tags = nonNil(r.Hosts), nonNil(r.Paths), nonNil(r.Methods), nonNil(r.Tags)
			if anyChanged(fs, keyAuthFlags) {
				r.KeyAuth = cf.keyAuthFrom(fs, nil)
			}
			if anyChanged(fs, hmacFlags) {
				r.HMACAuth = cf.hmacFrom(fs, nil)
			}
			if anyChanged(fs, aclFlags) {
				r.ACL = cf.aclFrom(fs, nil)
			}
			if anyChanged(fs, oauth2Flags) {
				var err error
				if r.OAuth2, err = cf.oauth2.from(fs, nil); err != nil {
					return err
				}
			}
			out, err := c.CreateRoute(cmd.Context(), r)
			if err != nil {
				return err
			}
			return a.show(cmd, out, routeHeader, routeRow(out))
		}),
	}
	cf = newRouteFlags(create.Flags(), false)

	var page keygate.Page
	var service string
	list := &cobra.Command{
		Use:   "list [--service SERVICE]",
		Short: "List routes, all or those of one service",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			var items []*keygate.Route
			var next string
			var err error
			if service != "" {
				items, next, err = c.ServiceRoutes(cmd.Context(), service, page)
			} else {
				items, next, err = c.Routes(cmd.Context(), page)
			}
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, routeHeader, routeRow)
		}),
	}
	pageFlags(list, &page)
	list.Flags().StringVar(&service, "service", "", "only the routes of this service (id or name)")

	get := &cobra.Command{
		Use:   "get ROUTE",
		Short: "Show a route (by id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			out, err := c.Route(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, out, routeHeader, routeRow(out))
		}),
	}

	var uf *routeFlags
	update := &cobra.Command{
		Use:   "update ROUTE [flags]",
		Short: "Change the given fields of a route",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			fs := cmd.Flags()
			patch := patchFrom(fs, routeFields)
			if fs.Changed("service") {
				patch["service"] = refOf(uf.service)
			}
			if anyChanged(fs, keyAuthFlags) || anyChanged(fs, hmacFlags) || anyChanged(fs, aclFlags) || anyChanged(fs, oauth2Flags) {
				// Nested settings are replaced as a whole: start from the current ones.
				cur, err := c.Route(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if anyChanged(fs, keyAuthFlags) {
					patch["key_auth"] = uf.keyAuthFrom(fs, cur.KeyAuth)
				}
				if anyChanged(fs, hmacFlags) {
					patch["hmac_auth"] = uf.hmacFrom(fs, cur.HMACAuth)
				}
				if anyChanged(fs, aclFlags) {
					patch["acl"] = uf.aclFrom(fs, cur.ACL)
				}
				if anyChanged(fs, oauth2Flags) {
					if patch["oauth2"], err = uf.oauth2.from(fs, cur.OAuth2); err != nil {
						return err
					}
				}
			}
			out, err := c.UpdateRoute(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			return a.show(cmd, out, routeHeader, routeRow(out))
		}),
	}
	uf = newRouteFlags(update.Flags(), true)

	del := &cobra.Command{
		Use:   "delete ROUTE",
		Short: "Delete a route",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteRoute(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "route", args[0])
			return nil
		}),
	}

	cmd.AddCommand(create, list, get, update, del)
	return cmd
}
