package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/keyauth"
)

// Headers the upstream receives about the caller. Callers' own copies are
// removed first, so nobody can forge an identity.
const (
	headerConsumerID       = "X-Consumer-Id"
	headerConsumerUsername = "X-Consumer-Username"
	headerConsumerCustomID = "X-Consumer-Custom-Id"
	headerCredential       = "X-Credential-Identifier"
	headerConsumerGroups   = "X-Consumer-Groups"
	headerAnonymous        = "X-Anonymous-Consumer"
	headerRequestID        = "X-Request-Id"
)

var identityHeaders = []string{headerConsumerID, headerConsumerUsername, headerConsumerCustomID, headerCredential, headerConsumerGroups, headerAnonymous}

// Store is what the proxy reads to build its routing table.
type Store interface {
	ListServices(ctx context.Context, p keygate.Page) ([]*keygate.Service, string, error)
	ListRoutes(ctx context.Context, f keygate.RouteFilter, p keygate.Page) ([]*keygate.Route, string, error)
	FindConsumer(ctx context.Context, ref string) (*keygate.Consumer, error)
}

// Config is the proxy's own configuration.
type Config struct {
	// TrustedProxies are the networks whose X-Forwarded-For is believed when
	// finding the client address (for CIDR restrictions). Empty: none.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

// Proxy is the gateway's HTTP handler.
type Proxy struct {
	store    Store
	verifier keygate.KeyVerifier
	cfg      Config

	table     atomic.Pointer[table]
	reloading sync.Mutex           // one rebuild at a time, so the newest state wins
	upstreams map[string]*upstream // by service id; guarded by reloading
	anonymous atomic.Pointer[map[string]bool]
}

// New returns a proxy with an empty routing table; call Reload before serving.
func New(store Store, verifier keygate.KeyVerifier, cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Proxy{store: store, verifier: verifier, cfg: cfg, upstreams: map[string]*upstream{}}
	p.table.Store(newTable(nil))
	p.anonymous.Store(&map[string]bool{})
	return p
}

// Apply is the store's change hook: route, service and anonymous-consumer
// changes rebuild the routing table before the admin API answers.
func (p *Proxy) Apply(c keygate.Change) {
	switch c.Kind {
	case keygate.ServiceChanged, keygate.RouteChanged:
	case keygate.ConsumerChanged:
		if !(*p.anonymous.Load())[c.ID] {
			return
		}
	default:
		return
	}
	if err := p.Reload(context.Background()); err != nil {
		p.cfg.Logger.Error("routing table reload failed; serving the previous one", "error", err)
	}
}

// Reload rebuilds the routing table from the store.
func (p *Proxy) Reload(ctx context.Context) error {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	services, err := listAll(func(pg keygate.Page) ([]*keygate.Service, string, error) { return p.store.ListServices(ctx, pg) })
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	routes, err := listAll(func(pg keygate.Page) ([]*keygate.Route, string, error) {
		return p.store.ListRoutes(ctx, keygate.RouteFilter{}, pg)
	})
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	upstreams := make(map[string]*upstream, len(services))
	for _, s := range services {
		if old := p.upstreams[s.ID]; old != nil && old.service.UpdatedAt.Equal(s.UpdatedAt) {
			upstreams[s.ID] = old // keep its warm connections
			continue
		}
		u, err := newUpstream(s, p.cfg.Logger)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
		upstreams[s.ID] = u
	}
	built := make([]*route, 0, len(routes))
	anonymous := map[string]bool{}
	for _, r := range routes {
		u := upstreams[r.Service.ID]
		if u == nil {
			continue // its service was deleted in between; the next reload settles it
		}
		rt := &route{Route: r, upstream: u, proxy: u.reverseProxy(r.PreserveHost, p.cfg.Logger)}
		if r.KeyAuth != nil {
			rt.auths = append(rt.auths, keyauth.New(*r.KeyAuth, p.verifier))
			if ref := r.KeyAuth.Anonymous; ref != "" {
				c, err := p.store.FindConsumer(ctx, ref)
				if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
					return fmt.Errorf("route %s: anonymous consumer: %w", r.Name, err)
				}
				if c == nil {
					// Refusing is the safe reading of a dangling anonymous consumer.
					p.cfg.Logger.Warn("anonymous consumer not found; requests without a key are refused", "route", r.Name, "consumer", ref)
				} else {
					rt.anonymous = c
					anonymous[c.ID] = true
				}
			}
		}
		built = append(built, rt)
	}
	p.table.Store(newTable(built))
	p.anonymous.Store(&anonymous)
	for id, u := range p.upstreams {
		if upstreams[id] != u {
			u.close()
		}
	}
	p.upstreams = upstreams
	return nil
}

func listAll[T any](list func(keygate.Page) ([]T, string, error)) ([]T, error) {
	var all []T
	page := keygate.Page{Limit: keygate.MaxPageSize}
	for {
		items, next, err := list(page)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		page.After = next
	}
}

// ServeHTTP is the request path: route, authenticate, authorise, forward.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setRequestID(r)
	for _, h := range identityHeaders {
		r.Header.Del(h)
	}
	reqPath := cleanPath(r.URL.Path)
	rt, prefix := p.table.Load().match(r.Host, reqPath, r.Method)
	if rt == nil {
		writeError(w, r, http.StatusNotFound, "no Route matched with those values")
		return
	}
	if len(rt.auths) > 0 && !p.authenticate(w, r, rt) {
		return
	}
	upstreamPath(r, rt, reqPath, prefix)
	rt.proxy.ServeHTTP(w, r)
}

// authenticate runs the route's credential kinds; the first one present
// decides. It writes the refusal itself and reports whether to go on.
func (p *Proxy) authenticate(w http.ResponseWriter, r *http.Request, rt *route) bool {
	t := keygate.Target{ServiceID: rt.upstream.service.ID, RouteID: rt.ID, IP: p.clientIP(r)}
	var res auth.Result
	var by auth.Authenticator
	for _, a := range rt.auths {
		var err error
		res, err = a.Authenticate(r, t)
		if err != nil {
			p.cfg.Logger.Error("authentication failed", "request_id", requestIDOf(r), "route", rt.Name, "error", err)
			writeError(w, r, http.StatusServiceUnavailable, "Service temporarily unavailable")
			return false
		}
		if by = a; res.Verdict != auth.Absent {
			break
		}
	}
	switch {
	case res.Verdict == auth.Granted:
	case res.Verdict == auth.Forbidden:
		writeError(w, r, http.StatusForbidden, res.Message)
		return false
	case rt.anonymous != nil: // Absent or Unauthenticated, as Kong's anonymous
		res = auth.Result{Verdict: auth.Granted, Consumer: rt.anonymous}
		r.Header.Set(headerAnonymous, "true")
	default:
		w.Header().Set("WWW-Authenticate", by.Challenge())
		writeError(w, r, http.StatusUnauthorized, res.Message)
		return false
	}
	c := res.Consumer
	if !rt.ACL.Allows(c.Groups) {
		writeError(w, r, http.StatusForbidden, "You cannot consume this service")
		return false
	}
	setIdentity(r.Header, c, res.CredentialID, rt.ACL == nil || !rt.ACL.HideGroupsHeader)
	return true
}

func setIdentity(h http.Header, c *keygate.Consumer, credentialID string, groups bool) {
	h[headerConsumerID] = []string{c.ID}
	if c.Username != "" {
		h[headerConsumerUsername] = []string{c.Username}
	}
	if c.CustomID != "" {
		h[headerConsumerCustomID] = []string{c.CustomID}
	}
	if credentialID != "" {
		h[headerCredential] = []string{credentialID}
	}
	if groups && len(c.Groups) > 0 {
		h[headerConsumerGroups] = []string{strings.Join(c.Groups, ", ")}
	}
}

// clientIP is the peer address, or with trusted proxies in front, the
// rightmost X-Forwarded-For address that is not one of them.
func (p *Proxy) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if !p.trusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip
		}
		if ip = hop.Unmap(); !p.trusted(ip) {
			return ip
		}
	}
	return ip
}

func (p *Proxy) trusted(ip netip.Addr) bool {
	for _, n := range p.cfg.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// cleanPath resolves "." and ".." before matching, so that "/public/../partner"
// cannot reach the partner route's upstream through the public route.
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // "*" (OPTIONS *) and other non-origin forms
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// upstreamPath sets the path the upstream sees: the service's path joined
// with the request path, less the matched prefix when the route strips it.
func upstreamPath(r *http.Request, rt *route, reqPath, prefix string) {
	rest, rawRest := reqPath, ""
	if reqPath == r.URL.Path && r.URL.RawPath != "" {
		rawRest = r.URL.RawPath // keep the caller's encoding (%2F) when nothing was cleaned
	}
	if rt.StripPath && prefix != "" {
		rest = strings.TrimPrefix(rest, prefix)
		if rawRest != "" {
			if raw, ok := strings.CutPrefix(rawRest, prefix); ok {
				rawRest = raw
			} else {
				rawRest = ""
			}
		}
	}
	base := rt.upstream.target.Path
	r.URL.Path = joinPath(base, rest)
	r.URL.RawPath = ""
	if rawRest != "" {
		r.URL.RawPath = joinPath(rt.upstream.target.EscapedPath(), rawRest)
	}
}

func joinPath(base, rest string) string {
	switch {
	case rest == "" && base == "":
		return "/"
	case rest == "":
		return base
	case base == "" || base == "/":
		if rest[0] != '/' {
			return "/" + rest
		}
		return rest
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(rest, "/")
}

// writeError answers in Kong's shape: {"message": ..., "request_id": ...}.
func writeError(w http.ResponseWriter, r *http.Request, status int, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set(headerRequestID, requestIDOf(r))
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}{message, requestIDOf(r)})
}
