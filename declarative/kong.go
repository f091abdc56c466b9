package declarative

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// KongImport is what a Kong declarative file (kong.yml) becomes in keygate:
// a document, the credentials to import with their secrets, and a note for
// everything that could not be mapped.
type KongImport struct {
	Doc  *Document
	Keys []KongKey
	HMAC []KongHMAC
	// Notes say, one line each with the file's line and Kong's path, what
	// was left out or changed. They never hold a secret.
	Notes []string
}

// KongKey is a Kong key-auth credential: Key is the secret, imported as it
// is and stored hashed.
type KongKey struct {
	Consumer string // username (the document's name) of the consumer
	Key      string
	Tags     []string
	TTL      *int
	Path     string // where the file declares it, for messages
}

// KongHMAC is a Kong hmac-auth credential, imported with its secret.
type KongHMAC struct {
	Consumer string
	Username string
	Secret   string
	Tags     []string
	Path     string
}

// Kong's declarative formats: 3.0 is current; Kong reads the older ones
// the same way for the entities mapped here.
var kongFormats = []string{"1.1", "2.1", "3.0"}

// ParseKong reads a Kong declarative file (YAML or JSON). Only a file that
// is not one (unreadable, no _format_version) is an error; what cannot be
// mapped is noted and left out.
func ParseKong(file string, data []byte) (*KongImport, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Msg: "not a Kong declarative file: a mapping with _format_version is expected"}
	}
	k := &kong{file: file, imp: &KongImport{Doc: &Document{Sections: map[Kind]bool{}, file: file, pos: map[entity]position{}}},
		services: map[string]string{}, routes: map[string]string{}, consumers: map[string]string{},
		upstreams: map[string]kobj{}, serviceRoutes: map[string][]*keygate.Route{}}
	top := kobj{root.Content[0], ""}
	format, ok := top.get("_format_version")
	if !ok {
		return nil, &Error{File: file, Line: top.n.Line, Msg: "not a Kong declarative file: _format_version is missing"}
	}
	if !slices.Contains(kongFormats, format.n.Value) {
		return nil, &Error{File: file, Line: format.n.Line, Msg: fmt.Sprintf("_format_version: %q is not one of %s", format.n.Value, strings.Join(kongFormats, ", "))}
	}
	k.read(top)
	return k.imp, nil
}

// kong is the state of one translation.
type kong struct {
	file string
	imp  *KongImport
	// Kong refers by id or by name; these map both to keygate's names.
	services, routes, consumers map[string]string
	upstreams                   map[string]kobj
	serviceRoutes               map[string][]*keygate.Route // by service name
	plugins                     []kongPlugin
	notes                       []kongNote
}

// kongPlugin is a plugin and what it applies to ("" for any).
type kongPlugin struct {
	obj                      kobj
	name                     string
	service, route, consumer string // keygate names
}

// note records that something at o was left out or changed; a note made
// twice (a service's plugin, read for each of its routes) is kept once.
func (k *kong) note(o kobj, format string, args ...any) {
	path := o.path
	if path == "" {
		path = "(top)"
	}
	k.noteAt(o.n.Line, path+": "+fmt.Sprintf(format, args...))
}

func (k *kong) noteAt(line int, text string) {
	n := kongNote{line, fmt.Sprintf("%s:%d: %s", k.file, line, text)}
	if !slices.Contains(k.notes, n) {
		k.notes = append(k.notes, n)
	}
}

type kongNote struct {
	line int
	text string
}

func (k *kong) read(top kobj) {
	known := []string{"_format_version", "_transform", "_comment", "_ignore", "services", "routes", "consumers", "plugins",
		"upstreams", "keyauth_credentials", "hmacauth_credentials", "acls"}
	for _, key := range top.keys() {
		if !slices.Contains(known, key) {
			v, _ := top.get(key)
			k.note(v, "not mapped: keygate has no %s", key)
		}
	}
	for _, u := range top.list("upstreams") {
		k.upstreams[u.str("name")] = u
	}
	// Names first, so that references by id resolve whatever the order.
	for i, s := range top.list("services") {
		k.services[s.str("id")], k.services[s.str("name")] = kongName(s.str("name"), "service", i), kongName(s.str("name"), "service", i)
	}
	for i, c := range top.list("consumers") {
		name := consumerName(c.str("username"), c.str("custom_id"), i)
		if name == "" {
			name = "custom_id:" + c.str("custom_id") // as nameOf calls it
		}
		k.consumers[c.str("id")], k.consumers[c.str("username")] = name, name
	}
	delete(k.services, "")
	delete(k.consumers, "")
	for i, s := range top.list("services") {
		k.service(s, i)
	}
	for i, r := range top.list("routes") {
		k.route(r, fmt.Sprintf("route-%d", i+1), "")
	}
	for i, c := range top.list("consumers") {
		k.consumer(c, i)
	}
	for _, p := range top.list("plugins") {
		k.plugin(p, "", "", "")
	}
	for _, c := range top.list("keyauth_credentials") {
		k.keyCredential(c, k.ref(c, "consumer", k.consumers))
	}
	for _, c := range top.list("hmacauth_credentials") {
		k.hmacCredential(c, k.ref(c, "consumer", k.consumers))
	}
	for _, a := range top.list("acls") {
		k.acl(a, k.ref(a, "consumer", k.consumers))
	}
	k.applyPlugins()
	k.validate()
	slices.SortStableFunc(k.notes, func(a, b kongNote) int { return a.line - b.line })
	for _, n := range k.notes {
		k.imp.Notes = append(k.imp.Notes, n.text)
	}
}

// kongName is an entity's name, or one made up for an unnamed entity
// (keygate needs names: documents refer by name).
func kongName(name, kind string, i int) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("%s-%d", kind, i+1)
}

// consumerName turns a Kong username into a keygate one: keygate's names
// are letters, digits and . - _ ~, so others (an e-mail's @) become '_'.
func consumerName(username, customID string, i int) string {
	if username == "" {
		if customID == "" {
			return fmt.Sprintf("consumer-%d", i+1)
		}
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_~", r)) {
			return r
		}
		return '_'
	}, username)
}

// ref resolves a reference field (a name, an id, or {id: ...} / {name: ...})
// through names; "" when absent or unknown (noted).
func (k *kong) ref(o kobj, field string, names map[string]string) string {
	v, ok := o.get(field)
	if !ok || v.n.Tag == "!!null" {
		return ""
	}
	key := v.n.Value
	if v.n.Kind == yaml.MappingNode {
		key = v.str("id")
		if key == "" {
			key = v.str("name")
		}
		if key == "" {
			key = v.str("username")
		}
	}
	if n, ok := names[key]; ok {
		return n
	}
	k.note(v, "refers to a %s not in the file; left out", field)
	return "-"
}

// Kong's defaults of fields keygate does not have: a field at its default
// needs no note.
var kongDefaults = map[string]string{
	"https_redirect_status_code": "426", "regex_priority": "0", "path_handling": "v0", "request_buffering": "true",
	"response_buffering": "true", "enabled": "true", "tls_verify": "", "tls_verify_depth": "", "client_certificate": "",
	"ca_certificates": "", "headers": "", "snis": "", "sources": "", "destinations": "",
	"ttl": "", "tags": "",
}

// kongIgnored are fields that mean nothing once in keygate: Kong's ids and
// times, and its comments.
func kongIgnored(key string) bool {
	return key == "id" || key == "created_at" || key == "updated_at" || strings.HasPrefix(key, "_")
}

// unmapped notes the fields of o not in mapped whose value is not Kong's default.
func (k *kong) unmapped(o kobj, mapped ...string) {
	for _, key := range o.keys() {
		if slices.Contains(mapped, key) || kongIgnored(key) {
			continue
		}
		v, _ := o.get(key)
		def, known := kongDefaults[key]
		if known && (v.n.Tag == "!!null" || v.n.Value == def && v.n.Kind == yaml.ScalarNode) {
			continue
		}
		if known && def == "" && v.n.Kind == yaml.SequenceNode && len(v.n.Content) == 0 {
			continue
		}
		k.note(v, "not mapped: keygate has no %s", key)
	}
}

func (k *kong) service(s kobj, i int) {
	name := kongName(s.str("name"), "service", i)
	if s.str("name") == "" {
		k.note(s, "unnamed service named %s", name)
	}
	svc := keygate.NewService()
	svc.Name = name
	svc.Tags = s.strs("tags")
	for field, dst := range map[string]*int{"retries": &svc.Retries, "connect_timeout": &svc.ConnectTimeout,
		"read_timeout": &svc.ReadTimeout, "write_timeout": &svc.WriteTimeout} {
		if n, ok := s.int(field); ok {
			*dst = n
		}
	}
	if !k.upstream(s, svc) {
		return
	}
	if v, ok := s.get("enabled"); ok && v.n.Value == "false" {
		k.note(v, "service is disabled in Kong; keygate has no disabled services: imported, but its routes are left out")
		k.add(KindService, svc, s)
		return
	}
	k.unmapped(s, "name", "url", "protocol", "host", "port", "path", "retries", "connect_timeout", "read_timeout",
		"write_timeout", "tags", "routes", "plugins")
	k.add(KindService, svc, s)
	for j, r := range s.list("routes") {
		k.route(r, fmt.Sprintf("%s-route-%d", name, j+1), name)
	}
	for _, p := range s.list("plugins") {
		k.plugin(p, name, "", "")
	}
}

// upstream sets where svc sends traffic: its url, or the targets of the
// Kong upstream its host names. It reports false for a service that cannot
// be imported (noted).
func (k *kong) upstream(s kobj, svc *keygate.Service) bool {
	scheme, host, port, path := "http", s.str("host"), s.str("port"), s.str("path")
	if raw := s.str("url"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			k.note(s, "url: not a URL; service left out")
			return false
		}
		scheme, host, port, path = u.Scheme, u.Hostname(), u.Port(), u.Path
	} else if p := s.str("protocol"); p != "" {
		scheme = p
	}
	if scheme != "http" && scheme != "https" {
		k.note(s, "protocol %s: keygate proxies http and https only; service left out", scheme)
		return false
	}
	if u, ok := k.upstreams[host]; ok {
		for _, t := range u.list("targets") {
			w := 100
			if n, ok := t.int("weight"); ok {
				w = n
			}
			if w > keygate.MaxWeight {
				k.note(t, "weight %d above keygate's %d: set to %d", w, keygate.MaxWeight, keygate.MaxWeight)
				w = keygate.MaxWeight
			}
			svc.Targets = append(svc.Targets, keygate.UpstreamTarget{URL: scheme + "://" + t.str("target") + path, Weight: w})
		}
		if hc, ok := u.get("healthchecks"); ok {
			k.note(hc, "not mapped: keygate's health checks are set per service (healthcheck)")
		}
		if len(svc.Targets) > 0 {
			return true
		}
	}
	hostport := host
	if port != "" && !(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		hostport = net.JoinHostPort(host, port)
	}
	svc.URL = scheme + "://" + hostport + path
	return true
}

func (k *kong) route(r kobj, fallback, service string) {
	name := r.str("name")
	if name == "" {
		name = fallback
		k.note(r, "unnamed route named %s", name)
	}
	if service == "" {
		service = k.ref(r, "service", k.services)
		if service == "" {
			k.note(r, "route without a service: left out (keygate routes send traffic to a service)")
			return
		}
		if service == "-" {
			return
		}
	}
	protocols := r.strs("protocols")
	if len(protocols) > 0 && !slices.Contains(protocols, "http") && !slices.Contains(protocols, "https") {
		k.note(r, "protocols %s: keygate proxies http and https only; route left out", strings.Join(protocols, ", "))
		return
	}
	for _, p := range protocols {
		if p != "http" && p != "https" {
			k.note(r, "protocols: %s not mapped (keygate proxies http and https)", p)
		}
	}
	k.routes[r.str("id")], k.routes[r.str("name")] = name, name
	delete(k.routes, "")
	rt := keygate.NewRoute()
	rt.Name, rt.Service = name, keygate.Ref{Name: service}
	for _, h := range r.strs("hosts") {
		rt.Hosts = append(rt.Hosts, strings.ToLower(h))
	}
	rt.Methods = r.strs("methods")
	for _, p := range r.strs("paths") {
		if strings.HasPrefix(p, "~") {
			k.note(r, "paths: regular expression %q not mapped (keygate matches path prefixes)", p)
			continue
		}
		rt.Paths = append(rt.Paths, p)
	}
	if v, ok := r.get("strip_path"); ok && v.n.Tag != "!!null" {
		rt.StripPath = v.n.Value == "true"
	}
	if v, ok := r.get("preserve_host"); ok {
		rt.PreserveHost = v.n.Value == "true"
	}
	rt.Tags = r.strs("tags")
	k.unmapped(r, "name", "service", "hosts", "paths", "methods", "strip_path", "preserve_host", "tags", "protocols", "plugins")
	k.add(KindRoute, rt, r)
	k.serviceRoutes[service] = append(k.serviceRoutes[service], rt)
	for _, p := range r.list("plugins") {
		k.plugin(p, "", name, "")
	}
}

func (k *kong) consumer(c kobj, i int) {
	co := keygate.NewConsumer()
	co.Username = consumerName(c.str("username"), c.str("custom_id"), i)
	co.CustomID = c.str("custom_id")
	if u := c.str("username"); u != "" && u != co.Username {
		k.note(c, "username %q is not a keygate name: imported as %q", u, co.Username)
		if co.CustomID == "" {
			co.CustomID = u
			k.note(c, "custom_id set to Kong's username")
		}
	}
	co.Tags = c.strs("tags")
	k.unmapped(c, "username", "custom_id", "tags", "keyauth_credentials", "hmacauth_credentials", "acls", "plugins")
	k.add(KindConsumer, co, c)
	name := nameOf(co)
	for _, cred := range c.list("keyauth_credentials") {
		k.keyCredential(cred, name)
	}
	for _, cred := range c.list("hmacauth_credentials") {
		k.hmacCredential(cred, name)
	}
	for _, a := range c.list("acls") {
		k.acl(a, name)
	}
	for _, p := range c.list("plugins") {
		k.plugin(p, "", "", name)
	}
}

func (k *kong) keyCredential(c kobj, consumer string) {
	if consumer == "-" {
		return // noted by ref
	}
	if consumer == "" {
		k.note(c, "key-auth credential without a consumer: left out")
		return
	}
	key := c.str("key")
	if key == "" {
		k.note(c, "key-auth credential without a key (Kong would generate one): left out; issue a keygate key instead")
		return
	}
	if !apikey.IsImportable(key) {
		// The note never shows the key: it is a secret.
		k.note(c, "key-auth credential's key is longer than 256 characters or has spaces or non-ASCII characters, which keygate cannot import: left out; issue a keygate key instead")
		return
	}
	kk := KongKey{Consumer: consumer, Key: key, Tags: c.strs("tags"), Path: c.path}
	if n, ok := c.int("ttl"); ok && n > 0 {
		kk.TTL = &n
	}
	k.unmapped(c, "key", "consumer", "tags", "ttl")
	k.imp.Keys = append(k.imp.Keys, kk)
}

func (k *kong) hmacCredential(c kobj, consumer string) {
	if consumer == "-" {
		return
	}
	if consumer == "" {
		k.note(c, "hmac-auth credential without a consumer: left out")
		return
	}
	if c.str("secret") == "" {
		k.note(c, "hmac-auth credential without a secret (Kong would generate one): left out; create a keygate credential instead")
		return
	}
	k.unmapped(c, "username", "secret", "consumer", "tags")
	k.imp.HMAC = append(k.imp.HMAC, KongHMAC{Consumer: consumer, Username: c.str("username"), Secret: c.str("secret"), Tags: c.strs("tags"), Path: c.path})
}

func (k *kong) acl(a kobj, consumer string) {
	if consumer == "-" {
		return
	}
	if consumer == "" {
		k.note(a, "acl without a consumer: left out")
		return
	}
	for _, co := range k.imp.Doc.Consumers {
		if nameOf(co) == consumer && !slices.Contains(co.Groups, a.str("group")) {
			co.Groups = append(co.Groups, a.str("group"))
		}
	}
	k.unmapped(a, "group", "consumer", "tags")
}

func (k *kong) add(kind Kind, e entity, o kobj) {
	k.imp.Doc.Sections[kind] = true
	k.imp.Doc.add(kind, e, position{o.n.Line, o.path})
}

// plugin records a plugin with its scope; nested plugins get it from where
// they are, top-level ones from their service, route and consumer fields.
func (k *kong) plugin(p kobj, service, route, consumer string) {
	kp := kongPlugin{obj: p, name: p.str("name"), service: service, route: route, consumer: consumer}
	if s := k.ref(p, "service", k.services); s != "" {
		kp.service = s
	}
	if r := k.ref(p, "route", k.routes); r != "" {
		kp.route = r
	}
	if c := k.ref(p, "consumer", k.consumers); c != "" {
		kp.consumer = c
	}
	if kp.service == "-" || kp.route == "-" || kp.consumer == "-" {
		return
	}
	if v, ok := p.get("enabled"); ok && v.n.Value == "false" {
		k.note(p, "%s: disabled in Kong: left out", kp.name)
		return
	}
	switch kp.name {
	case "key-auth", "hmac-auth", "acl":
		if kp.consumer != "" {
			k.note(p, "%s: a plugin for one consumer is not mapped (keygate sets authentication per route)", kp.name)
			return
		}
	case "rate-limiting":
		if kp.consumer != "" && (kp.service != "" || kp.route != "") {
			k.note(p, "rate-limiting for one consumer on one service or route is not mapped (a keygate plan is the consumer's everywhere)")
			return
		}
	default:
		k.note(p, "plugin %s not mapped", kp.name)
		return
	}
	k.plugins = append(k.plugins, kp)
}

// effective is the plugin named name that applies to route rt without a
// consumer, by Kong's precedence: route, then service, then global.
func (k *kong) effective(name string, rt *keygate.Route) *kongPlugin {
	var best *kongPlugin
	rank := -1
	for i := range k.plugins {
		p := &k.plugins[i]
		if p.name != name || p.consumer != "" {
			continue
		}
		r := -1
		switch {
		case p.route == rt.Name && (p.service == "" || p.service == rt.Service.Name):
			r = 2
		case p.route == "" && p.service == rt.Service.Name:
			r = 1
		case p.route == "" && p.service == "":
			r = 0
		}
		if r > rank {
			best, rank = p, r
		}
	}
	return best
}

func (k *kong) applyPlugins() {
	for _, rt := range k.imp.Doc.Routes {
		if p := k.effective("key-auth", rt); p != nil {
			rt.KeyAuth = k.keyAuth(p.obj)
		}
		if p := k.effective("hmac-auth", rt); p != nil {
			rt.HMACAuth = k.hmacAuth(p.obj)
		}
		if p := k.effective("acl", rt); p != nil {
			if rt.KeyAuth == nil && rt.HMACAuth == nil {
				k.note(p.obj, "acl on route %s, which takes no key-auth or hmac-auth: left out there", rt.Name)
			} else {
				rt.ACL = k.aclConfig(p.obj)
			}
		}
	}
	k.ratePlans()
}

func (k *kong) keyAuth(p kobj) *keygate.KeyAuthConfig {
	c := keygate.NewKeyAuthConfig()
	c.KeyInBearer = false // Kong's key-auth does not read Authorization: Bearer
	conf, _ := p.get("config")
	if names := conf.strs("key_names"); len(names) > 0 {
		c.KeyNames = names
	}
	conf.bool("key_in_header", &c.KeyInHeader)
	conf.bool("key_in_query", &c.KeyInQuery)
	conf.bool("hide_credentials", &c.HideCredentials)
	c.Anonymous = conf.str("anonymous")
	if v, ok := conf.get("key_in_body"); ok && v.n.Value == "true" {
		k.note(v, "not mapped: keygate does not read keys from the body")
	}
	if v, ok := conf.get("run_on_preflight"); ok && v.n.Value == "false" {
		k.note(v, "not mapped: keygate authenticates preflight requests too")
	}
	k.unmapped(conf, "key_names", "key_in_header", "key_in_query", "hide_credentials", "anonymous", "key_in_body", "run_on_preflight", "realm")
	return c
}

func (k *kong) hmacAuth(p kobj) *keygate.HMACAuthConfig {
	c := keygate.NewHMACAuthConfig()
	conf, _ := p.get("config")
	if n, ok := conf.int("clock_skew"); ok {
		c.ClockSkew = n
	}
	if v := conf.strs("enforce_headers"); v != nil {
		c.EnforceHeaders = v
	}
	if v := conf.strs("algorithms"); len(v) > 0 {
		c.Algorithms = v
	}
	conf.bool("validate_request_body", &c.ValidateRequestBody)
	conf.bool("hide_credentials", &c.HideCredentials)
	c.Anonymous, c.Realm = conf.str("anonymous"), conf.str("realm")
	k.unmapped(conf, "clock_skew", "enforce_headers", "algorithms", "validate_request_body", "hide_credentials", "anonymous", "realm")
	return c
}

func (k *kong) aclConfig(p kobj) *keygate.ACLConfig {
	conf, _ := p.get("config")
	c := &keygate.ACLConfig{Allow: conf.strs("allow"), Deny: conf.strs("deny")}
	conf.bool("hide_groups_header", &c.HideGroupsHeader)
	for _, f := range []string{"include_consumer_groups", "always_use_authenticated_groups"} {
		if v, ok := conf.get(f); ok && v.n.Value == "true" {
			k.note(v, "not mapped: keygate has no consumer groups besides a consumer's own groups")
		}
	}
	k.unmapped(conf, "allow", "deny", "hide_groups_header", "include_consumer_groups", "always_use_authenticated_groups")
	return c
}

// limits is a rate-limiting plugin's config as a keygate plan's limits.
func (k *kong) limits(p kobj, plan *keygate.Plan) {
	conf, _ := p.get("config")
	if n, ok := conf.int("second"); ok && n > 0 {
		plan.Rate, plan.Burst = float64(n), n
	}
	for field, dst := range map[string]*int64{"minute": &plan.Quotas.Minute, "hour": &plan.Quotas.Hour, "day": &plan.Quotas.Day, "month": &plan.Quotas.Month} {
		if n, ok := conf.int(field); ok && n > 0 {
			*dst = int64(n)
		}
	}
	switch by := conf.str("limit_by"); by {
	case "", "consumer":
		plan.LimitBy = keygate.LimitByConsumer // Kong's default
	case "credential":
		plan.LimitBy = keygate.LimitByKey
	case "ip":
		plan.LimitBy = keygate.LimitByIP
	default:
		k.note(p, "rate-limiting limit_by %s not mapped: limited by consumer", by)
		plan.LimitBy = keygate.LimitByConsumer
	}
	conf.bool("hide_client_headers", &plan.HideClientHeaders)
	if v, ok := conf.get("year"); ok && v.n.Tag != "!!null" {
		k.note(v, "not mapped: keygate's quotas go up to a month")
	}
	if v, ok := conf.get("policy"); ok && v.n.Value == "redis" {
		k.note(v, "not mapped: keygate counts in Redis when started with --redis-url, for every plan")
	}
	k.unmapped(conf, "second", "minute", "hour", "day", "month", "year", "limit_by", "hide_client_headers", "policy",
		"fault_tolerant", "redis", "redis_host", "redis_port", "redis_password", "redis_timeout", "redis_database",
		"error_code", "error_message", "sync_rate", "redis_ssl", "redis_ssl_verify", "redis_server_name", "redis_username")
}

// ratePlans turns rate-limiting plugins into plans. Those without a
// consumer make one shared plan, kong-rate-limiting (global limits, and
// limits of their own on the routes a route or service plugin covers),
// given to every consumer; one for a consumer makes that consumer's own
// plan (in Kong, a consumer's plugin wins over a route's or service's).
func (k *kong) ratePlans() {
	var shared *keygate.Plan
	var first kobj
	limitBySet := false
	for i := range k.plugins {
		p := &k.plugins[i]
		if p.name != "rate-limiting" || p.consumer != "" {
			continue
		}
		if shared == nil {
			shared, first = keygate.NewPlan(), p.obj
			shared.Name, shared.Description = "kong-rate-limiting", "Kong's rate-limiting plugins without a consumer"
		}
		if p.service == "" && p.route == "" {
			k.limits(p.obj, shared)
			limitBySet = true
		}
	}
	if shared != nil {
		for _, rt := range k.imp.Doc.Routes {
			p := k.effective("rate-limiting", rt)
			if p == nil || p.service == "" && p.route == "" {
				continue
			}
			own := keygate.NewPlan()
			k.limits(p.obj, own)
			pr := keygate.PlanRoute{Route: keygate.Ref{Name: rt.Name}, Burst: own.Burst}
			if own.Rate > 0 {
				pr.Rate = &own.Rate
			}
			if own.Quotas != (keygate.Quotas{}) {
				q := own.Quotas
				pr.Quotas = &q
			}
			if pr.Rate != nil || pr.Quotas != nil {
				shared.Routes = append(shared.Routes, pr)
			}
			// One plan counts all its limits by one limit_by: the global
			// plugin's, else the first route's or service's.
			switch {
			case !limitBySet:
				shared.LimitBy, limitBySet = own.LimitBy, true
			case own.LimitBy != shared.LimitBy:
				k.note(p.obj, "limit_by %s not mapped: the plan kong-rate-limiting counts by %s", own.LimitBy, shared.LimitBy)
			}
		}
		k.add(KindPlan, shared, first)
	}
	for i := range k.plugins {
		p := &k.plugins[i]
		if p.name != "rate-limiting" || p.consumer == "" {
			continue
		}
		own := keygate.NewPlan()
		own.Name, own.Description = "kong-rate-limiting-"+p.consumer, "Kong's rate-limiting plugin of consumer "+p.consumer
		k.limits(p.obj, own)
		k.add(KindPlan, own, p.obj)
		for _, c := range k.imp.Doc.Consumers {
			if nameOf(c) == p.consumer {
				c.Plan = &keygate.Ref{Name: own.Name}
			}
		}
	}
	if shared != nil {
		for _, c := range k.imp.Doc.Consumers {
			if c.Plan == nil {
				c.Plan = &keygate.Ref{Name: shared.Name}
			}
		}
	}
}

// validate checks every entity as the admin API would, and leaves out
// (with a note) those keygate would refuse, and what depends on them.
func (k *kong) validate() {
	d := k.imp.Doc
	bad := map[Kind]map[string]bool{}
	for _, kind := range kinds {
		bad[kind] = map[string]bool{}
		for _, e := range d.entities(kind) {
			e.Normalize()
			err := e.Validate()
			if r, ok := e.(*keygate.Route); ok && err == nil && (bad[KindService][r.Service.Name] || !desiredHas(d, KindService, r.Service.Name)) {
				err = keygate.Errorf(keygate.EINVALID, "its service %s was left out", r.Service.Name)
			}
			if err != nil {
				at := d.pos[e]
				k.noteAt(at.line, fmt.Sprintf("%s: %s %s left out: %s", at.path, kind, nameOf(e), keygate.ErrorMessage(err)))
				bad[kind][nameOf(e)] = true
			}
		}
	}
	d.Services = slices.DeleteFunc(d.Services, func(s *keygate.Service) bool { return bad[KindService][s.Name] })
	d.Routes = slices.DeleteFunc(d.Routes, func(r *keygate.Route) bool { return bad[KindRoute][r.Name] })
	for _, p := range d.Plans {
		p.Routes = slices.DeleteFunc(p.Routes, func(r keygate.PlanRoute) bool { return bad[KindRoute][r.Route.Name] })
	}
	d.Plans = slices.DeleteFunc(d.Plans, func(p *keygate.Plan) bool { return bad[KindPlan][p.Name] })
	d.Consumers = slices.DeleteFunc(d.Consumers, func(c *keygate.Consumer) bool { return bad[KindConsumer][nameOf(c)] })
	k.imp.Keys = slices.DeleteFunc(k.imp.Keys, func(c KongKey) bool { return bad[KindConsumer][c.Consumer] })
	k.imp.HMAC = slices.DeleteFunc(k.imp.HMAC, func(c KongHMAC) bool { return bad[KindConsumer][c.Consumer] })
}

// kobj is a YAML mapping of a Kong file and its path there.
type kobj struct {
	n    *yaml.Node
	path string
}

func (o kobj) keys() []string {
	var ks []string
	if o.n == nil || o.n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(o.n.Content); i += 2 {
		ks = append(ks, o.n.Content[i].Value)
	}
	return ks
}

func (o kobj) get(key string) (kobj, bool) {
	if o.n == nil || o.n.Kind != yaml.MappingNode {
		return kobj{&yaml.Node{}, o.path}, false
	}
	for i := 0; i+1 < len(o.n.Content); i += 2 {
		if o.n.Content[i].Value == key {
			v := o.n.Content[i+1]
			if v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return kobj{v, join(o.path, key)}, true
		}
	}
	return kobj{&yaml.Node{}, join(o.path, key)}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str is a scalar field's value, "" when absent, null or not a scalar.
func (o kobj) str(key string) string {
	v, ok := o.get(key)
	if !ok || v.n.Kind != yaml.ScalarNode || v.n.Tag == "!!null" {
		return ""
	}
	return v.n.Value
}

func (o kobj) int(key string) (int, bool) {
	s := o.str(key)
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			return int(f), true
		}
		return 0, false
	}
	return n, true
}

func (o kobj) bool(key string, dst *bool) {
	if s := o.str(key); s == "true" || s == "false" {
		*dst = s == "true"
	}
}

// strs is a list of strings, nil when absent or null.
func (o kobj) strs(key string) []string {
	v, ok := o.get(key)
	if !ok || v.n.Kind != yaml.SequenceNode {
		return nil
	}
	out := []string{}
	for _, c := range v.n.Content {
		out = append(out, c.Value)
	}
	return out
}

// list is a list of mappings with their paths, such as services[2].
func (o kobj) list(key string) []kobj {
	v, ok := o.get(key)
	if !ok || v.n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []kobj
	for i, c := range v.n.Content {
		out = append(out, kobj{c, fmt.Sprintf("%s[%d]", v.path, i)})
	}
	return out
}
