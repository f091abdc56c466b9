package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/console"
	"github.com/keygate/keygate/console/oidctest"
)

// cheap are argon2id costs at the floor ParseAccounts accepts, so tests
// sign in quickly.
var cheap = console.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}

type env struct {
	api  *adminapitest.Env
	srv  *httptest.Server
	idp  *oidctest.Provider
	cons *console.Server
}

func account(tb testing.TB, name, role, password string) console.Account {
	tb.Helper()
	h, err := console.HashPassword(password, cheap)
	if err != nil {
		tb.Fatal(err)
	}
	return console.Account{Name: name, Role: role, Hash: h}
}

// newEnv starts an admin API (its store and key actions) and a console
// over them with three local accounts and a test OIDC provider.
func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{api: adminapitest.New(tb)}
	e.idp = oidctest.New(tb, "keygate-console", "client-secret")
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Start()
	tb.Cleanup(e.srv.Close)
	cons, err := console.New(console.Config{
		Store: e.api.Store, Keys: e.api.Server, Now: e.api.Clock.Now,
		Accounts: []console.Account{
			account(tb, "ada", keygate.RoleAdmin, "ada's password"),
			account(tb, "olga", keygate.RoleOperator, "olga's password"),
			account(tb, "aud", keygate.RoleAuditor, "aud's password"),
		},
		OIDC: &console.OIDCConfig{Issuer: e.idp.URL, ClientID: "keygate-console", ClientSecret: "client-secret",
			RedirectURL: e.srv.URL + "/ui/oidc/callback",
			Roles:       map[string]string{"platform": keygate.RoleAdmin, "security": keygate.RoleAuditor}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.cons = cons
	e.srv.Config.Handler = cons.Handler()
	return e
}

// browser is a client with a cookie jar that does not follow redirects, so
// tests see each answer.
type browser struct {
	tb     testing.TB
	c      *http.Client
	base   string
	csrf   string // the last page's form token
	origin string // sent as Origin on posts when set
}

type page struct {
	status int
	header http.Header
	body   string
	loc    string
}

func (e *env) browser(tb testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tb: tb, base: e.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

func (b *browser) do(req *http.Request) page {
	b.tb.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, header: resp.Header, body: string(body), loc: resp.Header.Get("Location")}
	if m := csrfField.FindStringSubmatch(p.body); m != nil {
		b.csrf = m[1]
	}
	return p
}

func (b *browser) get(path string) page {
	b.tb.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.base + path
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// post sends a form; csrf, unless form sets it, is the last page's token.
func (b *browser) post(path string, form url.Values) page {
	b.tb.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	return b.do(req)
}

func want(tb testing.TB, p page, status int, contains ...string) {
	tb.Helper()
	if p.status != status {
		tb.Fatalf("status %d, want %d; body:\n%s", p.status, status, p.body)
	}
	for _, s := range contains {
		if !strings.Contains(p.body, s) {
			tb.Fatalf("page does not contain %q:\n%s", s, p.body)
		}
	}
}

// signIn signs b in with a local account.
func (b *browser) signIn(name, password string) {
	b.tb.Helper()
	want(b.tb, b.get("/ui/signin"), http.StatusOK)
	p := b.post("/ui/signin", url.Values{"name": {name}, "password": {password}})
	if p.status != http.StatusSeeOther || p.loc != "/ui/" {
		b.tb.Fatalf("sign-in: %d to %q, want 303 to /ui/:\n%s", p.status, p.loc, p.body)
	}
	want(b.tb, b.get("/ui/"), http.StatusOK, `class="user">`+strings.ToLower(name)+"<")
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	signedIn := e.browser(t)
	signedIn.signIn("ada", "ada's password")
	for _, tt := range []struct {
		name string
		b    *browser
		path string
	}{
		{"sign-in page", b, "/ui/signin"},
		{"dashboard", signedIn, "/ui/"},
		{"consumers", signedIn, "/ui/consumers"},
		{"audit", signedIn, "/ui/audit"},
		{"services", signedIn, "/ui/services"},
		{"routes", signedIn, "/ui/routes"},
		{"plans", signedIn, "/ui/plans"},
		{"access requests", signedIn, "/ui/access"},
		{"HMAC credentials", signedIn, "/ui/credentials/hmac"},
		{"OAuth clients", signedIn, "/ui/credentials/oauth"},
		{"usage", signedIn, "/ui/usage"},
		{"keyring", signedIn, "/ui/keyring"},
		{"cluster", signedIn, "/ui/nodes"},
		{"webhooks", signedIn, "/ui/webhooks"},
		{"access rules", signedIn, "/ui/access-rules"},
		{"admin tokens", signedIn, "/ui/admin-tokens"},
		{"unknown page", signedIn, "/ui/nothing"},
		{"redirect to sign in", b, "/ui/consumers"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.b.get(tt.path)
			csp := p.header.Get("Content-Security-Policy")
			for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "object-src 'none'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy allows inline code: %q", csp)
			}
			for h, v := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if got := p.header.Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
			if strings.Contains(p.body, "<script") || strings.Contains(p.body, "style=") {
				t.Errorf("page has inline script or style")
			}
		})
	}
	want(t, b.get("/ui/static/"), http.StatusNotFound)
	for file, has := range map[string]string{"base.css": "--accent:", "style.css": ".timeline"} {
		css := b.get("/ui/static/" + file)
		want(t, css, http.StatusOK, has)
		if ct := css.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
			t.Errorf("%s Content-Type = %q", file, ct)
		}
	}
}

func TestSessionCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	want(t, b.get("/ui/signin"), http.StatusOK)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ui/signin", strings.NewReader(url.Values{"csrf": {b.csrf}, "name": {"ada"}, "password": {"ada's password"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p := b.do(req)
	var cookie string
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "keygate_console=") {
			cookie = c
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/ui/", "Max-Age=28800"} {
		if !strings.Contains(cookie, attr) {
			t.Errorf("session cookie %q lacks %s", cookie, attr)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie over plain HTTP without --console-secure-cookies is Secure: %q", cookie)
	}
}

func TestLocalSignIn(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name, user, password string
		status               int
		says                 string
	}{
		{"wrong password", "ada", "nope", http.StatusUnauthorized, "Wrong name or password."},
		{"unknown name", "eve", "ada's password", http.StatusUnauthorized, "Wrong name or password."},
		{"empty", "", "", http.StatusBadRequest, "Enter your name and password."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser(t)
			b.get("/ui/signin")
			want(t, b.post("/ui/signin", url.Values{"name": {tt.user}, "password": {tt.password}}), tt.status, tt.says)
			if p := b.get("/ui/"); p.status != http.StatusSeeOther || p.loc != "/ui/signin" {
				t.Fatalf("after a refused sign-in /ui/ answers %d to %q, want a redirect to sign in", p.status, p.loc)
			}
		})
	}
	t.Run("forged sign-in post (login CSRF)", func(t *testing.T) {
		b := e.browser(t) // never loaded the sign-in page: no token cookie
		want(t, b.post("/ui/signin", url.Values{"csrf": {"guess"}, "name": {"ada"}, "password": {"ada's password"}}), http.StatusForbidden, "security token")
	})
	t.Run("too many failures", func(t *testing.T) {
		b := e.browser(t)
		for range 10 {
			b.get("/ui/signin")
			want(t, b.post("/ui/signin", url.Values{"name": {"olga"}, "password": {"guess"}}), http.StatusUnauthorized)
		}
		// Now even the right password is not tried, for this name only.
		b.get("/ui/signin")
		want(t, b.post("/ui/signin", url.Values{"name": {"OLGA"}, "password": {"olga's password"}}), http.StatusTooManyRequests, "Too many failed sign-ins")
		e.browser(t).signIn("ada", "ada's password")
		// The window ends.
		e.api.Clock.Advance(15 * time.Minute)
		e.browser(t).signIn("olga", "olga's password")
	})
	t.Run("case-insensitive name", func(t *testing.T) {
		e.browser(t).signIn("ADA", "ada's password")
	})
}

func TestSignedOutIsRefused(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	for _, path := range []string{"/ui/", "/ui/consumers", "/ui/audit", "/ui/consumers/x"} {
		if p := b.get(path); p.status != http.StatusSeeOther || p.loc != "/ui/signin" {
			t.Errorf("GET %s signed out: %d to %q, want 303 to /ui/signin", path, p.status, p.loc)
		}
	}
	want(t, b.post("/ui/consumers", url.Values{"username": {"x"}}), http.StatusForbidden, "not signed in")
}

// createConsumer creates a consumer through the form and returns its page.
func (b *browser) createConsumer(username string) (id string) {
	b.tb.Helper()
	want(b.tb, b.get("/ui/consumers"), http.StatusOK)
	p := b.post("/ui/consumers", url.Values{"username": {username}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, "/ui/consumers/") {
		b.tb.Fatalf("create consumer: %d to %q:\n%s", p.status, p.loc, p.body)
	}
	return strings.TrimPrefix(p.loc, "/ui/consumers/")
}

var keyPattern = regexp.MustCompile(`value="(kg_test_[A-Za-z0-9_]+)"`)

// createKey creates a key through the form and returns the page and the key.
func (b *browser) createKey(consumerID string, form url.Values) (page, string) {
	b.tb.Helper()
	want(b.tb, b.get("/ui/consumers/"+consumerID), http.StatusOK)
	p := b.post("/ui/consumers/"+consumerID+"/keys", form)
	want(b.tb, p, http.StatusCreated, "Copy this key now")
	m := keyPattern.FindStringSubmatch(p.body)
	if m == nil {
		b.tb.Fatalf("no key on the creation page:\n%s", p.body)
	}
	return p, m[1]
}

func TestKeyShownOnce(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	id := b.createConsumer("acme")
	p, key := b.createKey(id, url.Values{"name": {"ci"}, "ttl_days": {"30"}})
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("creation page Cache-Control = %q, want no-store", cc)
	}
	if res, err := e.api.Server.Verifier.VerifyKey(context.Background(), key, keygate.Target{}); err != nil || res.Code != keygate.CodeValid {
		t.Fatalf("the key shown does not verify: %+v, %v", res, err)
	}
	// Nowhere else: not on the consumer's page, the list, the audit trail.
	for _, path := range []string{"/ui/consumers/" + id, "/ui/consumers", "/ui/audit", "/ui/"} {
		if pg := b.get(path); strings.Contains(pg.body, key) || strings.Contains(pg.body, key[len(key)-12:]) {
			t.Errorf("%s shows the key again", path)
		}
	}
	want(t, b.get("/ui/consumers/"+id), http.StatusOK, "ci", "active")
	// The audit trail names the console user.
	want(t, b.get("/ui/audit?actor=user:olga"), http.StatusOK, "consumer.created", "key.created")
}

func TestRevoke(t *testing.T) {
	e := newEnv(t)
	admin := e.browser(t)
	admin.signIn("ada", "ada's password")
	id := admin.createConsumer("acme")
	_, key := admin.createKey(id, url.Values{})
	k, _, err := e.api.Store.ListKeys(context.Background(), keygate.KeyFilter{ConsumerID: id}, keygate.Page{})
	if err != nil || len(k) != 1 {
		t.Fatal(k, err)
	}
	keyID := k[0].ID

	t.Run("auditor cannot", func(t *testing.T) {
		aud := e.browser(t)
		aud.signIn("aud", "aud's password")
		pg := aud.get("/ui/consumers/" + id)
		want(t, pg, http.StatusOK, "acme")
		if strings.Contains(pg.body, "Revoke") || strings.Contains(pg.body, "New API key") || strings.Contains(pg.body, "New consumer") {
			t.Errorf("the auditor is offered a change")
		}
		want(t, aud.get("/ui/keys/"+keyID+"/revoke"), http.StatusOK) // the confirm page shows; posting it does not work
		want(t, aud.post("/ui/keys/"+keyID+"/revoke", url.Values{}), http.StatusForbidden, "auditor")
		want(t, aud.post("/ui/consumers", url.Values{"username": {"sneaky"}}), http.StatusForbidden, "auditor")
		want(t, aud.post("/ui/consumers/"+id+"/keys", url.Values{}), http.StatusForbidden, "auditor")
		if res, _ := e.api.Server.Verifier.VerifyKey(context.Background(), key, keygate.Target{}); res.Code != keygate.CodeValid {
			t.Fatalf("after the auditor's try the key is %s", res.Code)
		}
	})
	t.Run("forged post", func(t *testing.T) {
		want(t, admin.post("/ui/keys/"+keyID+"/revoke", url.Values{"csrf": {"forged"}}), http.StatusForbidden, "security token")
		want(t, admin.post("/ui/keys/"+keyID+"/revoke", url.Values{"csrf": {""}}), http.StatusForbidden, "security token")
		admin.get("/ui/keys/" + keyID + "/revoke")
		admin.origin = "https://evil.example"
		want(t, admin.post("/ui/keys/"+keyID+"/revoke", url.Values{}), http.StatusForbidden, "another site")
		admin.origin = ""
		if res, _ := e.api.Server.Verifier.VerifyKey(context.Background(), key, keygate.Target{}); res.Code != keygate.CodeValid {
			t.Fatalf("after forged posts the key is %s", res.Code)
		}
	})
	t.Run("admin can", func(t *testing.T) {
		admin.get("/ui/keys/" + keyID + "/revoke")
		admin.origin = e.srv.URL
		p := admin.post("/ui/keys/"+keyID+"/revoke", url.Values{"reason": {"left the company\nforged line"}})
		admin.origin = ""
		if p.status != http.StatusSeeOther || p.loc != "/ui/consumers/"+id {
			t.Fatalf("revoke: %d to %q:\n%s", p.status, p.loc, p.body)
		}
		want(t, admin.get("/ui/consumers/"+id), http.StatusOK, "revoked")
		if res, _ := e.api.Server.Verifier.VerifyKey(context.Background(), key, keygate.Target{}); res.Code != keygate.CodeRevoked {
			t.Fatalf("revoked key verifies as %s", res.Code)
		}
		want(t, admin.get("/ui/audit?target="+keyID), http.StatusOK, "key.revoked", "user:ada", "left the company forged line")
		pg := admin.get("/ui/keys/" + keyID + "/revoke")
		want(t, pg, http.StatusOK, "nothing to revoke")
		if strings.Contains(pg.body, "confirm-revoke") {
			t.Error("the confirm page of a revoked key offers to revoke it")
		}
		want(t, admin.post("/ui/keys/"+keyID+"/revoke", url.Values{}), http.StatusSeeOther) // idempotent, as the API
	})
}

func TestFormErrors(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn("ada", "ada's password")
	b.createConsumer("acme")
	b.get("/ui/consumers")
	want(t, b.post("/ui/consumers", url.Values{"username": {"acme"}}), http.StatusConflict, "already")
	want(t, b.post("/ui/consumers", url.Values{}), http.StatusBadRequest, "username")
	id := b.createConsumer("beta")
	b.get("/ui/consumers/" + id)
	want(t, b.post("/ui/consumers/"+id+"/keys", url.Values{"ttl_days": {"-3"}}), http.StatusBadRequest, "Lifetime")
	want(t, b.post("/ui/consumers/nobody/keys", url.Values{}), http.StatusNotFound)
	want(t, b.get("/ui/consumers/nobody"), http.StatusNotFound, "not found")
	big := url.Values{"username": {strings.Repeat("x", 70<<10)}}
	want(t, b.post("/ui/consumers", big), http.StatusRequestEntityTooLarge)
}

func TestConsumerSearchAndPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 60 {
		name := "team-" + string(rune('a'+i%26)) + "-" + strings.Repeat("x", i/26)
		c := keygate.NewConsumer()
		c.Username = name
		if err := e.api.Store.CreateConsumer(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn("aud", "aud's password")
	p := b.get("/ui/consumers")
	want(t, p, http.StatusOK, `rel="next"`)
	if n := strings.Count(p.body, `data-label="Username"`); n != 25 {
		t.Fatalf("first page has %d rows, want 25", n)
	}
	seen := 0
	next := "/ui/consumers"
	for next != "" {
		pg := b.get(next)
		seen += strings.Count(pg.body, `data-label="Username"`)
		m := regexp.MustCompile(`href="([^"]*)" rel="next"`).FindStringSubmatch(pg.body)
		next = ""
		if m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if seen != 60 {
		t.Fatalf("paging showed %d consumers, want 60", seen)
	}
	p = b.get("/ui/consumers?q=TEAM-C")
	if n := strings.Count(p.body, `data-label="Username"`); n != 3 {
		t.Fatalf("search team-c: %d rows, want 3:\n%s", n, p.body)
	}
	want(t, b.get("/ui/consumers?q=nothing-like-it"), http.StatusOK, "No consumer matches")
}

func TestSignOutAndExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn("ada", "ada's password")
	b.get("/ui/")
	want(t, b.post("/ui/signout", url.Values{"csrf": {"forged"}}), http.StatusForbidden)
	if p := b.post("/ui/signout", url.Values{}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.status)
	}
	if p := b.get("/ui/"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign-out /ui/ answers %d", p.status)
	}

	b.signIn("ada", "ada's password")
	e.api.Clock.Advance(console.DefaultSessionTTL - time.Second)
	want(t, b.get("/ui/"), http.StatusOK)
	e.api.Clock.Advance(time.Second)
	if p := b.get("/ui/"); p.status != http.StatusSeeOther || p.loc != "/ui/signin" {
		t.Fatalf("after the session's lifetime /ui/ answers %d to %q", p.status, p.loc)
	}
}

// follow drives b through redirects across hosts (the provider's and the
// console's), as a browser would, and returns the last page.
func (b *browser) follow(p page) page {
	b.tb.Helper()
	for i := 0; p.status/100 == 3 && i < 10; i++ {
		u := p.loc
		if strings.HasPrefix(u, "/") {
			u = b.base + u
		}
		p = b.get(u)
	}
	return p
}

func TestOIDCSignIn(t *testing.T) {
	e := newEnv(t)
	t.Run("mapped group", func(t *testing.T) {
		e.idp.SetUser(oidctest.User{Subject: "1", Email: "grace@example.com", EmailVerified: true, Groups: []string{"staff", "security", "platform"}})
		b := e.browser(t)
		start := b.get("/ui/oidc/start")
		u, _ := url.Parse(start.loc)
		q := u.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
			t.Fatalf("authorization request lacks PKCE, state or nonce: %s", start.loc)
		}
		p := b.follow(start)
		want(t, p, http.StatusOK, "grace@example.com", "admin") // the strongest mapped role
		b.createConsumer("from-sso")
		want(t, b.get("/ui/audit?actor=user:grace@example.com"), http.StatusOK, "consumer.created")
	})
	t.Run("no mapped group", func(t *testing.T) {
		e.idp.SetUser(oidctest.User{Subject: "2", Email: "mallory@example.com", EmailVerified: true, Groups: []string{"staff"}})
		b := e.browser(t)
		want(t, b.follow(b.get("/ui/oidc/start")), http.StatusUnauthorized, "no keygate role")
	})
	t.Run("unverified email", func(t *testing.T) {
		e.idp.SetUser(oidctest.User{Subject: "3", Email: "x@example.com", Groups: []string{"platform"}})
		b := e.browser(t)
		want(t, b.follow(b.get("/ui/oidc/start")), http.StatusUnauthorized, "not verified")
	})
	t.Run("state from another browser", func(t *testing.T) {
		e.idp.SetUser(oidctest.User{Subject: "1", Email: "grace@example.com", EmailVerified: true, Groups: []string{"platform"}})
		victim, attacker := e.browser(t), e.browser(t)
		victim.get("/ui/oidc/start")
		// The attacker's own authorization response, replayed into the victim's browser.
		cb := attacker.get(attacker.get("/ui/oidc/start").loc)
		want(t, victim.get(cb.loc), http.StatusUnauthorized, "does not match")
		want(t, victim.get(strings.Replace(cb.loc, "code=", "x=", 1)), http.StatusUnauthorized) // and the cookie is spent
	})
	t.Run("wrong nonce", func(t *testing.T) {
		e.idp.ForgeNonce("forged")
		defer e.idp.ForgeNonce("")
		b := e.browser(t)
		want(t, b.follow(b.get("/ui/oidc/start")), http.StatusUnauthorized, "nonce")
	})
	t.Run("provider error", func(t *testing.T) {
		b := e.browser(t)
		start := b.get("/ui/oidc/start")
		u, _ := url.Parse(start.loc)
		cb := "/ui/oidc/callback?error=access_denied&state=" + url.QueryEscape(u.Query().Get("state"))
		want(t, b.get(cb), http.StatusUnauthorized, "access_denied")
	})
}

func TestParseAccounts(t *testing.T) {
	h, _ := console.HashPassword("pw", cheap)
	weak := strings.Replace(h, "m=8192", "m=1024", 1)
	for _, tt := range []struct {
		name, file, err string
		n               int
	}{
		{"ok", "# users\n\nada admin " + h + "\nbob auditor " + h + "\n", "", 2},
		{"bad role", "ada root " + h, "line 1: role", 0},
		{"fields", "ada admin", "line 1: want three fields", 0},
		{"not argon2id", "ada admin $2y$10$abc", "line 1: not an argon2id hash", 0},
		{"too cheap", "ada admin " + weak, "out of range", 0},
		{"twice", "ada admin " + h + "\nADA auditor " + h, "line 2: ADA: listed twice", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := console.ParseAccounts(strings.NewReader(tt.file))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(a) != tt.n {
				t.Fatalf("%d accounts, %v", len(a), err)
			}
		})
	}
}

// BenchmarkCheckPassword is the cost of one local sign-in's argon2id check
// at the default parameters (the same work for an unknown name).
func BenchmarkCheckPassword(b *testing.B) {
	h, err := console.HashPassword("correct horse battery staple", console.DefaultArgon2)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !console.CheckPassword(h, "correct horse battery staple") {
			b.Fatal("password refused")
		}
	}
}
