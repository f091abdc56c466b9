package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestCSRFTokenLabels(t *testing.T) {
	if CSRFToken("tok", "a") == CSRFToken("tok", "b") || CSRFToken("tok", "a") != CSRFToken("tok", "a") {
		t.Fatal("CSRF tokens must depend on the label and be stable")
	}
}

func TestCheckPost(t *testing.T) {
	post := func(form url.Values, origin string) error {
		r := httptest.NewRequest(http.MethodPost, "http://portal.example/portal/x", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		return CheckPost(r, "want")
	}
	for _, tt := range []struct {
		name   string
		form   url.Values
		origin string
		ok     bool
	}{
		{"good", url.Values{"csrf": {"want"}}, "http://portal.example", true},
		{"no origin header", url.Values{"csrf": {"want"}}, "", true},
		{"wrong token", url.Values{"csrf": {"nope"}}, "", false},
		{"no token", url.Values{}, "", false},
		{"other origin", url.Values{"csrf": {"want"}}, "https://evil.example", false},
		{"too large", url.Values{"csrf": {"want"}, "x": {strings.Repeat("a", MaxForm)}}, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := post(tt.form, tt.origin); (err == nil) != tt.ok {
				t.Fatalf("CheckPost: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestClaimValues(t *testing.T) {
	claims := map[string]any{"groups": []any{"a", 1, "b"}, "realm_access": map[string]any{"roles": "r"}}
	if got := ClaimValues(claims, "groups"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("groups: %v", got)
	}
	if got := ClaimValues(claims, "realm_access.roles"); !slices.Equal(got, []string{"r"}) {
		t.Errorf("realm_access.roles: %v", got)
	}
	if got := ClaimValues(claims, "missing.x"); got != nil {
		t.Errorf("missing: %v", got)
	}
}

func TestThrottle(t *testing.T) {
	th, now := NewThrottle(time.Minute), time.Unix(0, 0)
	th.Fail("k", now)
	th.Fail("k", now)
	if n, _ := th.Count("k", now); n != 2 {
		t.Fatalf("count %d", n)
	}
	if n, _ := th.Count("k", now.Add(time.Minute)); n != 0 {
		t.Fatalf("after the window: %d", n)
	}
	th.Clear("k")
	if n, _ := th.Count("k", now); n != 0 {
		t.Fatalf("after Clear: %d", n)
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("pw", Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1})
	if err != nil || ValidArgon2(h) != nil || !CheckPassword(h, "pw") || CheckPassword(h, "pW") {
		t.Fatalf("hash %q: %v", h, err)
	}
}

// Static serves an app's own files and the shared base.css under one
// prefix, the app's file winning over a shared one of the same name, and
// lists no directory.
func TestStatic(t *testing.T) {
	own := fstest.MapFS{"style.css": {Data: []byte(".own { }")}, "base.css": {Data: []byte(".mine { }")}}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such page", http.StatusNotFound) })
	for _, tc := range []struct {
		own        fstest.MapFS
		path, want string
		status     int
	}{
		{own, "/app/static/style.css", ".own", http.StatusOK},
		{own, "/app/static/base.css", ".mine", http.StatusOK},
		{fstest.MapFS{}, "/app/static/base.css", "--accent:", http.StatusOK},
		{own, "/app/static/", "no such page", http.StatusNotFound},
		{own, "/app/static/missing.css", "not found", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		Static("/app/static/", tc.own, notFound).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("GET %s = %d %q, want %d with %q", tc.path, rec.Code, rec.Body.String(), tc.status, tc.want)
		}
		if tc.status == http.StatusOK && rec.Header().Get("Cache-Control") != "public, max-age=300" {
			t.Errorf("GET %s: Cache-Control %q", tc.path, rec.Header().Get("Cache-Control"))
		}
	}
}

// Secure sets the app's policy headers on every answer, no-store on all but
// its static files, and turns a panic into the app's error page.
func TestSecure(t *testing.T) {
	var failed error
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		failed = err
		http.Error(w, "something went wrong", http.StatusInternalServerError)
	}
	h := Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/app/boom" {
			panic("boom")
		}
		w.Write([]byte("ok"))
	}), "default-src 'none'", "/app/static/", fail)
	for _, tc := range []struct {
		path, cache string
		status      int
	}{
		{"/app/page", "no-store", http.StatusOK},
		{"/app/static/style.css", "", http.StatusOK},
		{"/app/boom", "no-store", http.StatusInternalServerError},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status || rec.Header().Get("Cache-Control") != tc.cache {
			t.Errorf("GET %s = %d, Cache-Control %q; want %d, %q", tc.path, rec.Code, rec.Header().Get("Cache-Control"), tc.status, tc.cache)
		}
		for k, v := range map[string]string{"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin"} {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, v)
			}
		}
	}
	if failed == nil || !strings.Contains(failed.Error(), "panic: boom") {
		t.Errorf("the panic reached fail as %v", failed)
	}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("ErrAbortHandler: recovered %v, want it passed on", v)
		}
	}()
	Secure(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), "", "/s/", fail).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
}
