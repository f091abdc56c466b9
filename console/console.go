package console

import (
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/internal/web"
	"github.com/keygate/keygate/keyring"
)

// KeyActions are the admin API's key actions (adminapi.Server has them), so
// that a key issued or revoked here goes through the same validation, store
// calls and events as one issued through the API.
type KeyActions interface {
	IssueKey(ctx context.Context, consumer string, req keygate.KeyRequest) (*keygate.IssuedKey, error)
	RevokeKey(ctx context.Context, id string) (*keygate.APIKey, error)
	RotateKey(ctx context.Context, id string, req keygate.RotateKeyRequest) (*keygate.KeyRotation, error)
	KeyringStatus(ctx context.Context) (*keyring.Status, error)
	RotateOAuthClientSecret(ctx context.Context, id string, req keygate.RotateSecretRequest) (*keygate.IssuedOAuthClient, error)
	DecideAccessRequest(ctx context.Context, id string, approve bool, d keygate.AccessDecision) (*keygate.AccessRequest, error)
	CreateWebhook(ctx context.Context, consumer string, req keygate.WebhookRequest) (*keygate.IssuedWebhook, error)
	CreateAdminToken(ctx context.Context, req keygate.AdminTokenRequest) (*keygate.NewAdminToken, error)
	DeleteAdminToken(ctx context.Context, id string) error
	CreateHMACCredential(ctx context.Context, consumer string, req keygate.HMACCredentialRequest) (*keygate.IssuedHMACCredential, error)
	CreateOAuthClient(ctx context.Context, consumer string, req keygate.OAuthClientRequest) (*keygate.IssuedOAuthClient, error)
	ResolveAccessRule(ctx context.Context, rule *keygate.AccessRule) error
	PingWebhook(ctx context.Context, id string) (*keygate.WebhookDelivery, error)
}

// Config is what a console is built from. Store and Keys are required; at
// least one of OIDC and Accounts should be set, or nobody can sign in.
type Config struct {
	Store keygate.Store
	Keys  KeyActions
	// OIDC is single sign-on with the company's identity provider; nil: none.
	OIDC *OIDCConfig
	// Accounts are local users (argon2id password hashes); nil: none.
	Accounts []Account
	// SessionTTL is how long a sign-in lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure even when the request reached
	// keygate over plain HTTP (behind a proxy that terminates TLS).
	SecureCookies bool
	Logger        *slog.Logger // nil: slog.Default()
	Now           func() time.Time
}

// DefaultSessionTTL is how long a sign-in lasts by default: a working day.
const DefaultSessionTTL = 8 * time.Hour

// Server serves the console under /ui/.
type Server struct {
	cfg      Config
	oidc     *oidcClient
	accounts map[string]Account // by lower-case name
	pages    map[string]*template.Template
	// hashing bounds concurrent argon2id checks (64 MiB each), so a burst
	// of sign-in attempts cannot exhaust memory.
	hashing   chan struct{}
	dummyOnce sync.Once
	dummy     string
	// failures throttles local sign-ins per account name and per client
	// address.
	failures *throttle
}

// Failed local sign-ins allowed per window: per account name, and per
// client address (several people behind one NAT, or an office proxy).
const (
	signinWindow      = 15 * time.Minute
	signinNameLimit   = 10
	signinRemoteLimit = 50
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New checks cfg and parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, fmt.Errorf("console: Store and Keys are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, accounts: map[string]Account{}, pages: map[string]*template.Template{}, hashing: make(chan struct{}, 2),
		failures: newThrottle(signinWindow)}
	for _, a := range cfg.Accounts {
		if err := ValidRole(a.Role); err != nil {
			return nil, fmt.Errorf("console: account %s: %v", a.Name, err)
		}
		s.accounts[strings.ToLower(a.Name)] = a
	}
	if cfg.OIDC != nil {
		o, err := newOIDCClient(*cfg.OIDC)
		if err != nil {
			return nil, err
		}
		s.oidc = o
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"when": web.When, "canRevoke": func(k *keygate.APIKey) bool { return k.Status == keygate.KeyActive },
		"join": strings.Join, "credentials": credentials, "has": has, "dict": dict}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		// Files named _*.html hold pieces several pages share.
		t, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", name)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		s.pages[base] = t
	}
	return s, nil
}

// Handler serves the console; mount it at /ui/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.handle(fn)) }
	// read pages need a session; write actions also a CSRF token and a
	// role that may change things.
	read := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.handle(s.signedIn(fn, false))) }
	write := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.handle(s.signedIn(fn, true))) }

	mux.Handle("GET /ui/static/", s.static())
	open("GET /ui/signin", s.signinPage)
	open("POST /ui/signin", s.signinLocal)
	open("GET /ui/oidc/start", s.oidcStart)
	open("GET /ui/oidc/callback", s.oidcCallback)
	open("POST /ui/signout", s.signout)

	read("GET /ui/{$}", s.dashboard)
	read("GET /ui/consumers", s.consumers)
	write("POST /ui/consumers", s.allowed("POST /v1/consumers", s.createConsumer))
	read("GET /ui/consumers/{id}", s.consumer)
	write("POST /ui/consumers/{id}/keys", s.allowed("POST /v1/consumers/{consumer}/keys", s.createKey))
	read("GET /ui/keys/{id}/revoke", s.revokePage)
	write("POST /ui/keys/{id}/revoke", s.allowed("POST /v1/keys/{id}/revoke", s.revokeKey))
	read("GET /ui/audit", s.audit)

	// Later pages: each write names the admin API endpoint it stands for,
	// and the user's role must be allowed that endpoint (adminapi.Allowed).
	act := func(pattern, api string, fn handlerFunc) { write(pattern, s.allowed(api, fn)) }
	act("POST /ui/consumers/{id}", "PATCH /v1/consumers/{consumer}", s.updateConsumer)
	act("POST /ui/consumers/{id}/delete", "DELETE /v1/consumers/{consumer}", s.deleteConsumer)
	read("GET /ui/services", s.services)
	act("POST /ui/services", "POST /v1/services", s.createService)
	read("GET /ui/services/{id}", s.service)
	act("POST /ui/services/{id}", "PATCH /v1/services/{service}", s.updateService)
	act("POST /ui/services/{id}/delete", "DELETE /v1/services/{service}", s.deleteService)
	act("POST /ui/services/{id}/routes", "POST /v1/routes", s.createRoute)
	read("GET /ui/routes", s.routes)
	read("GET /ui/routes/{id}", s.route)
	act("POST /ui/routes/{id}", "PATCH /v1/routes/{route}", s.updateRoute)
	act("POST /ui/routes/{id}/delete", "DELETE /v1/routes/{route}", s.deleteRoute)
	read("GET /ui/keys/{id}/rotate", s.rotatePage)
	act("POST /ui/keys/{id}/rotate", "POST /v1/keys/{id}/rotate", s.rotateKey)
	read("GET /ui/keys/{id}", s.keyTimeline)
	act("POST /ui/keys/{id}", "PATCH /v1/keys/{id}", s.updateKey)
	read("GET /ui/plans", s.plans)
	act("POST /ui/plans", "POST /v1/plans", s.createPlan)
	read("GET /ui/plans/{id}", s.plan)
	act("POST /ui/plans/{id}", "PATCH /v1/plans/{plan}", s.updatePlan)
	act("POST /ui/plans/{id}/delete", "DELETE /v1/plans/{plan}", s.deletePlan)
	read("GET /ui/credentials/hmac", s.hmacCredentials)
	read("GET /ui/credentials/oauth", s.oauthClients)
	read("GET /ui/hmac-credentials/{id}/revoke", s.revokeHMACPage)
	act("POST /ui/hmac-credentials/{id}/revoke", "POST /v1/consumers/{consumer}/hmac-credentials/{id}/revoke", s.revokeHMAC)
	read("GET /ui/oauth-clients/{id}/revoke", s.revokeOAuthPage)
	act("POST /ui/oauth-clients/{id}/revoke", "POST /v1/oauth-clients/{id}/revoke", s.revokeOAuth)
	read("GET /ui/oauth-clients/{id}/rotate", s.rotateOAuthPage)
	act("POST /ui/oauth-clients/{id}/rotate", "POST /v1/oauth-clients/{id}/rotate-secret", s.rotateOAuth)
	read("GET /ui/access", s.accessRequests)
	write("POST /ui/access/{id}", s.decideAccess)
	read("GET /ui/usage", s.allowed("GET /v1/usage", s.usage))
	read("GET /ui/usage.csv", s.allowed("GET /v1/usage", s.usageCSV))
	read("GET /ui/keyring", s.allowed("GET /v1/keyring", s.keyring))
	read("GET /ui/nodes", s.allowed("GET /v1/nodes", s.nodes))
	act("POST /ui/consumers/{id}/hmac-credentials", "POST /v1/consumers/{consumer}/hmac-credentials", s.createHMAC)
	act("POST /ui/consumers/{id}/oauth-clients", "POST /v1/consumers/{consumer}/oauth-clients", s.createOAuthClient)
	read("GET /ui/admin-tokens", s.allowed("GET /v1/admin-tokens", s.adminTokens))
	act("POST /ui/admin-tokens", "POST /v1/admin-tokens", s.createAdminToken)
	act("POST /ui/admin-tokens/{id}/delete", "DELETE /v1/admin-tokens/{id}", s.deleteAdminToken)
	read("GET /ui/access-rules", s.accessRules)
	act("POST /ui/access-rules", "POST /v1/access-rules", s.createAccessRule)
	read("GET /ui/access-rules/{id}", s.accessRule)
	act("POST /ui/access-rules/{id}", "PATCH /v1/access-rules/{rule}", s.updateAccessRule)
	act("POST /ui/access-rules/{id}/delete", "DELETE /v1/access-rules/{rule}", s.deleteAccessRule)
	read("GET /ui/webhooks", s.webhooks)
	act("POST /ui/webhooks", "POST /v1/webhooks", s.createWebhook)
	read("GET /ui/webhooks/{id}", s.webhook)
	act("POST /ui/webhooks/{id}", "PATCH /v1/webhooks/{id}", s.updateWebhook)
	act("POST /ui/webhooks/{id}/delete", "DELETE /v1/webhooks/{id}", s.deleteWebhook)
	act("POST /ui/webhooks/{id}/test", "POST /v1/webhooks/{id}/test", s.pingWebhook)
	open("/ui/", func(w http.ResponseWriter, r *http.Request) error {
		return keygate.Errorf(keygate.ENOTFOUND, "no such page: %s", r.URL.Path)
	})
	return web.Secure(mux, cspHeader, "/ui/static/", s.fail)
}

// cspHeader allows nothing but this origin's own stylesheet and images: no
// inline script or style, no frames, forms only to the console.
const cspHeader = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return web.Static("/ui/static/", sub, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, keygate.Errorf(keygate.ENOTFOUND, "no such page: %s", r.URL.Path))
	}))
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

func status(code string) int { return web.Status(code) }

// fail renders err as an error page: the message of an application error,
// a request id only for an internal one (whose detail goes to the log).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := keygate.ErrorCode(err)
	st := status(code)
	msg := keygate.ErrorMessage(err)
	if st >= 500 {
		id := rand.Text()[:12]
		s.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "console: request failed", slog.String("path", r.URL.Path),
			slog.String("request_id", id), slog.Any("err", err))
		msg = "Something went wrong on our side (request " + id + "). Try again, or ask an administrator to look in the log."
		if st == http.StatusServiceUnavailable {
			msg = "The store is unavailable right now (request " + id + "). Try again in a moment."
		}
	}
	sess, _ := r.Context().Value(sessionKey{}).(*session)
	s.render(w, r, st, "error", sess, "Error", map[string]any{"Status": st, "StatusText": http.StatusText(st), "Message": msg})
}

// view is what every page template gets.
type view struct {
	Title    string
	Nav      string
	User     string
	Role     string
	CSRF     string
	CanWrite bool
	Data     any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, st int, page string, sess *session, title string, data any) error {
	t := s.pages[page]
	if t == nil {
		return fmt.Errorf("console: no template %q", page)
	}
	v := view{Title: title, Nav: page, Data: data}
	if sess != nil {
		v.User, v.Role, v.CSRF, v.CanWrite = sess.User, sess.Role, sess.csrf, canWrite(sess.Role)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		return fmt.Errorf("console: render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(st)
	_, err := w.Write([]byte(b.String()))
	return err
}

// canWrite says whether role may change things through the console. The
// auditor reads only; keyring and root actions (later pages) will need
// RoleAdmin.
func canWrite(role string) bool { return role == keygate.RoleAdmin || role == keygate.RoleOperator }

// Sessions.

const (
	sessionCookie = "keygate_console"
	signinCookie  = "keygate_signin" // the sign-in form's CSRF token (double submit)
	oidcCookie    = "keygate_oidc"   // state, nonce and PKCE verifier of a sign-in in progress
	cookiePath    = "/ui/"
)

type session struct {
	keygate.ConsoleSession
	csrf string
}

type sessionKey struct{}

func tokenHash(token string) []byte { return web.TokenHash(token) }

// csrfToken is the session's synchronizer token (web.CSRFToken).
func csrfToken(token string) string { return web.CSRFToken(token, "keygate console csrf") }

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: cookiePath, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.cfg.SecureCookies || r.TLS != nil}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// startSession signs user in with role and sends the browser to the
// dashboard.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user, role, method string) error {
	token := rand.Text() + rand.Text() // 2×26 base32 characters: 260 bits
	sess := &keygate.ConsoleSession{TokenHash: tokenHash(token), User: user, Role: role, Method: method,
		ExpiresAt: s.cfg.Now().Add(s.cfg.SessionTTL)}
	if err := s.cfg.Store.CreateConsoleSession(r.Context(), sess); err != nil {
		return err
	}
	s.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "console: signed in", slog.String("user", user),
		slog.String("role", role), slog.String("method", method))
	s.setCookie(w, r, sessionCookie, token, s.cfg.SessionTTL)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
	return nil
}

// currentSession is the session the request's cookie names; nil when none
// is live.
func (s *Server) currentSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 200 {
		return nil, nil
	}
	cs, err := s.cfg.Store.FindConsoleSession(r.Context(), tokenHash(c.Value))
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, err
	case ValidRole(cs.Role) != nil: // a consumer portal's session: not a console user
		return nil, nil
	}
	return &session{ConsoleSession: *cs, csrf: csrfToken(c.Value)}, nil
}

// signedIn wraps fn for signed-in users: without a session a page sends
// the browser to sign in, and a post is refused. A post (write) must also
// carry the session's CSRF token, come from this origin, and be made by a
// role that may change things — checked here, on the server, whatever the
// page showed.
func (s *Server) signedIn(fn handlerFunc, write bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.currentSession(r)
		if err != nil {
			return err
		}
		if sess == nil {
			if write {
				return keygate.Errorf(keygate.EFORBIDDEN, "You are not signed in, or your session has expired: sign in and try again.")
			}
			http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
			return nil
		}
		r = r.WithContext(context.WithValue(keygate.WithActor(r.Context(), "user:"+sess.User), sessionKey{}, sess))
		if write {
			if err := s.checkPost(r, sess.csrf); err != nil {
				return err
			}
			if !canWrite(sess.Role) {
				return keygate.Errorf(keygate.EFORBIDDEN, "Your role (%s) may look but not change anything.", sess.Role)
			}
		}
		return fn(w, r)
	}
}

// checkPost refuses a post from another origin or without the expected
// CSRF token.
func (s *Server) checkPost(r *http.Request, want string) error { return web.CheckPost(r, want) }

func sessionFrom(ctx context.Context) *session {
	sess, _ := ctx.Value(sessionKey{}).(*session)
	return sess
}

// allowed refuses fn to a role the admin API would refuse api ("METHOD
// /v1/pattern"), so the console never lets a person do more than their
// role's token could.
func (s *Server) allowed(api string, fn handlerFunc) handlerFunc {
	method, pattern, _ := strings.Cut(api, " ")
	return func(w http.ResponseWriter, r *http.Request) error {
		sess := sessionFrom(r.Context())
		if sess == nil || !adminapi.Allowed(sess.Role, method, pattern) {
			return keygate.Errorf(keygate.EFORBIDDEN, "Your role may not do this (%s).", api)
		}
		return fn(w, r)
	}
}

// credentials says which credentials a route takes.
func credentials(rt *keygate.Route) string {
	var kinds []string
	if rt.KeyAuth != nil {
		kinds = append(kinds, "API key")
	}
	if rt.HMACAuth != nil {
		kinds = append(kinds, "HMAC")
	}
	if rt.OAuth2 != nil {
		kinds = append(kinds, "OAuth 2.0")
	}
	if len(kinds) == 0 {
		return "none (open)"
	}
	return strings.Join(kinds, ", ")
}
