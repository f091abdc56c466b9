package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
)

// MiddlewareConfig configures Middleware: where the caller's key is read,
// what it is checked for, and how refusals are answered.
type MiddlewareConfig struct {
	// Client calls the verify API; its token needs the verifier role.
	Client *Client
	// Headers are the headers a key is read from, in order (default
	// "apikey"); "Authorization: Bearer <key>" is always read too.
	Headers []string
	// Query, when set, is a query parameter a key is read from as well. A
	// key in a URL ends up in logs: prefer headers.
	Query string
	// Service and Route (id or name) are what the key is checked for; a
	// verifier token restricted to services must name one.
	Service, Route string
	// Permissions is the permission query every request must satisfy
	// ("documents.read AND documents.write"); PermissionsFor, when set,
	// gives it per request (per route or method) instead.
	Permissions    string
	PermissionsFor func(*http.Request) string
	// ClientIP gives the caller's address, checked against the key's
	// network restrictions; nil: the request's RemoteAddr. Behind a proxy,
	// read the address the proxy vouches for.
	ClientIP func(*http.Request) string
	// CacheTTL, when positive, keeps VALID answers that long per key (and
	// query and address), sparing a verify call per request. A revoked
	// key then works until its entry expires, and cached requests do not
	// count against the key's limits or credits: keep it short, or 0.
	CacheTTL time.Duration
	// OnRefused writes the answer to a refused key (401, 403 or 429; ans
	// is nil when the request carried no key); nil: the gateway's answer,
	// a JSON {"message", "request_id"}.
	OnRefused func(w http.ResponseWriter, r *http.Request, status int, ans *keygate.VerifyResponse)
	// OnError writes the answer when the key could not be checked (the
	// verify API is down); nil: 503 with the gateway's body.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Logger records failures to verify; nil: slog.Default().
	Logger *slog.Logger
}

type verificationKey struct{}

// VerificationFrom returns the verify API's answer about the request's key,
// which Middleware put in the request's context; nil outside it.
func VerificationFrom(ctx context.Context) *keygate.VerifyResponse {
	v, _ := ctx.Value(verificationKey{}).(*keygate.VerifyResponse)
	return v
}

// Middleware checks the key of every request with the verify API before
// next sees it, so a service outside the gateway refuses what the gateway
// would: 401 without a valid key, 403 for one not allowed here, 429 for one
// out of its limits, and 503, never 401, when the key could not be checked.
// next finds the answer with VerificationFrom(r.Context()).
func Middleware(cfg MiddlewareConfig) func(http.Handler) http.Handler {
	if cfg.Client == nil {
		panic("keygate: client.Middleware needs a Client")
	}
	if len(cfg.Headers) == 0 {
		cfg.Headers = []string{keygate.DefaultKeyName}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &middleware{cfg: cfg}
	if cfg.CacheTTL > 0 {
		m.cache = newVerifyCache(cfg.CacheTTL, 10_000)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next) })
	}
}

type middleware struct {
	cfg   MiddlewareConfig
	cache *verifyCache
}

func (m *middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	key, dup := m.key(r)
	if key == "" {
		msg := "No API key found in request"
		if dup {
			msg = "Duplicate API key found"
		}
		m.refuse(w, r, http.StatusUnauthorized, nil, msg)
		return
	}
	req := keygate.VerifyRequest{Key: key, Service: m.cfg.Service, Route: m.cfg.Route, IP: m.clientIP(r), Permissions: m.cfg.Permissions}
	if m.cfg.PermissionsFor != nil {
		req.Permissions = m.cfg.PermissionsFor(r)
	}
	var ck string
	ans := (*keygate.VerifyResponse)(nil)
	if m.cache != nil {
		ck = cacheKey(req)
		ans = m.cache.get(ck)
	}
	if ans == nil {
		var err error
		ans, err = m.cfg.Client.verify(r.Context(), req)
		if err == nil && req.Permissions != "" && ans.Valid && ans.Permissions == nil {
			// A server that does not know permission queries ignores them:
			// fail closed rather than admit what it did not check.
			err = fmt.Errorf("%w: the verify API did not check the permission query", ErrVerifyUnavailable)
		}
		if err != nil {
			m.cfg.Logger.Error("keygate: key verification failed", "error", err)
			if m.cfg.OnError != nil {
				m.cfg.OnError(w, r, err)
				return
			}
			writeGatewayError(w, http.StatusServiceUnavailable, "Service temporarily unavailable")
			return
		}
		if m.cache != nil && ans.Valid {
			m.cache.put(ck, ans)
		}
	}
	if !ans.Valid {
		m.refuse(w, r, HTTPStatus(ans.Code), ans, refusal(ans.Code))
		return
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verificationKey{}, ans)))
}

// key reads the request's key; dup reports that two different ones were
// sent (the gateway refuses that too).
func (m *middleware) key(r *http.Request) (key string, dup bool) {
	found := func(k string) {
		switch {
		case k == "":
		case key == "":
			key = k
		case key != k:
			dup = true
		}
	}
	for _, h := range m.cfg.Headers {
		for _, v := range r.Header.Values(h) {
			found(strings.TrimSpace(v))
		}
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		found(strings.TrimSpace(a[7:]))
	}
	if m.cfg.Query != "" {
		for _, v := range r.URL.Query()[m.cfg.Query] {
			found(v)
		}
	}
	if dup {
		return "", true
	}
	return key, false
}

func (m *middleware) clientIP(r *http.Request) string {
	if m.cfg.ClientIP != nil {
		return m.cfg.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

func (m *middleware) refuse(w http.ResponseWriter, r *http.Request, status int, ans *keygate.VerifyResponse, msg string) {
	if m.cfg.OnRefused != nil {
		m.cfg.OnRefused(w, r, status, ans)
		return
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Key realm="keygate"`)
	case http.StatusTooManyRequests:
		// As the gateway: when to try again, from the refusing limits' reset.
		if wait := retryAfter(ans); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(wait))
		}
	}
	writeGatewayError(w, status, msg)
}

// retryAfter is the seconds until the latest reset of the answer's
// exhausted limits (a limit's reset is in seconds); 0 when it names none.
func retryAfter(ans *keygate.VerifyResponse) int {
	var after int64
	if ans != nil {
		for _, l := range ans.Limits {
			if l.Remaining <= 0 && l.Reset > after {
				after = l.Reset
			}
		}
	}
	return int(after)
}

// writeGatewayError answers as the gateway does: {"message", "request_id"}.
func writeGatewayError(w http.ResponseWriter, status int, msg string) {
	var id [8]byte
	rand.Read(id[:])
	rid := hex.EncodeToString(id[:])
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Request-ID", rid)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}{msg, rid})
}

// cacheKey names a verify request without holding its key: a hash of
// all the request's fields.
func cacheKey(req keygate.VerifyRequest) string {
	h := sha256.New()
	for _, s := range []string{req.Key, req.Service, req.Route, req.IP, req.Permissions} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// verifyCache keeps VALID answers for a short time, at most max of them;
// when full it starts over, which costs a verify call per key, not memory.
type verifyCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedAnswer
}

type cachedAnswer struct {
	ans     *keygate.VerifyResponse
	expires time.Time
}

func newVerifyCache(ttl time.Duration, max int) *verifyCache {
	return &verifyCache{ttl: ttl, max: max, now: time.Now, entries: map[string]cachedAnswer{}}
}

func (c *verifyCache) get(k string) *keygate.VerifyResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil
	}
	now := c.now()
	if !now.Before(e.expires) || (e.ans.ExpiresAt != nil && !now.Before(*e.ans.ExpiresAt)) {
		delete(c.entries, k)
		return nil
	}
	return e.ans
}

func (c *verifyCache) put(k string, ans *keygate.VerifyResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[k] = cachedAnswer{ans: ans, expires: c.now().Add(c.ttl)}
}
