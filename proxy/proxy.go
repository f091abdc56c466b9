package proxy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/auth/oauth2"
	"github.com/keygate/keygate/internal/gcra"
	"github.com/keygate/keygate/limiting"
	"github.com/keygate/keygate/meter"
	"github.com/valyala/fasthttp"
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

// The headers above, X-Real-Ip and X-Forwarded-* are set only by the
// gateway: scrub removes the caller's copies (the gateway rewrites
// X-Forwarded-For/Proto/Host), and a caller cannot strip the gateway's by
// naming them in its Connection header either, as only the standard
// hop-by-hop headers are dropped (see dropHopByHop).
const headerRealIP = "X-Real-Ip"

// Store is what the proxy reads to build its routing table, whole (the
// lists) or one change at a time (the finds).
type Store interface {
	ListServices(ctx context.Context, p keygate.Page) ([]*keygate.Service, string, error)
	ListRoutes(ctx context.Context, f keygate.RouteFilter, p keygate.Page) ([]*keygate.Route, string, error)
	ListPlans(ctx context.Context, p keygate.Page) ([]*keygate.Plan, string, error)
	FindService(ctx context.Context, ref string) (*keygate.Service, error)
	FindRoute(ctx context.Context, ref string) (*keygate.Route, error)
	FindPlan(ctx context.Context, ref string) (*keygate.Plan, error)
	FindConsumer(ctx context.Context, ref string) (*keygate.Consumer, error)
}

// Config is the proxy's own configuration.
type Config struct {
	// TrustedProxies are the networks whose X-Forwarded-For is believed when
	// finding the client address (for CIDR restrictions). Empty: none.
	TrustedProxies []netip.Prefix
	// UpstreamRoots are the certificate authorities https services are
	// checked against; nil: the system's.
	UpstreamRoots *x509.CertPool
	Logger        *slog.Logger
	// HMAC holds the HMAC credentials routes with hmac_auth check
	// signatures against, and Replay the signatures already seen. A route
	// with hmac_auth is refused (503) without them.
	HMAC   *hmacauth.Credentials
	Replay hmacauth.ReplayGuard
	// OAuth2 verifies access tokens on routes with oauth2; such a route is
	// refused (503) without it.
	OAuth2 *oauth2.Provider
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
	// ReadyPath, when set, answers GET and HEAD with 200 once Ready says so
	// (or Ready is nil) and 503 before: a node that restarted serves while
	// it warms its caches, and tells load balancers when to send it its
	// share.
	ReadyPath string
	Ready     func() bool
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
	// Credits spends the credits of keys that have them (429 when out);
	// nil: credits are not enforced. LimitEvents sends the events of
	// credits and quotas (nil: none).
	Credits     keygate.CreditStore
	LimitEvents *limiting.Events
	Metrics     Metrics
	// Meter, when set, counts every request on a route.
	Meter *meter.Meter
	// Payload enables payload encryption (see session.go); nil: routes
	// that encrypt payloads are refused with 503.
	Payload *PayloadConfig
	// RefusalDelay slows an address that keeps presenting credentials that
	// are refused: past refusalsPerAddress 401s a second, each further 401
	// to it waits this long. A flood of made-up credentials then gets a few
	// answers a second per connection instead of thousands, and the CPU
	// stays with requests that carry real ones. 0: off.
	RefusalDelay time.Duration
	// Anomalies, when set, is told every authentication's outcome and
	// may block client addresses (see anomaly.go).
	Anomalies Anomalies
	// Endpoints are paths keygate itself answers on this listener before
	// any route is matched (the OAuth 2.0 authorization server's); a 401
	// they answer is held back by RefusalDelay as any other.
	Endpoints map[string]fasthttp.RequestHandler
	// Requests, when set, counts requests by route, status class and
	// credential kind, authentication outcomes and latencies (observe.go);
	// ConsumerLabels also passes the consumer to it.
	Requests       RequestMetrics
	ConsumerLabels bool
	// StoreErrors, when set, is called for each request an authenticator
	// could not decide (a store or Redis failure, answered 503).
	StoreErrors func()
	// AccessLog, when set, gets a line per request (observe.go), for a
	// share AccessLogSample (0..1) of them.
	AccessLog       *slog.Logger
	AccessLogSample float64
}

// refusalsPerAddress is how many 401s a second an address gets at once
// (with a second's burst): far more than a person or a misconfigured
// client produces, far less than a flood.
const refusalsPerAddress = 50

// Proxy is the gateway's request handler (Serve).
type Proxy struct {
	store    Store
	verifier keygate.KeyVerifier
	cfg      Config
	refusals *gcra.Table // 401s by client address, for RefusalDelay

	table atomic.Pointer[table]
	// reloading lets one rebuild or patch of the table run at a time, so
	// the newest state wins; it guards what the table was built from.
	reloading sync.Mutex
	upstreams map[string]*upstream // by service id
	// services is upstreams as last published, for reading without the
	// lock (target health for the admin API and metrics).
	services atomic.Pointer[map[string]*upstream]
	routes   map[string]*route // by route id: the table's routes
	plans    map[string]*plan  // by plan id: the table's plans
	// anonymousRoutes counts the routes using each consumer id as
	// anonymous, and unresolvedRoutes those naming one not found.
	anonymousRoutes  map[string]int
	unresolvedRoutes int
	retry            *time.Timer // pending retry of a failed reload
	closed           bool
	// Rebuilds asked for (requested) and the number of them the last
	// rebuild covers (built, guarded by reloading), so that a burst of
	// asks is served by one rebuild (see Reload).
	requested atomic.Uint64
	built     uint64
	// anonymous holds the consumer ids routes use as anonymous, and
	// unresolved whether a route names one that does not exist (yet): a
	// change to such consumers patches the table.
	anonymous  atomic.Pointer[map[string]bool]
	unresolved atomic.Bool

	selfRotations rotationLimiter
	selfAuth      *keyauth.Authenticator

	metrics         Metrics
	limiterFailures failureLog
	sessions        *sessions    // payload encryption; nil: off
	unmatched       RouteMetrics // requests no route matched
	consumerLabels  bool
}

// New returns a proxy with an empty routing table; call Reload before serving.
func New(store Store, verifier keygate.KeyVerifier, cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Proxy{store: store, verifier: verifier, cfg: cfg, upstreams: map[string]*upstream{}, routes: map[string]*route{},
		plans: map[string]*plan{}, anonymousRoutes: map[string]int{}, selfAuth: selfRotateAuth(verifier), metrics: cfg.Metrics,
		refusals: gcra.NewTable()}
	if p.metrics == nil {
		p.metrics = nopMetrics{}
	}
	p.sessions = newSessions(cfg.Payload)
	p.unmatched, p.consumerLabels = nopRouteMetrics{}, cfg.ConsumerLabels
	if cfg.Requests != nil {
		p.unmatched = cfg.Requests.Route(unmatchedRoute, unmatchedRoute)
	}
	p.table.Store(newTable(nil, nil))
	p.services.Store(&map[string]*upstream{})
	p.anonymous.Store(&map[string]bool{})
	return p
}

// exchange is one request on its way through the gateway: what the
// request path learned about it, for the answer and the meter.
type exchange struct {
	ctx    *fasthttp.RequestCtx
	id     string // request id
	client netip.Addr
	target requestTarget
	path   string // target.path cleaned: what routes match
	route  *route
	prefix string // the route's path prefix that matched
	who    auth.Result
	// limits is the usage plan's state after this request, shown to the
	// caller when showLimits is set.
	limits     keygate.LimitDecision
	showLimits bool
	// http10 is whether the caller spoke HTTP/1.0: the request forwarded,
	// rewritten in place, speaks HTTP/1.1 whatever the caller did.
	http10 bool
	// payload is set once an envelope was opened, to seal the answer;
	// gatewayAnswered once the gateway wrote an answer of its own.
	payload         *payloadExchange
	gatewayAnswered bool
	// refusedAs is the code a 429 of the limits or the credits stands for
	// (RATE_LIMITED or USAGE_EXCEEDED), for the verification analytics.
	refusedAs keygate.VerifyCode
	// For metrics and the access log (observe.go): whether the request is
	// counted (not one of the gateway's own paths), when it came, the
	// upstream's share of its time, the credential kind that decided it and
	// the authentication outcome.
	observed   bool
	start      time.Time
	upstream   time.Duration
	credential string
	outcome    string
	// verdict is the credential judged, for the verification analytics
	// (proxy/analytics.go); its code is "" when none was.
	verdict verdict
}

// Serve is the request path: route, authenticate, authorise, limit,
// forward. It is the proxy listener's fasthttp.RequestHandler.
func (p *Proxy) Serve(ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	x := exchange{ctx: ctx, http10: !req.Header.IsHTTP11(), start: time.Now(), observed: true}
	defer p.finish(&x)
	defer p.recoverPanic(&x)
	// The listener made the request's header names canonical; every name
	// the request path looks up or writes is canonical too, so fasthttp
	// need not make each one so again (a tenth of its work per request).
	// The listener turns normalizing back on for the next request.
	req.Header.DisableNormalizing()
	ctx.Response.Header.DisableNormalizing()
	x.id = requestID(req.Header.Peek(headerRequestID)) // a well-formed caller's id is kept: a signature may cover it
	scrub(&req.Header)
	req.Header.Set(headerRequestID, x.id)
	limitBodyWaits(ctx, clientBodyTimeout)
	x.client = p.clientIP(ctx)
	if x.client.IsValid() {
		var buf [64]byte
		req.Header.SetBytesV(headerRealIP, x.client.AppendTo(buf[:0]))
	}
	var ok bool
	if x.target, ok = parseTarget(req.Header.RequestURI()); !ok {
		p.writeError(&x, fasthttp.StatusBadRequest, "Bad request path")
		return
	}
	x.path = cleanPath(x.target.path)
	if badPath(x.path) {
		p.writeError(&x, fasthttp.StatusBadRequest, "Bad request path")
		return
	}
	method := string(req.Header.Method())
	if x.path == p.cfg.HealthPath && (method == fasthttp.MethodGet || method == fasthttp.MethodHead) {
		x.observed = false
		ctx.Response.Header.SetContentType("application/json; charset=utf-8")
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.Response.SetBodyString(`{"status":"ok"}` + "\n")
		return
	}
	if x.path == p.cfg.ReadyPath && (method == fasthttp.MethodGet || method == fasthttp.MethodHead) {
		x.observed = false
		ctx.Response.Header.SetContentType("application/json; charset=utf-8")
		ctx.Response.Header.Set("Cache-Control", "no-store")
		if p.cfg.Ready != nil && !p.cfg.Ready() {
			ctx.Response.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.Response.SetBodyString(`{"status":"starting"}` + "\n")
			return
		}
		ctx.Response.SetBodyString(`{"status":"ready"}` + "\n")
		return
	}
	if x.path == p.cfg.SelfRotatePath && p.cfg.Rotator != nil {
		x.observed = false
		p.selfRotate(&x, method)
		return
	}
	if h := p.cfg.Endpoints[x.path]; h != nil {
		x.observed = false
		h(ctx)
		if ctx.Response.StatusCode() == fasthttp.StatusUnauthorized {
			p.slowRefusal(&x)
		}
		return
	}
	if p.sessions != nil && x.path == p.sessions.cfg.Path {
		x.observed = false
		p.sessionEndpoint(&x, method)
		return
	}
	if x.target.host != "" {
		// An absolute-form target names the host; a proxy must ignore the
		// Host header then (RFC 9112, section 3.2.2).
		req.Header.SetHost(x.target.host)
	}
	if x.route, x.prefix = p.table.Load().match(string(req.Header.Host()), x.path, method); x.route == nil {
		p.writeError(&x, fasthttp.StatusNotFound, "no Route matched with those values")
		return
	}
	defer p.countVerification(&x)
	if len(x.route.auths) > 0 && !p.authenticate(&x) {
		return
	}
	if x.who.PlanID != "" && p.cfg.Limiter != nil && !p.limit(&x) {
		p.count(&x, true, 0)
		return
	}
	if x.who.Credits && p.cfg.Credits != nil && !p.spendCredits(&x) {
		p.count(&x, true, 0)
		return
	}
	if x.route.EncryptsPayloads() {
		if !p.openPayload(&x) {
			return
		}
		p.forward(&x)
		p.sealPayload(&x)
		return
	}
	p.forward(&x)
}

// recoverPanic turns a panic on the request path into a 500 for the caller
// and a log line for the operator, as net/http's server would, instead of
// the end of the process: fasthttp's server does not recover.
func (p *Proxy) recoverPanic(x *exchange) {
	v := recover()
	if v == nil {
		return
	}
	p.cfg.Logger.Error("panic on the request path", "request_id", x.id, "panic", v, "stack", string(debug.Stack()))
	x.ctx.Response.Reset()
	x.ctx.SetConnectionClose()
	p.writeError(x, fasthttp.StatusInternalServerError, "An unexpected error occurred")
}

// count tells the meter about a request on x's route: refused by the
// gateway once it knew the caller, or forwarded with sent bytes of answer.
func (p *Proxy) count(x *exchange, refused bool, sent int64) {
	if p.cfg.Meter == nil {
		return
	}
	req := p.meterRequest(x)
	req.Rejected, req.BytesOut = refused, sent
	if refused {
		req.BytesIn = 0
	}
	p.cfg.Meter.Count(&req)
}

// meterRequest is what the meter is told about x, less the answer.
func (p *Proxy) meterRequest(x *exchange) meter.Request {
	req := meter.Request{At: p.cfg.Now(), CredentialID: x.who.CredentialRecord, RouteID: x.route.ID}
	if x.who.Consumer != nil {
		req.ConsumerID = x.who.Consumer.ID
	}
	if n := x.ctx.Request.Header.ContentLength(); n > 0 {
		req.BytesIn = int64(n)
	}
	return req
}

// authenticate runs the route's credential kinds; the first one present
// decides. It writes the refusal itself and reports whether to go on.
func (p *Proxy) authenticate(x *exchange) bool {
	if p.blockedByAnomaly(x) {
		x.outcome = outcomeBlocked
		return false
	}
	rt := x.route
	t := keygate.Target{ServiceID: rt.upstream.service.ID, RouteID: rt.ID, IP: x.client,
		Permissions: rt.permissions(x.ctx.Request.Header.Method())}
	var res auth.Result
	var by auth.Authenticator
	for i, a := range rt.auths {
		var err error
		res, err = a.Authenticate(context.Background(), &x.ctx.Request, t)
		if err != nil {
			x.outcome, x.credential = outcomeError, rt.kind(i)
			if p.cfg.StoreErrors != nil {
				p.cfg.StoreErrors()
			}
			p.cfg.Logger.Error("authentication failed", "request_id", x.id, "route", rt.Name, "error", err)
			p.writeError(x, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable")
			return false
		}
		if by = a; res.Verdict != auth.Absent {
			x.credential = rt.kind(i)
			break
		}
	}
	if err := bodyFailure(&x.ctx.Request); err != nil {
		p.callerBodyFailed(x, err) // 400 or 408, not the 401 of a body that does not match
		return false
	}
	p.observe(x, &res)
	x.verdict = verdictOf(&res)
	switch res.Verdict {
	case auth.Granted:
		x.outcome = outcomeGranted
	case auth.Forbidden:
		x.outcome = outcomeForbidden
	case auth.TooLarge:
		x.outcome = outcomeTooLarge
	case auth.Unauthenticated:
		x.outcome = refusedOutcome(&res)
	default:
		x.outcome = outcomeMissing
	}
	switch {
	case res.Verdict == auth.Granted:
	case res.Verdict == auth.Forbidden:
		if res.WWWAuthenticate != "" {
			x.ctx.Response.Header.Set("WWW-Authenticate", res.WWWAuthenticate)
		}
		p.writeError(x, fasthttp.StatusForbidden, res.Message)
		if res.CredentialRecord != "" {
			x.who = res
			p.count(x, true, 0)
		}
		return false
	case res.Verdict == auth.TooLarge:
		p.writeError(x, fasthttp.StatusRequestEntityTooLarge, res.Message)
		return false
	case rt.anonymous != nil: // Absent or Unauthenticated, as Kong's anonymous
		res = auth.Result{Verdict: auth.Granted, Consumer: rt.anonymous, PlanID: keygate.PlanOf(nil, rt.anonymous)}
		x.credential = credentialAnonymous
		if x.outcome == outcomeMissing {
			x.outcome = outcomeAnonymous
		}
		x.ctx.Request.Header.Set(headerAnonymous, "true")
	default:
		p.slowRefusal(x)
		x.ctx.Response.Header.Set("WWW-Authenticate", cmp.Or(res.WWWAuthenticate, by.Challenge()))
		p.writeError(x, fasthttp.StatusUnauthorized, res.Message)
		return false
	}
	x.who = res
	c := res.Consumer
	if !rt.ACL.Allows(c.Groups) {
		x.outcome = outcomeForbidden
		p.writeError(x, fasthttp.StatusForbidden, "You cannot consume this service")
		p.count(x, true, 0)
		return false
	}
	setIdentity(&x.ctx.Request.Header, c, res.CredentialID, rt.ACL == nil || !rt.ACL.HideGroupsHeader)
	if rt.KeyAuth != nil && len(rt.KeyAuth.ForwardMeta) > 0 && res.Meta != "" {
		forwardMeta(&x.ctx.Request.Header, res.Meta, rt.KeyAuth.ForwardMeta)
	}
	return true
}

// headerKeyMetaPrefix begins the headers that carry a key's meta fields.
const headerKeyMetaPrefix = "X-Key-Meta-"

// forwardMeta sets X-Key-Meta-<Field> for each of fields present in meta:
// a string as it is, anything else as its JSON. Only routes that ask pay
// for decoding it.
func forwardMeta(h *fasthttp.RequestHeader, meta string, fields []string) {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(meta), &m) != nil {
		return
	}
	for _, f := range fields {
		v, ok := m[f]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		if strings.ContainsAny(s, "\r\n") {
			continue // never a header split
		}
		h.Set(http.CanonicalHeaderKey(headerKeyMetaPrefix+f), s)
	}
}

// gatewayHeaders writes what the gateway tells the caller on every answer,
// over any the upstream sent under the same names: the request id, the
// usage plan's state, and the end of the credential's life.
func (p *Proxy) gatewayHeaders(x *exchange) {
	h := &x.ctx.Response.Header
	h.Set(headerRequestID, x.id)
	if x.showLimits {
		rateLimitHeaders(h, &x.limits)
	}
	if !x.who.Sunset.IsZero() || !x.who.DeprecatedAt.IsZero() { // most keys never end: no clock read for them
		sunsetHeaders(h, &x.who, p.cfg.Now(), p.cfg.ExpiryNotice)
	}
}

func setIdentity(h *fasthttp.RequestHeader, c *keygate.Consumer, credentialID string, groups bool) {
	h.Set(headerConsumerID, c.ID)
	if c.Username != "" {
		h.Set(headerConsumerUsername, c.Username)
	}
	if c.CustomID != "" {
		h.Set(headerConsumerCustomID, c.CustomID)
	}
	if credentialID != "" {
		h.Set(headerCredential, credentialID)
	}
	if groups && len(c.Groups) > 0 {
		h.Set(headerConsumerGroups, strings.Join(c.Groups, ", "))
	}
}

func peerIP(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func (p *Proxy) peerTrusted(ctx *fasthttp.RequestCtx) bool {
	return len(p.cfg.TrustedProxies) > 0 && p.trusted(peerIP(ctx))
}

// clientIP is the peer address, or with trusted proxies in front, the
// rightmost X-Forwarded-For address that is not one of them. The walk
// from the right stops at the first untrusted or unreadable hop, and after
// maxTrustedHops trusted ones: only a trusted proxy can put a trusted hop
// to the right of the client's own, and no real chain is that long, so a
// long header costs the gateway a few hops, not one parse a byte (issue 22).
func (p *Proxy) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	ip := peerIP(ctx)
	if !ip.IsValid() || !p.trusted(ip) {
		return ip
	}
	lines := ctx.Request.Header.PeekAll("X-Forwarded-For")
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for {
			if hops++; hops > maxTrustedHops {
				return ip
			}
			j := bytes.LastIndexByte(line, ',')
			hop, err := netip.ParseAddr(string(bytes.TrimSpace(line[j+1:])))
			if err != nil {
				return ip
			}
			if ip = hop.Unmap(); !p.trusted(ip) {
				return ip
			}
			if j < 0 {
				break
			}
			line = line[:j]
		}
	}
	return ip
}

// maxTrustedHops bounds the trusted proxies clientIP walks through.
const maxTrustedHops = 32

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
func scrub(h *fasthttp.RequestHeader) {
	auth.RemoveHeaders(h, scrubbed)
}

func scrubbed(name []byte) bool {
	switch string(name) {
	case headerConsumerID, headerConsumerUsername, headerConsumerCustomID, headerCredential,
		headerConsumerGroups, headerAnonymous, headerRequestID, headerRealIP,
		"X-Forwarded-Port", "X-Forwarded-Path", "X-Forwarded-Prefix", "Forwarded":
		return true
	}
	if len(name) > len(headerKeyMetaPrefix) && strings.EqualFold(string(name[:len(headerKeyMetaPrefix)]), headerKeyMetaPrefix) {
		return true // only the gateway says what a key's meta is
	}
	return !plainHeaderName(name)
}

// plainHeaderName reports a name of letters, digits and "-" only. As nginx
// (ignore_invalid_headers) does, others are dropped: an "_" that an
// upstream's framework reads as "-" (X_Consumer_Id), a space or a dot that
// a lenient parser may cut the name at.
func plainHeaderName(name []byte) bool {
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// requestTarget is a request URI read as net/http reads it
// (url.ParseRequestURI): the path decoded, the query as sent.
type requestTarget struct {
	host    string // from an absolute-form URI ("http://host/path"), else ""
	path    string // decoded
	rawPath string // as sent, when that differs from the decoded path's default encoding; else ""
}

// parseTarget reads a request URI as url.ParseRequestURI does (its
// refusals are 400s). An origin-form target ("/path?query"), nearly every
// one, is read in one pass without url's copies, linear with a small
// constant in what the caller sent (issue 22); others go through url.
func parseTarget(uri []byte) (requestTarget, bool) {
	if len(uri) == 0 || uri[0] != '/' {
		u, err := url.ParseRequestURI(string(uri))
		if err != nil {
			return requestTarget{}, false
		}
		return requestTarget{host: u.Host, path: u.Path, rawPath: u.RawPath}, true
	}
	end := bytes.IndexByte(uri, '?')
	if end < 0 {
		end = len(uri)
	}
	raw := uri[:end]
	if hasCTL(uri[end:]) {
		return requestTarget{}, false
	}
	// asSent: the path as sent is what url.URL would write for the decoded
	// path, so rawPath stays empty. Otherwise it is kept: "!" forwarded as
	// "%21" would be another URI (RFC 3986, section 2.2).
	var kinds uint8 // the kinds of byte seen, or-ed: no branch a byte
	for _, c := range raw {
		kinds |= pathByte[c]
	}
	if kinds&pathCTL != 0 {
		return requestTarget{}, false
	}
	asSent := kinds&pathOther == 0
	if kinds&pathPercent == 0 {
		t := requestTarget{path: string(raw)}
		if !asSent {
			t.rawPath = t.path
		}
		return t, true
	}
	decoded, n := make([]byte, len(raw)), 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return requestTarget{}, false
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			// As sent only if url.URL would write this escape the same: a
			// byte it escapes, in upper-case hex.
			asSent = asSent && pathByte[c] != pathSafe && raw[i+1] == upperHex[c>>4] && raw[i+2] == upperHex[c&15]
			i += 2
		}
		decoded[n] = c
		n++
	}
	decoded = decoded[:n]
	t := requestTarget{path: string(decoded)}
	if !asSent {
		t.rawPath = string(uri[:end])
	}
	return t, true
}

// How parseTarget reads a byte of a path: as url.URL writes it (pathSafe),
// escaped (pathOther), an escape ("%"), or refused (a control byte, which
// no part of a URI may hold: RFC 3986, section 2). Bits, to be or-ed.
const (
	pathSafe    = 0
	pathOther   = 1
	pathPercent = 2
	pathCTL     = 4
)

var pathByte = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c < ' ' || c == 0x7f:
			t[c] = pathCTL
		case c == '%':
			t[c] = pathPercent
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-_.~$&+,/:;=@", byte(c)) >= 0:
			t[c] = pathSafe // what url.PathEscape leaves as it is, and "/"
		default:
			t[c] = pathOther
		}
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// hasCTL reports a control byte, which no part of a URI may hold and
// url.ParseRequestURI refuses: in the query too, which the gateway passes on.
func hasCTL(b []byte) bool {
	for _, c := range b {
		if pathByte[c] == pathCTL {
			return true
		}
	}
	return false
}

// rawQuery is the query of the request URI as it is now (hide_credentials
// may have removed a key from it): all after the first "?".
func rawQuery(r *fasthttp.Request) string {
	uri := r.Header.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return string(uri[i+1:])
	}
	return ""
}

// badPath reports a cleaned path the gateway refuses: one with a disguised
// dot segment, or with a NUL (sent as %00), where C upstreams and file
// systems see the path end (nginx refuses it too) — also encoded once more
// (sent as %2500), for upstreams that decode twice, as hasDotSegment does.
func badPath(p string) bool {
	return strings.IndexByte(p, 0) >= 0 || strings.Contains(p, "%00") || hasDotSegment(p)
}

// hasDotSegment reports a "." or ".." segment that survived cleaning because
// it is disguised: with a ";" parameter ("..;"), encoded once more ("%2e%2e"),
// or between backslashes. Java servlet containers, IIS and servers that
// decode twice resolve them, which would reach outside the matched route.
func hasDotSegment(p string) bool {
	if !strings.ContainsAny(p, ";%\\") {
		return false
	}
	// One pass, no copies (issue 22): only a segment that starts with a
	// dot, plain or escaped, is looked at further.
	for i := 0; i < len(p); i++ {
		if c := p[i]; c != '.' && c != '%' || i > 0 && p[i-1] != '/' && p[i-1] != '\\' {
			continue
		}
		if dotSegmentAt(p[i:]) {
			return true
		}
	}
	return false
}

// dotSegmentAt reports whether s starts with the segment "." or "..", each
// dot possibly sent as "%2e", ended by "/", "\\", a ";" parameter or s's end.
func dotSegmentAt(s string) bool {
	dots := 0
	for ; dots < 3; dots++ {
		if len(s) > 0 && s[0] == '.' {
			s = s[1:]
		} else if len(s) >= 3 && s[0] == '%' && s[1] == '2' && s[2]|0x20 == 'e' {
			s = s[3:]
		} else {
			break
		}
	}
	return (dots == 1 || dots == 2) && (len(s) == 0 || s[0] == '/' || s[0] == '\\' || s[0] == ';')
}

// cleanPath resolves "." and ".." before matching, so that "/public/../partner"
// cannot reach the partner route's upstream through the public route.
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // "*" (OPTIONS *) and other non-origin forms
	}
	if isClean(p) {
		return p // most paths, found faster than path.Clean would
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// isClean reports a path without "//" or "/.", which path.Clean leaves
// as it is (bar a final "/"). One loop: strings.Contains calls a search
// per "/" for each of them.
func isClean(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '/' && (p[i+1] == '/' || p[i+1] == '.') {
			return false
		}
	}
	return true
}

// upstreamPath is the path the upstream sees: the service's path joined
// with the request path, less the matched prefix when the route strips it.
// The caller's own encoding (%2F) is kept when cleaning changed nothing.
func upstreamPath(x *exchange, base *url.URL) url.URL {
	rt := x.route
	rest, rawRest := x.path, ""
	if x.path == x.target.path && x.target.rawPath != "" {
		rawRest = x.target.rawPath
	}
	if rt.StripPath && x.prefix != "" {
		rest = strings.TrimPrefix(rest, x.prefix)
		if rawRest != "" {
			if raw, ok := strings.CutPrefix(rawRest, x.prefix); ok {
				rawRest = raw
			} else {
				rawRest = ""
			}
		}
	}
	u := url.URL{Path: joinPath(base.Path, rest)}
	if rawRest != "" {
		u.RawPath = joinPath(base.EscapedPath(), rawRest)
	}
	return u
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
func (p *Proxy) writeError(x *exchange, status int, message string) {
	x.gatewayAnswered = true
	p.gatewayHeaders(x)
	writeErrorBody(&x.ctx.Response, status, message, x.id)
}

func writeErrorBody(res *fasthttp.Response, status int, message, requestID string) {
	res.SetStatusCode(status)
	res.Header.SetContentType("application/json; charset=utf-8")
	body, _ := json.Marshal(struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}{message, requestID})
	res.SetBodyRaw(append(body, '\n'))
}
