package portal_test

import (
	"context"
	"io"
	"log/slog"
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
	"github.com/keygate/keygate/internal/web"
	"github.com/keygate/keygate/portal"
)

// cheap are argon2id costs at the floor ParseAccounts accepts.
var cheap = web.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}

type env struct {
	api            *adminapitest.Env
	srv            *httptest.Server
	idp            *oidctest.Provider
	acme, globex   *keygate.Consumer
	acmeKey, gxKey *keygate.IssuedKey
}

func account(tb testing.TB, name, consumers, password string) portal.Account {
	tb.Helper()
	h, err := web.HashPassword(password, cheap)
	if err != nil {
		tb.Fatal(err)
	}
	return portal.Account{Name: name, Consumers: strings.Split(consumers, ","), Hash: h}
}

// newEnv starts an admin API and a portal over it: consumers acme and
// globex with a key each; alice acts for acme, bob for globex; OIDC users
// in group "acme-devs" act for acme.
func newEnv(tb testing.TB) *env {
	tb.Helper()
	ctx := context.Background()
	e := &env{api: adminapitest.New(tb)}
	for _, c := range []**keygate.Consumer{&e.acme, &e.globex} {
		*c = keygate.NewConsumer()
	}
	e.acme.Username, e.globex.Username = "acme", "globex"
	for _, c := range []*keygate.Consumer{e.acme, e.globex} {
		if err := e.api.Store.CreateConsumer(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	var err error
	if e.acmeKey, err = e.api.Server.IssueKey(ctx, e.acme.ID, keygate.KeyRequest{Name: "acme-prod"}); err != nil {
		tb.Fatal(err)
	}
	if e.gxKey, err = e.api.Server.IssueKey(ctx, e.globex.ID, keygate.KeyRequest{Name: "globex-prod"}); err != nil {
		tb.Fatal(err)
	}
	e.idp = oidctest.New(tb, "keygate-portal", "client-secret")
	e.srv = httptest.NewUnstartedServer(nil)
	e.srv.Start()
	tb.Cleanup(e.srv.Close)
	p, err := portal.New(portal.Config{
		Store: e.api.Store, Actions: e.api.Server, Now: e.api.Clock.Now, Logger: slog.New(slog.DiscardHandler),
		Accounts: []portal.Account{account(tb, "alice", "acme", "alice's password"), account(tb, "bob", "globex", "bob's password")},
		OIDC: &portal.OIDCConfig{Issuer: e.idp.URL, ClientID: "keygate-portal", ClientSecret: "client-secret",
			RedirectURL: e.srv.URL + "/portal/oidc/callback", Consumers: map[string][]string{"acme-devs": {"acme"}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.srv.Config.Handler = p.Handler()
	return e
}

type browser struct {
	tb     testing.TB
	c      *http.Client
	base   string
	csrf   string
	origin string
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

func (b *browser) follow(p page) page {
	b.tb.Helper()
	for i := 0; p.status/100 == 3 && i < 10; i++ {
		p = b.get(p.loc)
	}
	return p
}

func (b *browser) signIn(name, password string) {
	b.tb.Helper()
	b.get("/portal/signin")
	p := b.post("/portal/signin", url.Values{"name": {name}, "password": {password}})
	if p.status != http.StatusSeeOther || p.loc != "/portal/" {
		b.tb.Fatalf("sign-in of %s: status %d, location %q; body:\n%s", name, p.status, p.loc, p.body)
	}
	b.get("/portal/") // picks up the session's CSRF token
}

func want(tb testing.TB, p page, status int, contains ...string) {
	tb.Helper()
	if p.status != status {
		tb.Fatalf("status %d, want %d; body:\n%s", p.status, status, p.body)
	}
	for _, s := range contains {
		if !strings.Contains(p.body, s) {
			tb.Fatalf("page lacks %q; body:\n%s", s, p.body)
		}
	}
}

func wantNot(tb testing.TB, p page, absent ...string) {
	tb.Helper()
	for _, s := range absent {
		if strings.Contains(p.body, s) {
			tb.Fatalf("page shows %q; body:\n%s", s, p.body)
		}
	}
}

var secretValue = regexp.MustCompile(`id="secret" class="secret-value" readonly value="([^"]+)"`)

func secretOf(tb testing.TB, p page) string {
	tb.Helper()
	m := secretValue.FindStringSubmatch(p.body)
	if m == nil {
		tb.Fatalf("no secret on the page:\n%s", p.body)
	}
	return m[1]
}

// A user sees and acts on only the consumers they act for; another's are
// answered as if they did not exist, and stay as they were.
func TestOtherConsumersInvisible(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hook, err := e.api.Server.CreateWebhook(ctx, e.globex.ID, keygate.WebhookRequest{URL: "https://globex.example/hook", Events: []string{keygate.EventKeyRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := e.api.Server.RequestAccess(ctx, keygate.AccessRequestInput{Consumer: keygate.Ref{ID: e.globex.ID}, Services: []string{mustService(t, e).ID}}, "admin:test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Client.ApproveAccess(ctx, req.ID, ""); err != nil {
		t.Fatal(err)
	}

	keysBefore, _, _ := e.api.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: e.globex.ID}, keygate.Page{Limit: 10})

	b := e.browser(t)
	b.signIn("alice", "alice's password")
	home := b.get("/portal/")
	want(t, home, http.StatusOK, "acme")
	wantNot(t, home, "globex")
	want(t, b.get("/portal/apps/"+e.acme.ID), http.StatusOK, "acme-prod", e.acmeKey.Start)
	wantNot(t, b.get("/portal/apps/"+e.acme.ID), e.acmeKey.Key)

	gx := e.globex.ID
	for _, tt := range []struct {
		name string
		do   func() page
	}{
		{"app page", func() page { return b.get("/portal/apps/" + gx) }},
		{"usage page", func() page { return b.get("/portal/apps/" + gx + "/usage") }},
		{"create key", func() page { return b.post("/portal/apps/"+gx+"/keys", url.Values{"name": {"mine now"}}) }},
		{"rotate key", func() page { return b.post("/portal/keys/"+e.gxKey.ID+"/rotate", url.Values{"overlap_hours": {"0"}}) }},
		{"revoke page", func() page { return b.get("/portal/keys/" + e.gxKey.ID + "/revoke") }},
		{"revoke key", func() page { return b.post("/portal/keys/"+e.gxKey.ID+"/revoke", url.Values{}) }},
		{"request access", func() page {
			return b.post("/portal/apps/"+gx+"/access", url.Values{"service": {mustService(t, e).ID}})
		}},
		{"pick up", func() page { return b.post("/portal/access/"+req.ID+"/pickup", url.Values{}) }},
		{"register webhook", func() page {
			return b.post("/portal/apps/"+gx+"/webhooks", url.Values{"url": {"https://evil.example/"}, "events": {keygate.EventKeyCreated}})
		}},
		{"delete webhook", func() page { return b.post("/portal/webhooks/"+hook.ID+"/delete", url.Values{}) }},
		{"unknown key", func() page { return b.post("/portal/keys/nosuchkey/revoke", url.Values{}) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.do()
			want(t, p, http.StatusNotFound, "among your applications")
			wantNot(t, p, "globex-prod", e.gxKey.Start)
		})
	}
	k, err := e.api.Store.FindKey(ctx, e.gxKey.ID)
	if err != nil || k.Status != keygate.KeyActive || k.SuccessorID != "" {
		t.Fatalf("globex's key after alice's tries: %+v, %v", k, err)
	}
	keys, _, _ := e.api.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: gx}, keygate.Page{Limit: 10})
	if len(keys) != len(keysBefore) {
		t.Fatalf("globex has %d keys, want %d", len(keys), len(keysBefore))
	}
	if _, err := e.api.Store.FindWebhook(ctx, hook.ID); err != nil {
		t.Fatalf("globex's webhook: %v", err)
	}
	if r, _ := e.api.Store.FindAccessRequest(ctx, req.ID); r.Status != keygate.AccessApproved {
		t.Fatalf("globex's request: %s, want still approved", r.Status)
	}
}

func mustService(tb testing.TB, e *env) *keygate.Service {
	tb.Helper()
	ctx := context.Background()
	if s, err := e.api.Store.FindService(ctx, "orders"); err == nil {
		return s
	}
	s := &keygate.Service{Name: "orders", URL: "http://127.0.0.1:9/"}
	s.Normalize()
	if err := e.api.Store.CreateService(ctx, s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// A key is shown once, on the answer to the post that made it; rotation
// keeps the old key for the chosen overlap; revocation ends it. The audit
// trail names the portal user.
func TestKeyLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("alice", "alice's password")
	app := "/portal/apps/" + e.acme.ID

	created := b.post(app+"/keys", url.Values{"name": {"ci"}, "ttl_days": {"30"}})
	want(t, created, http.StatusCreated, "Key created", "shown only on this page")
	key := secretOf(t, created)
	if created.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", created.header.Get("Cache-Control"))
	}
	page := b.get(app)
	want(t, page, http.StatusOK, "ci")
	wantNot(t, page, key)

	keys, _, _ := e.api.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: e.acme.ID}, keygate.Page{Limit: 10})
	var ci *keygate.APIKey
	for _, k := range keys {
		if k.Name == "ci" {
			ci = k
		}
	}
	if ci == nil || !strings.HasPrefix(key, ci.Start) {
		t.Fatalf("the created key %v is not the one shown", ci)
	}

	t.Run("bad lifetime", func(t *testing.T) {
		want(t, b.post(app+"/keys", url.Values{"ttl_days": {"-3"}}), http.StatusBadRequest, "Lifetime")
	})
	t.Run("bad overlap", func(t *testing.T) {
		want(t, b.post("/portal/keys/"+ci.ID+"/rotate", url.Values{"overlap_hours": {"99999"}}), http.StatusBadRequest, "Overlap")
	})

	rotated := b.post("/portal/keys/"+ci.ID+"/rotate", url.Values{"overlap_hours": {"24"}})
	want(t, rotated, http.StatusCreated, "Key rotated", "keeps working until")
	next := secretOf(t, rotated)
	if next == key {
		t.Fatal("rotation showed the old key")
	}
	old, _ := e.api.Store.FindKey(ctx, ci.ID)
	if old.ExpiresAt == nil || !old.ExpiresAt.Equal(e.api.Clock.Now().Add(24*time.Hour)) || old.SuccessorID == "" {
		t.Fatalf("old key after a rotation with a day's overlap: expires %v, successor %q", old.ExpiresAt, old.SuccessorID)
	}
	wantNot(t, b.get(app), next, key)

	want(t, b.get("/portal/keys/"+old.SuccessorID+"/revoke"), http.StatusOK, "cannot be undone", "confirm-revoke")
	revoked := b.post("/portal/keys/"+old.SuccessorID+"/revoke", url.Values{})
	if revoked.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", revoked.status, revoked.body)
	}
	want(t, b.follow(revoked), http.StatusOK, "is revoked")
	if k, _ := e.api.Store.FindKey(ctx, old.SuccessorID); k.Status != keygate.KeyRevoked {
		t.Fatalf("successor %s, want revoked", k.Status)
	}

	events, _, err := e.api.Store.ListAudit(ctx, keygate.AuditFilter{Actor: "portal:alice"}, keygate.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, ev := range events {
		actions[ev.Action] = true
		for _, s := range []string{key, next} {
			if strings.Contains(ev.Reason, s) {
				t.Fatal("a secret in the audit trail")
			}
		}
	}
	for _, a := range []string{"key.created", "key.revoked"} {
		if !actions[a] {
			t.Errorf("no %s audit entry by portal:alice; have %v", a, actions)
		}
	}
}

// Every state-changing form needs the session's CSRF token and this
// origin; without a session, a post is refused.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	app := "/portal/apps/" + e.acme.ID
	b := e.browser(t)
	b.signIn("alice", "alice's password")
	for _, tt := range []struct {
		name   string
		path   string
		form   url.Values
		origin string
	}{
		{"no token", app + "/keys", url.Values{"csrf": {""}}, ""},
		{"wrong token", app + "/keys", url.Values{"csrf": {"forged"}}, ""},
		{"other origin", app + "/keys", url.Values{}, "https://evil.example"},
		{"revoke without token", "/portal/keys/" + e.acmeKey.ID + "/revoke", url.Values{"csrf": {""}}, ""},
		{"sign out without token", "/portal/signout", url.Values{"csrf": {""}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b.origin = tt.origin
			defer func() { b.origin = "" }()
			want(t, b.post(tt.path, tt.form), http.StatusForbidden)
		})
	}
	if k, _ := e.api.Store.FindKey(context.Background(), e.acmeKey.ID); k.Status != keygate.KeyActive {
		t.Fatal("a forged revoke went through")
	}
	t.Run("signed out", func(t *testing.T) {
		anon := e.browser(t)
		want(t, anon.post(app+"/keys", url.Values{"csrf": {"x"}}), http.StatusForbidden, "not signed in")
		if p := anon.get(app); p.status != http.StatusSeeOther || p.loc != "/portal/signin" {
			t.Fatalf("a page without a session: %d %q", p.status, p.loc)
		}
	})
	t.Run("login CSRF", func(t *testing.T) {
		anon := e.browser(t)
		want(t, anon.post("/portal/signin", url.Values{"name": {"alice"}, "password": {"alice's password"}, "csrf": {"x"}}), http.StatusForbidden)
	})
	t.Run("headers", func(t *testing.T) {
		p := b.get(app)
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q", csp)
		}
	})
}

// An access request is approved by an admin; its key is picked up in the
// portal once.
func TestAccessPickupOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc := mustService(t, e)
	b := e.browser(t)
	b.signIn("alice", "alice's password")
	app := "/portal/apps/" + e.acme.ID
	p := b.post(app+"/access", url.Values{"service": {svc.ID}, "reason": {"orders integration"}})
	want(t, b.follow(p), http.StatusOK, "waiting for approval", "pending")

	reqs, _, _ := e.api.Store.ListAccessRequests(ctx, keygate.AccessRequestFilter{ConsumerID: e.acme.ID}, keygate.Page{Limit: 10})
	if len(reqs) != 1 || reqs[0].RequestedBy != "portal:alice" {
		t.Fatalf("requests: %+v", reqs)
	}
	t.Run("unknown service", func(t *testing.T) {
		want(t, b.post(app+"/access", url.Values{"service": {"nosuch"}}), http.StatusBadRequest)
	})
	t.Run("pending cannot be picked up", func(t *testing.T) {
		want(t, b.post("/portal/access/"+reqs[0].ID+"/pickup", url.Values{}), http.StatusConflict)
	})
	if _, err := e.api.Client.ApproveAccess(ctx, reqs[0].ID, "ok"); err != nil {
		t.Fatal(err)
	}
	want(t, b.get(app), http.StatusOK, "Pick up key (once)")
	got := b.post("/portal/access/"+reqs[0].ID+"/pickup", url.Values{})
	want(t, got, http.StatusCreated, "Access approved")
	key := secretOf(t, got)
	if !strings.HasPrefix(key, "kg_test_") {
		t.Fatalf("picked up %q", key)
	}
	again := b.post("/portal/access/"+reqs[0].ID+"/pickup", url.Values{})
	want(t, again, http.StatusConflict, "only once")
	wantNot(t, again, key)
	wantNot(t, b.get(app), key)
}

func TestWebhooks(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.signIn("alice", "alice's password")
	app := "/portal/apps/" + e.acme.ID
	want(t, b.post(app+"/webhooks", url.Values{"url": {"ftp://x"}, "events": {keygate.EventKeyRevoked}}), http.StatusBadRequest)
	p := b.post(app+"/webhooks", url.Values{"url": {"https://acme.example/hook"}, "events": {keygate.EventKeyRevoked, keygate.EventKeyCreated}})
	want(t, p, http.StatusCreated, "Webhook registered")
	secret := secretOf(t, p)
	if !strings.HasPrefix(secret, keygate.WebhookSecretPrefix) {
		t.Fatalf("secret %q", secret)
	}
	list := b.get(app)
	want(t, list, http.StatusOK, "https://acme.example/hook", keygate.EventKeyRevoked)
	wantNot(t, list, secret)
	hooks, _, _ := e.api.Store.ListWebhooks(context.Background(), keygate.WebhookFilter{ConsumerID: e.acme.ID}, keygate.Page{Limit: 10})
	if len(hooks) != 1 {
		t.Fatalf("%d webhooks", len(hooks))
	}
	want(t, b.follow(b.post("/portal/webhooks/"+hooks[0].ID+"/delete", url.Values{})), http.StatusOK, "webhook is deleted")
	wantNot(t, b.get(app), "https://acme.example/hook")
}

func TestUsage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plan := &keygate.Plan{Name: "gold", Rate: 10, Quotas: keygate.Quotas{Day: 1000, Month: 20000}}
	plan.Normalize()
	if err := e.api.Store.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Store.UpdateConsumer(ctx, e.acme.ID, func(c *keygate.Consumer) error {
		c.Plan = &keygate.Ref{ID: plan.ID}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.api.Clock.Advance(36 * time.Hour)
	now := e.api.Clock.Now().Truncate(time.Minute)
	err := e.api.Store.AddUsage(ctx, []keygate.UsageRecord{
		{Minute: now, ConsumerID: e.acme.ID, CredentialID: e.acmeKey.ID, Allowed: 7, Rejected: 2},
		{Minute: now.Add(-24 * time.Hour), ConsumerID: e.acme.ID, CredentialID: e.acmeKey.ID, Allowed: 5},
		{Minute: now, ConsumerID: e.globex.ID, CredentialID: e.gxKey.ID, Allowed: 999},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn("alice", "alice's password")
	p := b.get("/portal/apps/" + e.acme.ID + "/usage")
	want(t, p, http.StatusOK, "gold", "7 of 1000 a day", "12 of 20000 a month", "12 requests forwarded", "<svg")
}

// OIDC users act for the consumers their groups map to; a user whose groups
// map to none is refused. A portal session is no console session.
func TestOIDCAndConsoleSeparation(t *testing.T) {
	e := newEnv(t)
	e.idp.SetUser(oidctest.User{Subject: "1", Email: "dev@acme.example", EmailVerified: true, Groups: []string{"staff", "acme-devs"}})
	b := e.browser(t)
	start := b.get("/portal/oidc/start")
	u, _ := url.Parse(start.loc)
	if q := u.Query(); q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization request lacks PKCE, state or nonce: %s", start.loc)
	}
	home := b.follow(start)
	want(t, home, http.StatusOK, "dev@acme.example", "acme")
	wantNot(t, home, "globex")
	p := b.post("/portal/apps/"+e.acme.ID+"/keys", url.Values{"name": {"sso-key"}})
	want(t, p, http.StatusCreated)
	events, _, _ := e.api.Store.ListAudit(context.Background(), keygate.AuditFilter{Actor: "portal:dev@acme.example", Action: "key.created"}, keygate.Page{Limit: 10})
	if len(events) != 1 {
		t.Fatalf("%d key.created entries by portal:dev@acme.example", len(events))
	}

	t.Run("console refuses the portal's session", func(t *testing.T) {
		cons, err := console.New(console.Config{Store: e.api.Store, Keys: e.api.Server, Now: e.api.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		base, _ := url.Parse(e.srv.URL + "/portal/")
		var token string
		for _, c := range b.c.Jar.Cookies(base) {
			if c.Name == "keygate_portal" {
				token = c.Value
			}
		}
		if token == "" {
			t.Fatal("no portal session cookie")
		}
		req := httptest.NewRequest(http.MethodGet, "/ui/consumers", nil)
		req.AddCookie(&http.Cookie{Name: "keygate_console", Value: token})
		rec := httptest.NewRecorder()
		cons.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/signin" {
			t.Fatalf("console with a portal session: %d %q", rec.Code, rec.Header().Get("Location"))
		}
	})
	t.Run("unmapped groups", func(t *testing.T) {
		e.idp.SetUser(oidctest.User{Subject: "2", Email: "x@other.example", EmailVerified: true, Groups: []string{"staff"}})
		other := e.browser(t)
		want(t, other.follow(other.get("/portal/oidc/start")), http.StatusUnauthorized, "acts for no application")
	})
}

func TestLocalSignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	b.get("/portal/signin")
	want(t, b.post("/portal/signin", url.Values{"name": {"alice"}, "password": {"wrong"}}), http.StatusUnauthorized, "Wrong name or password")
	b.get("/portal/signin")
	want(t, b.post("/portal/signin", url.Values{"name": {"nobody"}, "password": {"x"}}), http.StatusUnauthorized, "Wrong name or password")
	b.signIn("bob", "bob's password")
	want(t, b.get("/portal/"), http.StatusOK, "globex")
	out := b.post("/portal/signout", url.Values{})
	if out.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", out.status)
	}
	if p := b.get("/portal/"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign out: %d", p.status)
	}
}

func TestParseAccounts(t *testing.T) {
	h, _ := web.HashPassword("pw", cheap)
	for _, tt := range []struct {
		name, file, err string
	}{
		{"ok", "# comment\nalice acme,globex " + h + "\n", ""},
		{"two fields", "alice " + h, "line 1: want three fields"},
		{"empty consumer", "alice acme,," + " " + h, "empty consumer"},
		{"weak hash", "alice acme $argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "out of range"},
		{"twice", "alice acme " + h + "\nALICE acme " + h, "line 2: ALICE: listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := portal.ParseAccounts(strings.NewReader(tt.file))
			if tt.err == "" {
				if err != nil || len(a) != 1 || len(a[0].Consumers) != 2 {
					t.Fatalf("%+v, %v", a, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

const ordersDoc = `{"openapi":"3.1.0","info":{"title":"Orders API","version":"2.1","description":"Orders <b>and</b> refunds."},
"paths":{"/orders/{id}":{"get":{"summary":"Read an order","parameters":[{"name":"id","in":"path","required":true,"description":"the order's id"}],"responses":{"200":{},"404":{}}}},
"/orders":{"post":{"summary":"Place an order","requestBody":{"content":{}},"responses":{"201":{}}}}}}`

// A service's OpenAPI document is shown as a list of operations to the
// applications whose keys may call the service, and to no other.
func TestAPIDocs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	orders := mustService(t, e)
	if _, err := e.api.Store.UpdateService(ctx, orders.ID, func(s *keygate.Service) error { s.OpenAPI = ordersDoc; return nil }); err != nil {
		t.Fatal(err)
	}
	internal := &keygate.Service{Name: "internal", URL: "http://127.0.0.1:9/", OpenAPI: `{"openapi":"3.0.0","paths":{"/secret-admin":{"get":{}}}}`}
	internal.Normalize()
	if err := e.api.Store.CreateService(ctx, internal); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn("alice", "alice's password")
	app := "/portal/apps/" + e.acme.ID
	// acme's key has no restriction: it may call both services.
	want(t, b.get(app+"/docs"), http.StatusOK, "orders", "internal")
	p := b.get(app + "/docs/" + orders.ID)
	want(t, p, http.StatusOK, "Orders API", "2.1", "Orders &lt;b&gt;and&lt;/b&gt; refunds.", "GET</span> <code>/orders/{id}</code>",
		"Read an order", "(path, required)", "POST</span> <code>/orders</code>", "Takes a request body", "200, 404")

	// Now its only key may call orders alone.
	if _, err := e.api.Server.RevokeKey(ctx, e.acmeKey.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.Server.IssueKey(ctx, e.acme.ID, keygate.KeyRequest{AllowedServices: []string{orders.ID}}); err != nil {
		t.Fatal(err)
	}
	list := b.get(app + "/docs")
	want(t, list, http.StatusOK, "orders")
	wantNot(t, list, "internal")
	want(t, b.get(app+"/docs/"+internal.ID), http.StatusNotFound)
	wantNot(t, b.get(app+"/docs/"+internal.ID), "secret-admin")
	// And another application's docs page is not alice's to read.
	want(t, b.get("/portal/apps/"+e.globex.ID+"/docs/"+orders.ID), http.StatusNotFound)
}
