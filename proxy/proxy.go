package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/meter"
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

// protectedHeaders are set only by the gateway. The caller's copies are
// removed, and the gateway's are copied onto the outgoing request after
// ReverseProxy dropped the hop-by-hop headers, so that a caller cannot strip
// them either by naming them in its Connection header.
var protectedHeaders = []string{headerConsumerID, headerConsumerUsername, headerConsumerCustomID, headerCredential,
	headerConsumerGroups, headerAnonymous, headerRequestID, headerRealIP}

// spoofableHeaders claim things about the client that only a proxy should
// say; the caller's copies are dropped (X-Forwarded-For/Host/Proto are
// rewritten by ReverseProxy).
var spoofableHeaders = []string{"X-Forwarded-Port", "X-Forwarded-Path", "X-Forwarded-Prefix", "Forwarded"}

const headerRealIP = "X-Real-Ip"

// Store is what the proxy reads to build its routing table.
type Store interface {
	ListServices(ctx context.Context, p keygate.Page) ([]*keygate.Service, string, error)
	ListRoutes(ctx context.Context, f keygate.RouteFilter, p keygate.Page) ([]*keygate.Route, string, error)
	FindConsumer(ctx context.Context, ref string) (*keygate.Consumer, error)
	ListPlans(ctx context.Context, p keygate.Page) ([]*keygate.Plan, string, error)
}

// Config is the proxy's own configuration.
type Config struct {
	// TrustedProxies are the networks whose X-Forwarded-For is believed when
	// finding the client address (for CIDR restrictions). Empty: none.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// HMAC holds the HMAC credentials routes with hmac_auth check
	// signatures against, and Replay the signatures already seen. A route
	// with hmac_auth is refused (503) without them.
	HMAC   *hmacauth.Credentials
	Replay hmacauth.ReplayGuard
	// Now is the clock signatures' dates are checked against (time.Now).
	Now func() time.Time
	// Rotator and SelfRotatePath enable self-service key rotation at that
	// path (see selfRotate); either empty: off.
	Rotator        keygate.KeyRotator
	SelfRotatePath string
	// HealthPath, when set, answers GET and HEAD with 200 on the proxy
	// listener itself, for load balancers' checks of nodes that have no
	// admin listener (--role gateway). It says the node serves; a store
	// outage does not fail it, as cached credentials keep working.
	HealthPath string
	// Pickup, when set, hands a key that has a successor already the one
	// an automatic rotation kept for it, once (see selfRotate).
	Pickup keygate.RotationPickup
	// ExpiryNotice is how long before a key expires responses carry a
	// Sunset header.
	ExpiryNotice time.Duration
	// Limiter enforces usage plans; nil: plans are not enforced.
	// RateLimitFailOpen serves requests unlimited when it cannot decide
	// (Redis down); otherwise they are refused with 503. Either way the
	// failure is logged and counted in Metrics.
	Limiter           keygate.RateLimiter
	RateLimitFailOpen bool
	Metrics           Metrics
	// Meter, when set, counts every request on a route.
	Meter *meter.Meter
}

// Proxy is the gateway's HTTP handler.
type Proxy struct {
	store    Store
	verifier keygate.KeyVerifier
	cfg      Config

	table     atomic.Pointer[table]
	reloading sync.Mutex           // one rebuild at a time, so the newest state wins
	upstreams map[string]*upstream // by service id; guarded by reloading
	retry     *time.Timer          // pending retry of a failed reload; guarded by reloading
	closed    bool                 // guarded by reloading
	// anonymous holds the consumer ids routes use as anonymous, and
	// unresolved whether a route names one that does not exist (yet): a
	// change to such consumers rebuilds the table.
	anonymous  atomic.Pointer[map[string]bool]
	unresolved atomic.Bool

	selfRotations rotationLimiter
	selfAuth      *keyauth.Authenticator

	metrics         Metrics
	limiterFailures failureLog
}

// New returns a proxy with an empty routing table; call Reload before serving.
func New(store Store, verifier keygate.KeyVerifier, cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Proxy{store: store, verifier: verifier, cfg: cfg, upstreams: map[string]*upstream{}, selfAuth: selfRotateAuth(verifier),
		metrics: cfg.Metrics}
	if p.metrics == nil {
		p.metrics = nopMetrics{}
	}
	p.table.Store(newTable(nil, nil))
	p.anonymous.Store(&map[string]bool{})
	return p
}

// reloadTimeout bounds one rebuild, which runs on the admin writer's goroutine.
const reloadTimeout = 10 * time.Second

// Apply is the store's change hook: route, service, plan and
// anonymous-consumer changes rebuild the routing table before the admin API
// answers. A rebuild
// that fails keeps the previous table and is retried until one succeeds.
func (p *Proxy) Apply(c keygate.Change) {
	switch c.Kind {
	case keygate.ServiceChanged, keygate.RouteChanged, keygate.PlanChanged:
	case keygate.ConsumerChanged:
		if !(*p.anonymous.Load())[c.ID] && !p.unresolved.Load() {
			return
		}
	default:
		return
	}
	p.reloadOrRetry(time.Second)
}

// Resync rebuilds the routing table, for when changes may have been missed
// (another node's, while the channel that carries them was down).
func (p *Proxy) Resync() { p.reloadOrRetry(time.Second) }

func (p *Proxy) reloadOrRetry(backoff time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), reloadTimeout)
	defer cancel()
	err := p.Reload(ctx)
	if err == nil {
		return
	}
	p.reloading.Lock()
	defer p.reloading.Unlock()
	if p.closed || p.retry != nil {
		return
	}
	p.cfg.Logger.Error("routing table reload failed; serving the previous one until a retry succeeds", "retry_in", backoff, "error", err)
	p.retry = time.AfterFunc(backoff, func() {
		p.reloading.Lock()
		p.retry = nil
		p.reloading.Unlock()
		p.reloadOrRetry(min(2*backoff, 30*time.Second))
	})
}

// Close stops reload retries and closes idle upstream connections.
func (p *Proxy) Close() {
	p.reloading.Lock()
	defer p.reloading.Unlock()
	p.closed = true
	if p.retry != nil {
		p.retry.Stop()
		p.retry = nil
	}
	for _, u := range p.upstreams {
		u.close()
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
	storedPlans, err := listAll(func(pg keygate.Page) ([]*keygate.Plan, string, error) { return p.store.ListPlans(ctx, pg) })
	if err != nil {
		return fmt.Errorf("list plans: %w", err)
	}
	plans := make(map[string]*plan, len(storedPlans))
	for _, sp := range storedPlans {
		plans[sp.ID] = compilePlan(sp)
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
	anonymous, unresolved := map[string]bool{}, false
	for _, r := range routes {
		u := upstreams[r.Service.ID]
		if u == nil {
			continue // its service was deleted in between; the next reload settles it
		}
		rt := &route{Route: r, upstream: u}
		rt.proxy = u.reverseProxy(func(pr *httputil.ProxyRequest) { p.rewrite(pr, rt) }, p.upstreamFailed, p.cfg.Logger)
		// The kinds a route accepts, in a fixed order; the first one present
		// on a request decides.
		if r.KeyAuth != nil {
			rt.auths = append(rt.auths, keyauth.New(*r.KeyAuth, p.verifier))
		}
		if r.HMACAuth != nil {
			if p.cfg.HMAC == nil || p.cfg.Replay == nil {
				return fmt.Errorf("route %s: hmac_auth, but the proxy has no HMAC credentials to check against", r.Name)
			}
			rt.auths = append(rt.auths, hmacauth.New(*r.HMACAuth, p.cfg.HMAC, p.cfg.Replay, p.cfg.Now))
		}
		if ref := anonymousOf(r); ref != "" {
			c, err := p.store.FindConsumer(ctx, ref)
			if err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
				return fmt.Errorf("route %s: anonymous consumer: %w", r.Name, err)
			}
			if c == nil {
				// Refusing is the safe reading of a dangling anonymous consumer.
				p.cfg.Logger.Warn("anonymous consumer not found; requests without a credential are refused", "route", r.Name, "consumer", ref)
				unresolved = true
			} else {
				rt.anonymous = c
				anonymous[c.ID] = true
			}
		}
		built = append(built, rt)
	}
	p.table.Store(newTable(built, plans))
	p.anonymous.Store(&anonymous)
	p.unresolved.Store(unresolved)
	for id, u := range p.upstreams {
		if upstreams[id] != u {
			u.close()
		}
	}
	p.upstreams = upstreams
	return nil
}

// anonymousOf is the consumer a route lets requests without a credential
// proceed as: key_auth's, or else hmac_auth's.
func anonymousOf(r *keygate.Route) string {
	if r.KeyAuth != nil && r.KeyAuth.Anonymous != "" {
		return r.KeyAuth.Anonymous
	}
	if r.HMACAuth != nil {
		return r.HMACAuth.Anonymous
	}
	return ""
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
	callerID := r.Header.Get(headerRequestID) // kept when well-formed: a signature may cover it
	scrub(r.Header)
	setRequestID(r, callerID)
	client := p.clientIP(r)
	if client.IsValid() {
		r.Header[headerRealIP] = []string{client.String()}
	}
	reqPath := cleanPath(r.URL.Path)
	if hasDotSegment(reqPath) {
		writeError(w, r, http.StatusBadRequest, "Bad request path")
		return
	}
	if reqPath == p.cfg.HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, `{"status":"ok"}`+"\n")
		return
	}
	if reqPath == p.cfg.SelfRotatePath && p.cfg.Rotator != nil {
		p.selfRotate(w, r, client)
		return
	}
	rt, prefix := p.table.Load().match(r.Host, reqPath, r.Method)
	if rt == nil {
		writeError(w, r, http.StatusNotFound, "no Route matched with those values")
		return
	}
	var who auth.Result // the zero Result on an open route
	if len(rt.auths) > 0 {
		var ok bool
		if who, ok = p.authenticate(w, r, rt, client); !ok {
			return
		}
	}
	if who.PlanID != "" && p.cfg.Limiter != nil && !p.limit(w, r, rt, &who, client) {
		p.count(r, rt, &who, true, 0)
		return
	}
	upstreamPath(r, rt, reqPath, prefix)
	if isUpgrade(r) {
		rt.proxy.ServeHTTP(w, r)
		p.count(r, rt, &who, false, 0)
		return
	}
	sent, err := p.forward(w, r, rt)
	p.count(r, rt, &who, false, sent)
	if err != nil {
		// Headers are out; aborting the connection is the only way left to
		// tell the caller the body is incomplete.
		panic(http.ErrAbortHandler)
	}
}

// count tells the meter about a request on rt: refused by the gateway
// once it knew the caller, or forwarded with sent bytes of answer.
func (p *Proxy) count(r *http.Request, rt *route, who *auth.Result, refused bool, sent int64) {
	if p.cfg.Meter == nil {
		return
	}
	req := meter.Request{At: p.cfg.Now(), CredentialID: who.CredentialRecord, RouteID: rt.ID, Rejected: refused, BytesOut: sent}
	if who.Consumer != nil {
		req.ConsumerID = who.Consumer.ID
	}
	if !refused && r.ContentLength > 0 {
		req.BytesIn = r.ContentLength
	}
	p.cfg.Meter.Count(&req)
}

// authenticate runs the route's credential kinds; the first one present
// decides. It writes the refusal itself and reports whether to go on.
func (p *Proxy) authenticate(w http.ResponseWriter, r *http.Request, rt *route, client netip.Addr) (auth.Result, bool) {
	t := keygate.Target{ServiceID: rt.upstream.service.ID, RouteID: rt.ID, IP: client}
	var res auth.Result
	var by auth.Authenticator
	for _, a := range rt.auths {
		var err error
		res, err = a.Authenticate(r, t)
		if err != nil {
			p.cfg.Logger.Error("authentication failed", "request_id", requestIDOf(r), "route", rt.Name, "error", err)
			writeError(w, r, http.StatusServiceUnavailable, "Service temporarily unavailable")
			return res, false
		}
		if by = a; res.Verdict != auth.Absent {
			break
		}
	}
	switch {
	case res.Verdict == auth.Granted:
	case res.Verdict == auth.Forbidden:
		writeError(w, r, http.StatusForbidden, res.Message)
		if res.CredentialRecord != "" {
			p.count(r, rt, &res, true, 0)
		}
		return res, false
	case res.Verdict == auth.TooLarge:
		writeError(w, r, http.StatusRequestEntityTooLarge, res.Message)
		return res, false
	case rt.anonymous != nil: // Absent or Unauthenticated, as Kong's anonymous
		res = auth.Result{Verdict: auth.Granted, Consumer: rt.anonymous, PlanID: keygate.PlanOf(nil, rt.anonymous)}
		r.Header.Set(headerAnonymous, "true")
	default:
		w.Header().Set("WWW-Authenticate", by.Challenge())
		writeError(w, r, http.StatusUnauthorized, res.Message)
		return res, false
	}
	if !res.Sunset.IsZero() || !res.DeprecatedAt.IsZero() { // most keys never end: no clock read for them
		sunsetHeaders(w.Header(), res, p.cfg.Now(), p.cfg.ExpiryNotice)
	}
	c := res.Consumer
	if !rt.ACL.Allows(c.Groups) {
		writeError(w, r, http.StatusForbidden, "You cannot consume this service")
		p.count(r, rt, &res, true, 0)
		return res, false
	}
	setIdentity(r.Header, c, res.CredentialID, rt.ACL == nil || !rt.ACL.HideGroupsHeader)
	return res, true
}

// rewrite prepares a protocol switch (WebSocket) for ReverseProxy, which has kept only the Upgrade and Connection
// headers of the hop-by-hop ones.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest, rt *route) {
	pr.Out.URL.Scheme = rt.upstream.target.Scheme
	pr.Out.URL.Host = rt.upstream.target.Host
	upgrade := pr.Out.Header["Upgrade"]
	pr.Out.Header = p.outHeader(pr.In)
	if upgrade != nil {
		pr.Out.Header["Connection"] = []string{"Upgrade"}
		pr.Out.Header["Upgrade"] = upgrade
	}
	if !rt.PreserveHost {
		pr.Out.Host = ""
	}
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

func peerIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (p *Proxy) peerTrusted(r *http.Request) bool {
	return len(p.cfg.TrustedProxies) > 0 && p.trusted(peerIP(r))
}

// clientIP is the peer address, or with trusted proxies in front, the
// rightmost X-Forwarded-For address that is not one of them.
func (p *Proxy) clientIP(r *http.Request) netip.Addr {
	ip := peerIP(r)
	if !ip.IsValid() || !p.trusted(ip) {
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

// scrub removes what only the gateway may say — the protected headers and
// spoofable forwarding headers — and every header whose name has an
// underscore, as nginx does by default: CGI, WSGI and Rack upstreams read
// X_Consumer_ID as X-Consumer-ID, and an unsigned X_Amount beside a signed
// X-Amount would reach them as the same variable.
func scrub(h http.Header) {
	for _, name := range protectedHeaders {
		delete(h, name)
	}
	for _, name := range spoofableHeaders {
		delete(h, name)
	}
	for name := range h {
		if strings.IndexByte(name, '_') >= 0 {
			delete(h, name)
		}
	}
}

// hasDotSegment reports a "." or ".." segment that survived cleaning because
// it is disguised: with a ";" parameter ("..;"), encoded once more ("%2e%2e"),
// or between backslashes. Java servlet containers, IIS and servers that
// decode twice resolve them, which would reach outside the matched route.
func hasDotSegment(p string) bool {
	if !strings.ContainsAny(p, ";%\\") {
		return false
	}
	for _, seg := range strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == '\\' }) {
		seg, _, _ = strings.Cut(seg, ";")
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "%2e", "."), "%2E", ".")
		if seg == "." || seg == ".." {
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
