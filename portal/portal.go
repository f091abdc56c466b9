package portal

import (
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/web"
)

// Actions are the admin API's in-process actions (adminapi.Server has them),
// so that what a portal user does goes through the same validation, store
// calls and events as the API. The portal checks, before each, that its user
// acts for the consumer concerned.
type Actions interface {
	IssueKey(ctx context.Context, consumer string, req keygate.KeyRequest) (*keygate.IssuedKey, error)
	RevokeKey(ctx context.Context, id string) (*keygate.APIKey, error)
	RotateKey(ctx context.Context, id string, req keygate.RotateKeyRequest) (*keygate.KeyRotation, error)
	RequestAccess(ctx context.Context, in keygate.AccessRequestInput, by string) (*keygate.CreatedAccessRequest, error)
	PickUpAccess(ctx context.Context, id string) (*keygate.AccessPickup, error)
	CreateWebhook(ctx context.Context, consumerID string, req keygate.WebhookRequest) (*keygate.IssuedWebhook, error)
}

// Config is what a portal is built from. Store and Actions are required; at
// least one of OIDC and Accounts should be set, or nobody can sign in.
type Config struct {
	Store   keygate.Store
	Actions Actions
	// OIDC is sign-in with the company's identity provider; nil: none.
	OIDC *OIDCConfig
	// Accounts are local users (argon2id password hashes); nil: none.
	Accounts []Account
	// SessionTTL is how long a sign-in lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure even over plain HTTP (behind a
	// proxy that terminates TLS).
	SecureCookies bool
	Logger        *slog.Logger // nil: slog.Default()
	Now           func() time.Time
}

// OIDCConfig is sign-in through an OpenID Connect provider (code flow with
// PKCE). A claim of the ID token names the consumers a user acts for.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client
	// RedirectURL is https://<portal host>/portal/oidc/callback.
	RedirectURL string
	// ConsumerClaim holds the user's groups (a string or a list; a dotted
	// name reaches into objects). Default "groups".
	ConsumerClaim string
	// Consumers maps values of ConsumerClaim to the consumers (ids or
	// usernames) a user with that value acts for; a user mapped to none is
	// refused.
	Consumers  map[string][]string
	Scopes     []string // beyond openid; default email, profile (and groups)
	HTTPClient *http.Client
}

// Validate reports the first setting that is wrong, naming it.
func (c *OIDCConfig) Validate() error {
	iss, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		return fmt.Errorf("oidc issuer: required")
	case err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "":
		return fmt.Errorf("oidc issuer: must be an http(s) URL")
	case c.ClientID == "":
		return fmt.Errorf("oidc client id: required")
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "/portal/oidc/callback" {
		return fmt.Errorf("oidc redirect url: must be an http(s) URL ending in /portal/oidc/callback")
	}
	if len(c.Consumers) == 0 {
		return fmt.Errorf("oidc consumers: map at least one value of the %s claim to a consumer (value=consumer)", cmpOr(c.ConsumerClaim, "groups"))
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// DefaultSessionTTL is how long a sign-in lasts by default.
const DefaultSessionTTL = 8 * time.Hour

// Server serves the portal under /portal/.
type Server struct {
	cfg       Config
	oidc      *web.OIDC
	accounts  map[string]Account
	pages     map[string]*template.Template
	hashing   chan struct{} // bounds concurrent argon2id checks
	dummyOnce sync.Once
	dummy     string
	failures  *web.Throttle // failed local sign-ins per name and per address
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New checks cfg and parses the templates.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Actions == nil {
		return nil, fmt.Errorf("portal: Store and Actions are required")
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
		failures: web.NewThrottle(signinWindow)}
	for _, a := range cfg.Accounts {
		s.accounts[strings.ToLower(a.Name)] = a
	}
	if o := cfg.OIDC; o != nil {
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("portal: %w", err)
		}
		o.ConsumerClaim = cmpOr(o.ConsumerClaim, "groups")
		scopes := o.Scopes
		if scopes == nil {
			scopes = []string{"email", "profile"}
			if o.ConsumerClaim == "groups" {
				scopes = append(scopes, "groups")
			}
		}
		s.oidc = &web.OIDC{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
			Scopes: scopes, HTTPClient: o.HTTPClient}
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"when": web.When, "active": func(k *keygate.APIKey) bool { return k.Status == keygate.KeyActive }}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", name, err)
		}
		s.pages[base] = t
	}
	return s, nil
}

// Handler serves the portal; mount it at /portal/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	open := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.handle(fn)) }
	read := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.handle(s.signedIn(fn, false))) }
	write := func(pattern string, fn handlerFunc) { mux.Handle(pattern, s.handle(s.signedIn(fn, true))) }

	mux.Handle("GET /portal/static/", s.static())
	open("GET /portal/signin", s.signinPage)
	open("POST /portal/signin", s.signinLocal)
	open("GET /portal/oidc/start", s.oidcStart)
	open("GET /portal/oidc/callback", s.oidcCallback)
	open("POST /portal/signout", s.signout)

	read("GET /portal/{$}", s.home)
	read("GET /portal/apps/{id}", s.app)
	write("POST /portal/apps/{id}/keys", s.createKey)
	write("POST /portal/keys/{id}/rotate", s.rotateKey)
	read("GET /portal/keys/{id}/revoke", s.revokePage)
	write("POST /portal/keys/{id}/revoke", s.revokeKey)
	write("POST /portal/apps/{id}/access", s.requestAccess)
	write("POST /portal/apps/{id}/plan", s.changePlan)
	write("POST /portal/access/{id}/pickup", s.pickUp)
	write("POST /portal/apps/{id}/webhooks", s.createWebhook)
	write("POST /portal/webhooks/{id}/delete", s.deleteWebhook)
	read("GET /portal/apps/{id}/usage", s.usage)
	read("GET /portal/apps/{id}/docs", s.docs)
	read("GET /portal/apps/{id}/docs/{service}", s.serviceDocs)
	open("/portal/", func(w http.ResponseWriter, r *http.Request) error {
		return keygate.Errorf(keygate.ENOTFOUND, "no such page: %s", r.URL.Path)
	})
	return web.Secure(mux, cspHeader, "/portal/static/", s.fail)
}

// cspHeader allows nothing but this origin's stylesheet: no script at all,
// no inline style, no frames, forms only to the portal.
const cspHeader = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return web.Static("/portal/static/", sub, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

// fail renders err as an error page: an application error's message, a
// request id only for an internal one (whose detail goes to the log).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	st := web.Status(keygate.ErrorCode(err))
	msg := keygate.ErrorMessage(err)
	if st >= 500 {
		id := rand.Text()[:12]
		s.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "portal: request failed", slog.String("path", r.URL.Path),
			slog.String("request_id", id), slog.Any("err", err))
		msg = "Something went wrong on our side (request " + id + "). Try again, or tell the platform team."
		if st == http.StatusServiceUnavailable {
			msg = "The service is unavailable right now (request " + id + "). Try again in a moment."
		}
	}
	s.render(w, r, st, "error", sessionFrom(r.Context()), "Error", map[string]any{"Status": st, "StatusText": http.StatusText(st), "Message": msg})
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	User  string
	CSRF  string
	Data  any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, st int, page string, sess *session, title string, data any) error {
	t := s.pages[page]
	if t == nil {
		return fmt.Errorf("portal: no template %q", page)
	}
	v := view{Title: title, Nav: page, Data: data}
	if sess != nil {
		v.User, v.CSRF = sess.User, sess.csrf
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		return fmt.Errorf("portal: render %s: %w", page, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(st)
	_, err := w.Write([]byte(b.String()))
	return err
}

// Sessions live in the console's session table (keygate.ConsoleSession),
// told apart by their role: "portal:" and the ids of the consumers the user
// acts for, resolved at sign-in. The console refuses such a session.

const (
	sessionCookie = "keygate_portal"
	signinCookie  = "keygate_portal_signin" // the sign-in form's CSRF token (double submit)
	oidcCookie    = "keygate_portal_oidc"   // state, nonce and PKCE verifier of a sign-in in progress
	cookiePath    = "/portal/"
	rolePrefix    = "portal:"
	csrfLabel     = "keygate portal csrf"
)

type session struct {
	keygate.ConsoleSession
	Consumers []string // ids
	csrf      string
}

// owns reports whether the session's user acts for consumer id.
func (s *session) owns(id string) bool { return slices.Contains(s.Consumers, id) }

type sessionKey struct{}

func sessionFrom(ctx context.Context) *session {
	sess, _ := ctx.Value(sessionKey{}).(*session)
	return sess
}

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

// resolveConsumers turns consumer references (ids or usernames) into ids,
// leaving out those that do not exist (a mapping may name a consumer not
// created yet).
func (s *Server) resolveConsumers(ctx context.Context, refs []string) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		c, err := s.cfg.Store.FindConsumer(ctx, ref)
		switch {
		case keygate.ErrorCode(err) == keygate.ENOTFOUND:
			continue
		case err != nil:
			return nil, err
		}
		if !slices.Contains(ids, c.ID) {
			ids = append(ids, c.ID)
		}
		if len(ids) == MaxConsumers {
			break
		}
	}
	return ids, nil
}

// startSession signs user in for consumers and sends the browser home.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, user, method string, consumers []string) error {
	token := rand.Text() + rand.Text() // 260 bits
	sess := &keygate.ConsoleSession{TokenHash: web.TokenHash(token), User: user, Role: rolePrefix + strings.Join(consumers, ","),
		Method: "portal-" + method, ExpiresAt: s.cfg.Now().Add(s.cfg.SessionTTL)}
	if err := s.cfg.Store.CreateConsoleSession(r.Context(), sess); err != nil {
		return err
	}
	s.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "portal: signed in", slog.String("user", user),
		slog.String("method", method), slog.Int("consumers", len(consumers)))
	s.setCookie(w, r, sessionCookie, token, s.cfg.SessionTTL)
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
	return nil
}

// currentSession is the portal session the request's cookie names; nil when
// none is live (or the token names a console session).
func (s *Server) currentSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 200 {
		return nil, nil
	}
	cs, err := s.cfg.Store.FindConsoleSession(r.Context(), web.TokenHash(c.Value))
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, err
	}
	ids, ok := strings.CutPrefix(cs.Role, rolePrefix)
	if !ok || !strings.HasPrefix(cs.Method, "portal-") {
		return nil, nil
	}
	sess := &session{ConsoleSession: *cs, csrf: web.CSRFToken(c.Value, csrfLabel)}
	if ids != "" {
		sess.Consumers = strings.Split(ids, ",")
	}
	return sess, nil
}

// signedIn wraps fn for signed-in users: without a session a page sends the
// browser to sign in and a post is refused; a post must carry the session's
// CSRF token and come from this origin. The audit actor is portal:<user>.
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
			http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
			return nil
		}
		r = r.WithContext(context.WithValue(keygate.WithActor(r.Context(), rolePrefix+sess.User), sessionKey{}, sess))
		if write {
			if err := web.CheckPost(r, sess.csrf); err != nil {
				return err
			}
		}
		return fn(w, r)
	}
}

// notYours is the answer for a consumer, key, request or webhook the user
// does not act for: the same as for one that does not exist, so the portal
// tells nobody what others have.
func notYours(what string) error {
	return keygate.Errorf(keygate.ENOTFOUND, "No such %s among your applications.", what)
}
