package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/lifecycle"
	"github.com/keygate/keygate/limiting"
	"github.com/keygate/keygate/meter"
)

// Server serves the admin API. All fields but Logger and Now are required.
type Server struct {
	Store    keygate.Store
	Verifier keygate.KeyVerifier
	Keys     *apikey.Format // generates new keys
	Hasher   *apikey.Hasher // hashes them for the store
	Keyring  *keyring.Manager
	// Rotator rotates keys; nil: one over Store, Keys and Hasher.
	Rotator keygate.KeyRotator
	// Events hears about credential changes (webhooks); nil: nobody.
	Events keygate.Publisher
	// LeakReportKeys verify signed leak reports (GitHub secret scanning),
	// by key identifier; reports without a signature need an admin token.
	LeakReportKeys map[string]*ecdsa.PublicKey
	// TargetHealth reports this node's view of a service's targets' health
	// by URL; nil (a node that does not proxy): every target is unchecked.
	TargetHealth func(serviceID string) map[string]string
	Logger       *slog.Logger // nil: slog.Default()
	// Limiter applies usage plans at verify, as the gateway's does
	// (RateLimitFailOpen likewise); nil: plans are not applied there.
	// LimitEvents sends the events of credits and quotas (nil: none).
	Limiter           keygate.RateLimiter
	RateLimitFailOpen bool
	LimitEvents       *limiting.Events
	// Meter, when set, counts the verify API's answers in usage.
	Meter *meter.Meter
	Now   func() time.Time

	// Verifications counts verify calls for the analytics; nil: not counted.
	Verifications VerificationCounter

	routes registry // what Handler registered
}

// HashAdminToken returns the stored form of an admin token. Admin tokens are
// high-entropy random strings, so a plain SHA-256 suffices: there is nothing
// to brute-force that a pepper or a slow hash would protect.
func HashAdminToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Handler returns the admin API's HTTP handler.
func (s *Server) Handler() http.Handler {
	if s.Rotator == nil {
		s.Rotator = &lifecycle.Rotator{Store: s.Store, Keys: s.Keys, Hasher: s.Hasher, Events: s.Events, Now: s.Now}
	}
	mux := http.NewServeMux()
	s.routes = registry{}
	h := func(pattern string, fn handlerFunc) {
		s.routes.add(pattern)
		mux.Handle(pattern, s.handle(s.consumerScoped(fn)))
	}

	h("GET /healthz", s.health)
	h("GET /v1/openapi.json", s.openAPI)
	s.adminTokenRoutes(h)

	h("POST /v1/services", create(keygate.NewService, s.Store.CreateService))
	h("GET /v1/services", list(s.Store.ListServices))
	h("GET /v1/services/{service}", get("service", s.Store.FindService))
	h("PATCH /v1/services/{service}", updateWith("service", s.Store.UpdateService, patchService))
	h("DELETE /v1/services/{service}", remove("service", s.Store.DeleteService))
	h("GET /v1/services/{service}/routes", s.serviceRoutes)
	s.targetRoutes(h)

	h("POST /v1/routes", s.createRoute)
	h("GET /v1/routes", list(func(ctx context.Context, p keygate.Page) ([]*keygate.Route, string, error) {
		return s.Store.ListRoutes(ctx, keygate.RouteFilter{}, p)
	}))
	h("GET /v1/routes/{route}", get("route", s.Store.FindRoute))
	h("PATCH /v1/routes/{route}", s.updateRoute)
	h("DELETE /v1/routes/{route}", remove("route", s.Store.DeleteRoute))

	h("POST /v1/consumers", create(keygate.NewConsumer, s.Store.CreateConsumer))
	h("GET /v1/consumers", list(s.Store.ListConsumers))
	h("GET /v1/consumers/{consumer}", get("consumer", s.Store.FindConsumer))
	h("PATCH /v1/consumers/{consumer}", updateWith("consumer", s.updateConsumer, nil))
	h("DELETE /v1/consumers/{consumer}", remove("consumer", s.Store.DeleteConsumer))

	h("POST /v1/consumers/{consumer}/keys", s.createKey)
	h("GET /v1/consumers/{consumer}/keys", s.consumerKeys)
	h("GET /v1/keys", s.allKeys)
	h("GET /v1/keys/{id}", get("id", s.Store.FindKey))
	h("PATCH /v1/keys/{id}", s.updateKey)
	h("POST /v1/keys/{id}/revoke", s.revokeKey)
	h("POST /v1/keys/{id}/rotate", s.rotateKey)
	h("DELETE /v1/keys/{id}", remove("id", s.Store.DeleteKey))
	h("POST /v1/keys/verify", s.verifyKey)
	h("POST /v1/leaks", s.reportLeaks)
	h("GET /v1/audit", s.listAudit)
	h("GET /v1/audit/chain", s.auditChain)
	h("GET /v1/audit/head", s.auditHead)
	h("GET /v1/audit/verify", s.verifyAudit)
	h("GET /v1/audit/export", s.exportAudit)

	h("POST /v1/consumers/{consumer}/hmac-credentials", s.createHMACCredential)
	h("GET /v1/consumers/{consumer}/hmac-credentials", s.consumerHMACCredentials)
	h("GET /v1/consumers/{consumer}/hmac-credentials/{id}", s.getHMACCredential)
	h("POST /v1/consumers/{consumer}/hmac-credentials/{id}/revoke", s.revokeHMACCredential)
	h("DELETE /v1/consumers/{consumer}/hmac-credentials/{id}", s.deleteHMACCredential)
	h("GET /v1/hmac-credentials", s.allHMACCredentials)

	s.webhookRoutes(h)

	h("GET /v1/keyring", s.keyringStatus)
	h("GET /v1/nodes", s.listNodes)
	h("POST /v1/keyring/rotate", s.rotateKeyring)
	h("POST /v1/keyring/rewrap", s.rewrapKeyring)
	h("DELETE /v1/keyring/versions/{version}", s.retireKeyringVersion)

	s.accessRoutes(h)
	s.planRoutes(h)
	s.permissionRoutes(h)
	s.oauthClientRoutes(h)
	s.payloadRoutes(h)
	s.analyticsRoutes(h)

	return s.middleware(mux)
}

// handlerFunc is an HTTP handler that leaves writing its error to handle,
// so every error reaches the client through one function.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.error(w, r, err)
		}
	})
}

// middleware gives every request an id, turns panics into 500s, requires an
// admin token everywhere but GET /healthz, checks the token's role against
// the endpoint's permission (roles.go) and answers unknown paths and
// methods in the API's error shape rather than the mux's plain text.
func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !keygate.ValidRequestID(id) {
			id = rand.Text()
		}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		r = r.WithContext(keygate.WithSource(r.Context(), remoteIP(r)))
		w.Header().Set("X-Request-ID", id)
		w.Header().Set("Cache-Control", "no-store") // responses carry credentials and admin data
		w.Header().Set("X-Content-Type-Options", "nosniff")

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.error(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()

		// Deny by default: only the liveness probe is open, so an endpoint
		// added later, or a path the mux resolves in a way not foreseen, can
		// never be reached without a token.
		// A signed leak report proves itself by its signature instead.
		var token *keygate.AdminToken
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/healthz":
		case signedLeakReport(r):
			r = r.WithContext(keygate.WithActor(r.Context(), "leak-report"))
		case accessPickupWithToken(r):
			r = r.WithContext(keygate.WithActor(r.Context(), "pickup-token:"+path.Base(path.Dir(r.URL.Path))))
		default:
			t, err := s.authenticate(r)
			if err != nil {
				s.error(w, r, err)
				return
			}
			r = r.WithContext(withToken(keygate.WithActor(r.Context(), "admin:"+t.Name), t))
			token = t
		}
		// Why an admin did something, for the audit trail; only an admin says.
		if reason := r.Header.Get(headerAuditReason); reason != "" && token != nil {
			if len(reason) > keygate.MaxAuditReason || !utf8.ValidString(reason) || strings.ContainsFunc(reason, unicode.IsControl) {
				s.error(w, r, keygate.Errorf(keygate.EINVALID, "%s: at most %d characters, no control characters", headerAuditReason, keygate.MaxAuditReason))
				return
			}
			r = r.WithContext(keygate.WithReason(r.Context(), reason))
		}
		if h, pattern := mux.Handler(r); pattern == "" {
			// The mux answers with its own 404 or 405; run it on a throwaway
			// writer only to learn which, and the Allow header of a 405.
			probe := &probeWriter{header: http.Header{}}
			h.ServeHTTP(probe, r)
			if probe.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", probe.header.Get("Allow"))
				s.error(w, r, keygate.Errorf(eMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
				return
			}
			s.error(w, r, keygate.Errorf(keygate.ENOTFOUND, "no such endpoint: %s", r.URL.Path))
			return
		} else if token != nil {
			// Roles are checked here, for every endpoint, by the
			// permission its pattern declares (roles.go).
			if err := authorize(token, pattern); err != nil {
				s.error(w, r, err)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(status int)      { p.status = status }

// authenticate checks the request's admin token. A store failure is
// EUNAVAILABLE, never EUNAUTHORIZED: a valid token must not look revoked
// because the database is down.
func (s *Server) authenticate(r *http.Request) (*keygate.AdminToken, error) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "an admin token is required (Authorization: Bearer <token>)")
	}
	t, err := s.Store.FindAdminToken(r.Context(), HashAdminToken(token))
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND || err == nil && t == nil:
		return nil, keygate.Errorf(keygate.EUNAUTHORIZED, "invalid admin token")
	case err != nil:
		return nil, keygate.Unavailable(err, "admin token lookup unavailable, try again later")
	}
	return t, nil
}

// headerAuditReason carries why an admin makes a change; the audit trail
// records it with the change.
const headerAuditReason = "X-Audit-Reason"

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.Store.CountAdminTokens(r.Context()); err != nil {
		return keygate.Unavailable(err, "store unavailable, try again later")
	}
	return reply(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
