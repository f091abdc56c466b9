package oauth2server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
)

// Store is what the server reads and writes.
type Store interface {
	FindOAuthClient(ctx context.Context, ref string) (*keygate.OAuthClient, error)
	RevokeAccessToken(ctx context.Context, t *keygate.RevokedToken) error
}

// SecretHasher hashes a presented client secret as the stored one was
// (*apikey.Hasher).
type SecretHasher interface {
	HashSecret(id, secret string) [sha256.Size]byte
}

// Denylist says whether a token was revoked (*accesstoken.Denylist).
type Denylist interface {
	Revoked(jti string) bool
}

// ReplayGuard remembers what was seen until when: a private_key_jwt
// assertion's jti is accepted once. hmacauth's in-memory and Redis guards
// are ones, so in a cluster with Redis an assertion is single-use across
// nodes.
type ReplayGuard interface {
	Seen(ctx context.Context, credential, key string, until time.Time) (bool, error)
}

// Metrics counts token requests by result: "issued" or the RFC 6749 error
// code of the refusal. No client label: the set of clients is unbounded.
type Metrics interface {
	OAuth2Token(result string)
}

// Config configures a Server. Store, Hasher, Denylist and Replay are
// required; the issuer may be set later (SetIssuer), before serving.
type Config struct {
	// Issuer is the "iss" of every token and the base of every endpoint's
	// URL (accesstoken.ValidIssuer).
	Issuer string
	// Audience is the "aud" of every token; empty: the issuer.
	Audience string
	Store    Store
	Hasher   SecretHasher
	Denylist Denylist
	Replay   ReplayGuard
	Events   keygate.Publisher // nil: no events
	Metrics  Metrics           // nil: not counted
	Logger   *slog.Logger      // nil: slog.Default()
	Now      func() time.Time  // nil: time.Now
	// HTTPClient fetches clients' jwks_uri; nil: one with a 5 s timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on assertions and on tokens
	// presented for introspection; zero: accesstoken.DefaultLeeway.
	Leeway time.Duration
}

// MaxAssertionLifetime bounds a client assertion's exp (RFC 7523 §3: the
// server may refuse one that lives too long); with the jti kept that long,
// an assertion is good for one request.
const MaxAssertionLifetime = 5 * time.Minute

// maxBody bounds a request's form.
const maxBody = 64 << 10

// Server serves the endpoints. Its keys and issuer are swapped atomically
// (SetKeys, SetIssuer), so requests in flight finish on what they started
// with.
type Server struct {
	cfg   Config
	state atomic.Pointer[state]
	mu    sync.Mutex // one SetKeys or SetIssuer at a time
	jwks  *jwksCache
	// dummy is compared against when the client is unknown, so that an
	// unknown client and a wrong secret cost the same.
	dummy [sha256.Size]byte
}

// state is what SetKeys and SetIssuer change, read once per request.
type state struct {
	issuer, audience, tokenURL string
	keys                       *accesstoken.KeySet
	current                    *accesstoken.SigningKey
	verifier                   *accesstoken.Verifier
	jwks, metadata             []byte
}

// New checks cfg and returns a server with no keys yet (tokens are refused
// with 503 until SetKeys).
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("oauth2 server: a store is required")
	case cfg.Hasher == nil:
		return nil, errors.New("oauth2 server: a secret hasher is required")
	case cfg.Denylist == nil:
		return nil, errors.New("oauth2 server: a denylist is required")
	case cfg.Replay == nil:
		return nil, errors.New("oauth2 server: a replay guard is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = accesstoken.DefaultLeeway
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	s := &Server{cfg: cfg, jwks: newJWKSCache(cfg.HTTPClient, cfg.Now)}
	s.dummy = cfg.Hasher.HashSecret("kgc_", "no such client")
	s.state.Store(&state{keys: &accesstoken.KeySet{}})
	if cfg.Issuer != "" {
		if err := s.SetIssuer(cfg.Issuer); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetIssuer sets the issuer (and the audience, unless configured), for a
// default that depends on the address the listener got.
func (s *Server) SetIssuer(issuer string) error {
	meta, err := accesstoken.NewMetadata(issuer)
	if err != nil {
		return fmt.Errorf("oauth2 server: %w", err)
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.state.Load()
	st.issuer, st.audience, st.tokenURL, st.metadata = issuer, cmpOr(s.cfg.Audience, issuer), meta.TokenEndpoint, metaJSON
	s.swap(&st)
	return nil
}

// Issuer is the issuer set.
func (s *Server) Issuer() string { return s.state.Load().issuer }

// SetKeys makes set the signing keys: its Current key signs from now on,
// all of its keys are published and verify.
func (s *Server) SetKeys(set *accesstoken.KeySet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.state.Load()
	st.keys, st.current = set, set.Current()
	jwks, _ := json.Marshal(set.JWKS()) // public keys: always marshal
	st.jwks = jwks
	s.swap(&st)
}

// Keys is the key set in use.
func (s *Server) Keys() *accesstoken.KeySet { return s.state.Load().keys }

func (s *Server) swap(st *state) {
	st.verifier = &accesstoken.Verifier{Issuer: st.issuer, Audience: st.audience, Keys: st.keys.PublicKeys(),
		Leeway: s.cfg.Leeway, Now: s.cfg.Now}
	s.state.Store(st)
}

// Paths are the paths the server answers, for the listener to route to it.
func Paths() []string {
	return []string{accesstoken.TokenPath, accesstoken.IntrospectionPath, accesstoken.RevocationPath,
		accesstoken.JWKSPath, accesstoken.MetadataPath}
}

// ServeHTTP routes to the endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	switch r.URL.Path {
	case accesstoken.TokenPath:
		s.token(w, r, st)
	case accesstoken.IntrospectionPath:
		s.introspect(w, r, st)
	case accesstoken.RevocationPath:
		s.revoke(w, r, st)
	case accesstoken.JWKSPath:
		s.document(w, r, st.jwks, "application/jwk-set+json")
	case accesstoken.MetadataPath:
		s.document(w, r, st.metadata, "application/json")
	default:
		http.NotFound(w, r)
	}
}

// document serves a public JSON document, cacheable for a minute: a new
// signing key is published for far longer than that before it signs.
func (s *Server) document(w http.ResponseWriter, r *http.Request, body []byte, contentType string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, oauthError{Code: "invalid_request", Description: "use GET"})
		return
	}
	if body == nil {
		writeJSON(w, http.StatusServiceUnavailable, oauthError{Code: "temporarily_unavailable", Description: "the issuer is not configured yet"})
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	status      int
	basic       bool   // the client tried Basic: 401 carries WWW-Authenticate
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: "invalid_request", Description: fmt.Sprintf(format, args...)}
}

// errClient is every failed client authentication, whatever failed: the
// answer does not tell an unknown client from a wrong secret.
func errClient(basic bool) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, basic: basic, Code: "invalid_client", Description: "client authentication failed"}
}

// fail writes e; a technical failure (err not an *oauthError) is logged and
// answered 503, never mistaken for a refusal.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *oauthError
	if !errors.As(err, &e) {
		s.cfg.Logger.Error("oauth2: request failed", "path", r.URL.Path, "error", err)
		e = &oauthError{status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "try again later"}
	}
	if e.basic && e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="keygate", charset="UTF-8"`)
	}
	writeJSON(w, e.status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// readForm reads a POSTed form body (RFC 6749 §3.2: POST,
// application/x-www-form-urlencoded; no parameter twice; credentials never
// in the query).
func readForm(w http.ResponseWriter, r *http.Request) (map[string]string, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &oauthError{status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "use POST"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, invalidRequest("the body must be application/x-www-form-urlencoded")
	}
	if q := r.URL.Query(); q.Has("client_secret") || q.Has("client_assertion") {
		return nil, invalidRequest("client credentials must not be in the URL")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &oauthError{status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "the body is too large"}
		}
		return nil, invalidRequest("the body is not a valid form")
	}
	form := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, invalidRequest("parameter %s given more than once", safeName(k))
		}
		form[k] = v[0]
	}
	return form, nil
}

// safeName returns a parameter name fit to echo: short, printable.
func safeName(k string) string {
	if len(k) > 40 || strings.IndexFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return "(a parameter)"
	}
	return strconv.Quote(k)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// constantEqual compares two hashes in constant time.
func constantEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
