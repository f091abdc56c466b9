package keygate

import (
	"context"
	"path"
	"strings"
)

// Route matches incoming requests and sends them to a service. A request
// matches when its host, path and method each match one of the route's values
// (an empty list matches anything). The route also says which credentials it
// takes: a route without key_auth and hmac_auth is open. Both are nil when
// absent; decoding fills in the defaults of the settings a document leaves
// out (see KeyAuthConfig.UnmarshalJSON and HMACAuthConfig.UnmarshalJSON).
type Route struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Service      Ref             `json:"service"`
	Hosts        []string        `json:"hosts"`
	Paths        []string        `json:"paths"`
	Methods      []string        `json:"methods"`
	StripPath    bool            `json:"strip_path"`
	PreserveHost bool            `json:"preserve_host"`
	KeyAuth      *KeyAuthConfig  `json:"key_auth"`
	HMACAuth     *HMACAuthConfig `json:"hmac_auth"`
	ACL          *ACLConfig      `json:"acl"`
	Tags         []string        `json:"tags"`
	// PayloadEncryption is off (or empty), static or dynamic: whether
	// bodies on the route travel sealed, with which key (see
	// docs/payload-encryption.md). Off reads back as empty.
	PayloadEncryption string `json:"payload_encryption,omitempty"`
	Timestamps

	// OAuth2 takes JWT access tokens (see OAuth2AuthConfig); nil: not accepted.
	OAuth2 *OAuth2AuthConfig `json:"oauth2"`

	// Permissions are permission queries (see package permquery) an API
	// key must satisfy, by HTTP method; "*" is for the methods not listed.
	// A key that does not is refused (403, INSUFFICIENT_PERMISSIONS). Nil:
	// none. Stores check the queries' syntax when they save.
	Permissions map[string]string `json:"permissions,omitempty"`
}

// PermissionQuery returns the permission query for method: its own, else
// "*"'s, else "".
func (r *Route) PermissionQuery(method string) string {
	if q, ok := r.Permissions[method]; ok {
		return q
	}
	return r.Permissions["*"]
}

func (r *Route) validatePermissions() error {
	if len(r.Permissions) > maxListLen {
		return Errorf(EINVALID, "permissions: at most %d methods", maxListLen)
	}
	for m, q := range r.Permissions {
		if m != "*" {
			if problem := validateMethod(m); problem != "" {
				return Errorf(EINVALID, "permissions: method %q: %s, or *", m, problem)
			}
		}
		if strings.TrimSpace(q) == "" {
			return Errorf(EINVALID, "permissions.%s: empty query", m)
		}
	}
	if len(r.Permissions) > 0 && r.KeyAuth == nil {
		return Errorf(EINVALID, "permissions: needs key_auth on the route (permissions are held by API keys)")
	}
	return nil
}

// NewRoute returns a route with Kong's defaults, ready to be decoded into.
func NewRoute() *Route {
	return &Route{StripPath: true, Hosts: []string{}, Paths: []string{}, Methods: []string{}, Tags: []string{}}
}

// KeyAuthConfig is a route's API key authentication, with Kong's key-auth
// settings. Keys are looked for under each name in turn: header, then query.
type KeyAuthConfig struct {
	KeyNames    []string `json:"key_names"`
	KeyInHeader bool     `json:"key_in_header"`
	KeyInQuery  bool     `json:"key_in_query"`
	// KeyInBearer also accepts "Authorization: Bearer <key>" (not in Kong).
	KeyInBearer bool `json:"key_in_bearer"`
	// HideCredentials removes the key from the request before it is proxied.
	HideCredentials bool `json:"hide_credentials"`
	// Anonymous is the consumer (id or username) that requests without a key
	// proceed as; empty means such requests are refused.
	Anonymous string `json:"anonymous,omitempty"`
	// ForwardMeta names fields of the key's meta (top-level) that are sent
	// to the upstream as X-Key-Meta-<Field> headers; any such header the
	// caller sent is removed, as the identity headers are.
	ForwardMeta []string `json:"forward_meta,omitempty"`
}

// DefaultKeyName is the header and query parameter key-auth reads by default.
const DefaultKeyName = "apikey"

// NewKeyAuthConfig returns key-auth with Kong's defaults.
func NewKeyAuthConfig() *KeyAuthConfig {
	return &KeyAuthConfig{KeyNames: []string{DefaultKeyName}, KeyInHeader: true, KeyInQuery: true, KeyInBearer: true}
}

// UnmarshalJSON fills in the defaults for settings the document leaves out.
func (c *KeyAuthConfig) UnmarshalJSON(b []byte) error {
	type plain KeyAuthConfig
	p := plain(*NewKeyAuthConfig())
	if err := decodeStrict(b, &p); err != nil {
		return err
	}
	*c = KeyAuthConfig(p)
	return nil
}

// ACLConfig admits consumers by group, as Kong's acl plugin: with Allow a
// consumer needs one of the groups, with Deny it must have none of them.
type ACLConfig struct {
	Allow            []string `json:"allow,omitempty"`
	Deny             []string `json:"deny,omitempty"`
	HideGroupsHeader bool     `json:"hide_groups_header"`
}

// Allows reports whether a consumer in groups may use the route.
func (a *ACLConfig) Allows(groups []string) bool {
	if a == nil {
		return true
	}
	if len(a.Allow) > 0 {
		return intersects(a.Allow, groups)
	}
	return !intersects(a.Deny, groups)
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// Normalize makes nil lists empty, so that they are written as [] and never
// as null. Stores call it before they save. KeyAuth and HMACAuth stay nil
// when the route does not take that credential.
func (r *Route) Normalize() {
	r.Hosts, r.Paths, r.Methods, r.Tags = orEmpty(r.Hosts), orEmpty(r.Paths), orEmpty(r.Methods), orEmpty(r.Tags)
	if c := r.HMACAuth; c != nil {
		c.EnforceHeaders, c.Algorithms = orEmpty(c.EnforceHeaders), orEmpty(c.Algorithms)
	}
	r.OAuth2.normalize()
	if len(r.Permissions) == 0 {
		r.Permissions = nil
	}
	if r.PayloadEncryption == PayloadEncryptionOff {
		r.PayloadEncryption = "" // off is the default, and reads back as empty
	}
}

// Validate reports the first invalid field.
func (r *Route) Validate() error {
	if err := validateName("name", r.Name, true); err != nil {
		return err
	}
	if r.Service.IsZero() {
		return Errorf(EINVALID, "service: required")
	}
	if len(r.Hosts)+len(r.Paths)+len(r.Methods) == 0 {
		return Errorf(EINVALID, "route: at least one of hosts, paths or methods is required")
	}
	if err := validateList("hosts", r.Hosts, validateHost); err != nil {
		return err
	}
	if err := validateList("paths", r.Paths, validatePath); err != nil {
		return err
	}
	if err := validateList("methods", r.Methods, validateMethod); err != nil {
		return err
	}
	if err := r.KeyAuth.validate(); err != nil {
		return err
	}
	if err := r.HMACAuth.validate(); err != nil {
		return err
	}
	if err := r.OAuth2.validate(); err != nil {
		return err
	}
	if err := r.ACL.validate(); err != nil {
		return err
	}
	if r.ACL != nil && r.KeyAuth == nil && r.HMACAuth == nil && r.OAuth2 == nil {
		return Errorf(EINVALID, "acl: needs an authentication method on the route (key_auth, hmac_auth or oauth2)")
	}
	if err := r.validatePayloadEncryption(); err != nil {
		return err
	}
	if err := r.validatePermissions(); err != nil {
		return err
	}
	return validateTags(r.Tags)
}

func (c *KeyAuthConfig) validate() error {
	if c == nil {
		return nil
	}
	if len(c.KeyNames) == 0 {
		return Errorf(EINVALID, "key_auth.key_names: at least one name is required")
	}
	if err := validateList("key_auth.key_names", c.KeyNames, validateKeyName); err != nil {
		return err
	}
	if !c.KeyInHeader && !c.KeyInQuery && !c.KeyInBearer {
		return Errorf(EINVALID, "key_auth: one of key_in_header, key_in_query or key_in_bearer must be true")
	}
	if len(c.Anonymous) > maxNameLen {
		return Errorf(EINVALID, "key_auth.anonymous: longer than %d characters", maxNameLen)
	}
	if len(c.ForwardMeta) > 16 {
		return Errorf(EINVALID, "key_auth.forward_meta: at most 16 fields")
	}
	for i, f := range c.ForwardMeta {
		if f == "" || len(f) > 64 || strings.IndexFunc(f, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}) >= 0 {
			return Errorf(EINVALID, "key_auth.forward_meta[%d]: a field name of letters, digits and -, at most 64", i)
		}
	}
	return checkText("key_auth.anonymous", c.Anonymous)
}

func (a *ACLConfig) validate() error {
	if a == nil {
		return nil
	}
	if (len(a.Allow) == 0) == (len(a.Deny) == 0) {
		return Errorf(EINVALID, "acl: exactly one of allow or deny must be given")
	}
	if err := validateList("acl.allow", a.Allow, validateGroup); err != nil {
		return err
	}
	return validateList("acl.deny", a.Deny, validateGroup)
}

const maxListLen = 64

func validateList(field string, values []string, valid func(string) string) error {
	if len(values) > maxListLen {
		return Errorf(EINVALID, "%s: at most %d entries", field, maxListLen)
	}
	for i, v := range values {
		if problem := valid(v); problem != "" {
			return Errorf(EINVALID, "%s[%d]: %s", field, i, problem)
		}
	}
	return nil
}

// validateHost accepts a lower-case host name with an optional port, and a
// leading "*." wildcard.
func validateHost(h string) string {
	name := strings.TrimPrefix(h, "*.")
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		port := name[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "port must be a number"
		}
		name = name[:i]
	}
	if name == "" || len(name) > 253 {
		return "must be a host name"
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return "must be a lower-case host name, optionally with a leading \"*.\" and a port"
		}
	}
	return ""
}

// validatePath accepts a route path only in the form the proxy matches
// request paths in (cleaned and decoded): a path in any other form, such as
// /a/../b or /a%2Fb, would silently never match.
func validatePath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must start with /"
	case len(p) > 1024:
		return "longer than 1024 characters"
	case strings.ContainsAny(p, "?# ") || hasControl(p):
		return "must not contain spaces, control characters, ? or #"
	case strings.ContainsAny(p, "%;\\"):
		return "must not contain %, ; or \\ (give the path decoded)"
	case !isCleanPath(p):
		return "must be a clean path, without empty, \".\" or \"..\" segments"
	}
	return ""
}

// isCleanPath reports whether path.Clean leaves p as it is, allowing one
// trailing slash.
func isCleanPath(p string) bool {
	c := path.Clean(p)
	return c == p || c != "/" && c+"/" == p
}

func validateMethod(m string) string {
	if m == "" || len(m) > 16 || strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "must be an upper-case HTTP method such as GET"
	}
	return ""
}

// validateKeyName accepts names usable both as a header and a query parameter.
func validateKeyName(n string) string {
	if n == "" || len(n) > 64 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return "must be 1-64 letters, digits, '-' or '_'"
	}
	return ""
}

func validateGroup(g string) string { return validateLabel(g) }

// RouteFilter narrows ListRoutes; zero fields match everything.
type RouteFilter struct {
	ServiceID string
}

// RouteStore persists routes. Every method is one transaction.
type RouteStore interface {
	// CreateRoute assigns ID and timestamps and stores r. r.Service may name the
	// service by id or name; the store resolves it (ENOTFOUND when there is no
	// such service) and leaves r.Service holding only the id. A taken name is ECONFLICT.
	CreateRoute(ctx context.Context, r *Route) error
	FindRoute(ctx context.Context, ref string) (*Route, error)
	ListRoutes(ctx context.Context, f RouteFilter, p Page) (routes []*Route, next string, err error)
	// UpdateRoute applies update atomically and resolves r.Service as CreateRoute does.
	UpdateRoute(ctx context.Context, ref string, update func(*Route) error) (*Route, error)
	DeleteRoute(ctx context.Context, ref string) error
}
