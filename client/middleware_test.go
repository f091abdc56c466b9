package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// verifierClient returns a client of e with a fresh verifier-role token.
func verifierClient(t *testing.T, e *adminapitest.Env) *client.Client {
	t.Helper()
	tok, err := e.Client.CreateAdminToken(context.Background(), keygate.AdminTokenRequest{Name: "svc", Role: keygate.RoleVerifier})
	if err != nil {
		t.Fatal(err)
	}
	return client.New(e.URL(), tok.Token)
}

func TestVerify(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	adminapitest.CreateConsumer(t, e.Client, "acme", "partners")
	k := adminapitest.CreateKey(t, e.Client, "acme", keygate.KeyRequest{})
	vc := verifierClient(t, e)

	ans, err := vc.Verify(ctx, keygate.VerifyRequest{Key: k.Key})
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Valid || ans.Code != keygate.CodeValid || ans.KeyID != k.ID || ans.Consumer == nil || ans.Consumer.Username != "acme" {
		t.Errorf("answer = %+v", ans)
	}
	ans, err = vc.Verify(ctx, keygate.VerifyRequest{Key: "kg_test_nope"})
	if err != nil || ans.Valid || client.HTTPStatus(ans.Code) != http.StatusUnauthorized {
		t.Errorf("bad key: %+v, %v", ans, err)
	}
	// A failure to verify is an error, never an answer.
	_, err = client.New(e.URL(), "wrong").Verify(ctx, keygate.VerifyRequest{Key: k.Key})
	if !errors.Is(err, client.ErrVerifyUnavailable) {
		t.Errorf("bad token: err = %v", err)
	}
	if _, ok := errors.AsType[*client.Error](err); !ok {
		t.Errorf("bad token: err %v does not carry the API's error", err)
	}
}

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[keygate.VerifyCode]int{
		"VALID": 200, "MALFORMED": 401, "NOT_FOUND": 401, "EXPIRED": 401, "REVOKED": 401, "DISABLED": 401,
		"FORBIDDEN": 403, "IP_NOT_ALLOWED": 403, "INSUFFICIENT_PERMISSIONS": 403,
		"RATE_LIMITED": 429, "USAGE_EXCEEDED": 429, "SOMETHING_NEW": 401,
	} {
		if got := client.HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestMiddleware(t *testing.T) {
	e := adminapitest.New(t)
	adminapitest.CreateConsumer(t, e.Client, "acme")
	k := adminapitest.CreateKey(t, e.Client, "acme", keygate.KeyRequest{})
	revoked := adminapitest.CreateKey(t, e.Client, "acme", keygate.KeyRequest{})
	if _, err := e.Client.RevokeKey(context.Background(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	service := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := client.VerificationFrom(r.Context())
		w.Write([]byte("hello " + v.Consumer.Username))
	})
	h := client.Middleware(client.MiddlewareConfig{Client: verifierClient(t, e), Query: "apikey"})(service)

	tests := []struct {
		name   string
		req    func(*http.Request)
		status int
		body   string
	}{
		{"apikey header", func(r *http.Request) { r.Header.Set("apikey", k.Key) }, 200, "hello acme"},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k.Key) }, 200, "hello acme"},
		{"query", func(r *http.Request) { r.URL.RawQuery = "apikey=" + k.Key }, 200, "hello acme"},
		{"no key", func(*http.Request) {}, 401, "No API key found in request"},
		{"two keys", func(r *http.Request) {
			r.Header.Set("apikey", k.Key)
			r.Header.Set("Authorization", "Bearer "+revoked.Key)
		}, 401, "Duplicate API key found"},
		{"revoked", func(r *http.Request) { r.Header.Set("apikey", revoked.Key) }, 401, "Unauthorized"},
		{"not a key", func(r *http.Request) { r.Header.Set("apikey", "nope") }, 401, "Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/docs", nil)
			tt.req(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tt.status, tt.body)
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(w.Body.String(), k.Key) || strings.Contains(w.Body.String(), revoked.Key) {
				t.Error("the answer shows a key")
			}
		})
	}
}

// A permission query never admits a key that lacks the permissions: a
// server that checks answers INSUFFICIENT_PERMISSIONS (403), one that does
// not know queries refuses the request, which is a failure (503).
func TestMiddlewarePermissionsFailClosed(t *testing.T) {
	e := adminapitest.New(t)
	adminapitest.CreateConsumer(t, e.Client, "acme")
	k := adminapitest.CreateKey(t, e.Client, "acme", keygate.KeyRequest{})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	h := client.Middleware(client.MiddlewareConfig{Client: verifierClient(t, e), Permissions: "documents.write"})(ok)
	r := httptest.NewRequest("POST", "/docs", nil)
	r.Header.Set("apikey", k.Key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden && w.Code != http.StatusServiceUnavailable {
		t.Errorf("a key without permissions, with a permission query: %d %s", w.Code, w.Body)
	}
}

// fakeVerifyAPI answers every verify call with ans (or status with an
// error), counting the calls.
func fakeVerifyAPI(t *testing.T, status int, ans keygate.VerifyResponse) (*client.Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != 200 {
			json.NewEncoder(w).Encode(keygate.ErrorResponse{Error: keygate.ErrorDetail{Code: keygate.EINTERNAL, Message: "down"}})
			return
		}
		json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(srv.Close)
	return client.New(srv.URL, "t"), &n
}

func TestMiddlewareStatuses(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	tests := []struct {
		name   string
		status int // of the verify API
		ans    keygate.VerifyResponse
		perms  string
		want   int
	}{
		{"valid", 200, keygate.VerifyResponse{Valid: true, Code: "VALID"}, "", 200},
		{"forbidden", 200, keygate.VerifyResponse{Code: "FORBIDDEN"}, "", 403},
		{"permissions", 200, keygate.VerifyResponse{Code: "INSUFFICIENT_PERMISSIONS"}, "a", 403},
		{"rate limited", 200, keygate.VerifyResponse{Code: "RATE_LIMITED"}, "", 429},
		{"usage exceeded", 200, keygate.VerifyResponse{Code: "USAGE_EXCEEDED"}, "", 429},
		{"disabled", 200, keygate.VerifyResponse{Code: "DISABLED"}, "", 401},
		{"verify API fails: 503, not 401", 500, keygate.VerifyResponse{}, "", 503},
		{"verify API unavailable: 503", 503, keygate.VerifyResponse{}, "", 503},
		{"token refused: 503", 401, keygate.VerifyResponse{}, "", 503},
		{"permission query ignored by the server: fail closed", 200, keygate.VerifyResponse{Valid: true, Code: "VALID"}, "a", 503},
		{"permission query checked", 200, keygate.VerifyResponse{Valid: true, Code: "VALID", Permissions: []string{"a"}}, "a", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fakeVerifyAPI(t, tt.status, tt.ans)
			h := client.Middleware(client.MiddlewareConfig{Client: c, Permissions: tt.perms})(ok)
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("apikey", "kg_test_x")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d (%s)", w.Code, tt.want, w.Body)
			}
		})
	}
}

func TestMiddlewareRetryAfter(t *testing.T) {
	c, _ := fakeVerifyAPI(t, 200, keygate.VerifyResponse{Code: "RATE_LIMITED", Limits: []keygate.VerifiedLimit{
		{Name: "rate", Limit: 10, Remaining: 0, Reset: 90}, {Name: "day", Limit: 100, Remaining: 50, Reset: 3690}}})
	h := client.Middleware(client.MiddlewareConfig{Client: c})(http.NotFoundHandler())
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("apikey", "kg_test_x")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if ra := w.Header().Get("Retry-After"); w.Code != 429 || ra != "90" {
		t.Errorf("%d, Retry-After %q", w.Code, ra)
	}
}

func TestMiddlewareCache(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	send := func(h http.Handler, key string) int {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("apikey", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	c, n := fakeVerifyAPI(t, 200, keygate.VerifyResponse{Valid: true, Code: "VALID"})
	h := client.Middleware(client.MiddlewareConfig{Client: c})(ok)
	send(h, "a")
	send(h, "a")
	if n.Load() != 2 {
		t.Errorf("without a cache: %d verify calls for 2 requests", n.Load())
	}
	c, n = fakeVerifyAPI(t, 200, keygate.VerifyResponse{Valid: true, Code: "VALID"})
	h = client.Middleware(client.MiddlewareConfig{Client: c, CacheTTL: 500 * time.Millisecond})(ok)
	send(h, "a")
	send(h, "a")
	send(h, "b")
	if n.Load() != 2 {
		t.Errorf("with a cache: %d verify calls for 2 keys", n.Load())
	}
	time.Sleep(600 * time.Millisecond)
	send(h, "a")
	if n.Load() != 3 {
		t.Errorf("after the TTL: %d verify calls, want 3", n.Load())
	}
	// Refusals are never cached.
	c, n = fakeVerifyAPI(t, 200, keygate.VerifyResponse{Code: "REVOKED"})
	h = client.Middleware(client.MiddlewareConfig{Client: c, CacheTTL: time.Minute})(ok)
	send(h, "a")
	if send(h, "a") != 401 || n.Load() != 2 {
		t.Errorf("a refusal was cached: %d calls", n.Load())
	}
}
