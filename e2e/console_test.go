package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/console/oidctest"
)

const chromiumPath = "/usr/bin/chromium"

// freePort is a port nothing listens on right now, for a listener whose
// address must be known before it starts (the console's OIDC callback).
func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// browserCtx starts headless Chromium with a fresh profile; it stops when
// the test ends.
func browserCtx(tb testing.TB) context.Context {
	tb.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		tb.Skipf("no %s (apt-get install chromium): the browser test needs it", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()), chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, on a context without a timeout
		tb.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// screenshotDir is where the browser test saves its screenshots.
func screenshotDir(tb testing.TB) string {
	dir := os.Getenv("KEYGATE_SCREENSHOT_DIR")
	if dir == "" {
		dir = tb.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshots in %s", dir)
	return dir
}

type void = chromedp.Action[chromedp.Void]

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// TestConsoleInBrowser signs in to the admin console through an OIDC
// provider in headless Chromium, creates a consumer and a key, reads the key
// once from the page, calls the gateway with it, checks that a forged post
// from another page and an auditor are refused, revokes the key and sees the
// gateway refuse it. It saves screenshots of the main pages, wide and at 375 px.
func TestConsoleInBrowser(t *testing.T) {
	browser := browserCtx(t)
	shots := screenshotDir(t)
	idp := oidctest.New(t, "keygate-console", "console-secret")
	idp.SetUser(oidctest.User{Subject: "1", Email: "grace@example.com", EmailVerified: true, Groups: []string{"platform"}})
	adminAddr := freePort(t)
	admin := "http://" + adminAddr
	g := startGatewayEnv(t, []string{"KEYGATE_CONSOLE_OIDC_CLIENT_SECRET=console-secret"},
		"--admin-listen", adminAddr,
		"--console-oidc-issuer", idp.URL, "--console-oidc-client-id", "keygate-console",
		"--console-oidc-redirect-url", admin+"/ui/oidc/callback",
		"--console-oidc-roles", "platform=admin,security=auditor",
		"--usage-flush-interval", "1s") // the usage page shows this test's calls
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })

	// run runs one action with a bound on its time; a failure shows where
	// the browser was and what the page said.
	run := func(name string, steps ...void) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			ctx, cancel := context.WithTimeout(browser, 5*time.Second)
			defer cancel()
			url, _ := chromedp.Run(ctx, chromedp.Location())
			text, _ := chromedp.Run(ctx, chromedp.Text(css("body")))
			t.Fatalf("%s: %v (at %s)\n%s", name, err, url, text)
		}
	}
	value := func(a chromedp.Action[string]) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	shot := func(name string) void {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	wantText := func(sel, text string) void {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			got, err := chromedp.Text(css(sel))(ctx, tg)
			if err != nil {
				return err
			}
			if !strings.Contains(strings.ToLower(got), strings.ToLower(text)) { // innerText, after text-transform
				return fmt.Errorf("%s says %q, want %q in it", sel, got, text)
			}
			return nil
		})
	}
	callGateway := func(key string) int {
		status, _, _ := g.call(t, "GET", "/r", hdr("apikey", key))
		return status
	}

	// Sign in through the provider.
	run("sign-in page", chromedp.Navigate(admin+"/ui/"), chromedp.WaitVisible(css("#sso")), shot("01-signin"))
	run("single sign-on", chromedp.Click(css("#sso")), chromedp.WaitVisible(css(".counts")),
		wantText(".who .user", "grace@example.com"), wantText(".who .role", "admin"), shot("02-dashboard"))

	// Create a consumer and a key with the keyboard only: focus, type, Enter.
	run("create consumer", chromedp.Navigate(admin+"/ui/consumers"), chromedp.WaitVisible(css("details.create summary")),
		chromedp.Focus(css("details.create summary")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(css("#username")), shot("03-consumers-new"),
		chromedp.SendKeys(css("#username"), "acme\r"),
		chromedp.WaitVisible(css("dl.facts")), wantText("h1", "acme"))
	consumerURL := value(chromedp.Location())
	run("create key", chromedp.Focus(css("details.create summary")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(css("#name")), chromedp.SendKeys(css("#name"), "ci"),
		chromedp.SendKeys(css("#ttl_days"), "30\r"),
		chromedp.WaitVisible(css("#secret")), wantText("h1", "Key created"))
	key := value(chromedp.Value(css("#secret")))
	// The screenshot shows the page, not the key.
	run("key page", chromedp.SetValue(css("#secret"), "kg_test_… (blanked for the screenshot)"), shot("04-key-created"))
	if !strings.HasPrefix(key, "kg_test_") {
		t.Fatalf("the key on the page is %q", key)
	}
	if status := callGateway(key); status != http.StatusOK {
		t.Fatalf("gateway with the new key: %d, want 200", status)
	}
	run("consumer page", chromedp.Navigate(consumerURL), chromedp.WaitVisible(css("table.list")), shot("05-consumer"))
	if html := value(chromedp.OuterHTML(css("html"))); strings.Contains(html, key) {
		t.Fatal("the consumer page shows the key again")
	}

	// A page of another origin posts a revoke to the console: the browser
	// sends the session cookie (127.0.0.1 is the same site), the CSRF
	// token check refuses it.
	keyID := strings.TrimPrefix(value(func(ctx context.Context, tg *chromedp.Target) (string, error) {
		a, err := chromedp.AttributeValue(css("table.list tbody tr"), "id")(ctx, tg)
		return a.Value, err
	}), "key-")
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/ui/keys/%s/revoke">
<input type="hidden" name="csrf" value="guessed"><input type="hidden" name="reason" value="pwned">
<button id="go" type="submit">Win a prize</button></form>`, admin, keyID)
	}))
	defer evil.Close()
	run("forged post", chromedp.Navigate(evil.URL), chromedp.WaitVisible(css("#go")), chromedp.Click(css("#go")),
		chromedp.WaitVisible(css("main .alert")), wantText("h1", "403"), shot("06-forged-post-refused"))
	if status := callGateway(key); status != http.StatusOK {
		t.Fatalf("gateway after the forged revoke: %d, want 200", status)
	}

	// Revoke, with the confirm page, and see the gateway refuse the key.
	run("revoke", chromedp.Navigate(consumerURL), chromedp.WaitVisible(css("a.danger")), chromedp.Click(css("a.danger")),
		chromedp.WaitVisible(css("#reason")), chromedp.SendKeys(css("#reason"), "leaked in a log"),
		shot("07-revoke-confirm"), chromedp.Click(css("#confirm-revoke")),
		chromedp.WaitVisible(css(".status-revoked")), shot("08-consumer-revoked"))
	if status := callGateway(key); status != http.StatusUnauthorized {
		t.Fatalf("gateway with the revoked key: %d, want 401", status)
	}
	run("audit", chromedp.Navigate(admin+"/ui/audit?target="+keyID), chromedp.WaitVisible(css("table.list")),
		wantText("table.list", "key.revoked"), wantText("table.list", "user:grace@example.com"), wantText("table.list", "leaked in a log"),
		shot("09-audit"))

	// The other pages, each with real data: services and routes, a plan
	// made with the keyboard, an access request approved with a reason, a
	// rotation, the key's timeline, HMAC and OAuth credentials, usage (the
	// calls above), the keyring.
	run("services", chromedp.Navigate(admin+"/ui/services"), chromedp.WaitVisible(css("table.list")), shot("20-services"),
		chromedp.Click(css("table.list a")), chromedp.WaitVisible(css("dl.facts")), wantText("main", "Routes"), shot("21-service"))
	serviceURL := value(chromedp.Location())
	run("routes", chromedp.Navigate(admin+"/ui/routes"), chromedp.WaitVisible(css("table.list")), wantText("table.list", "API key"), shot("22-routes"))
	run("create plan", chromedp.Navigate(admin+"/ui/plans"), chromedp.WaitVisible(css("details.create summary")),
		chromedp.Focus(css("details.create summary")), chromedp.KeyEvent("\r"), chromedp.WaitVisible(css("#plan-name")),
		chromedp.SendKeys(css("#plan-name"), "gold"), chromedp.SendKeys(css("#plan-rate"), "50"),
		chromedp.SendKeys(css("#quota_day"), "100000"), chromedp.Focus(css("#create-plan")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(css("dl.facts")), wantText("dl.facts", "100000/day"), shot("23-plan"))
	ctx := t.Context()
	if _, err := g.admin.RequestAccess(ctx, keygate.AccessRequestInput{Consumer: keygate.Ref{Name: "acme"}, Services: []string{"s"},
		Plan: "gold", Reason: "nightly export of orders"}); err != nil {
		t.Fatal(err)
	}
	run("access request", chromedp.Navigate(admin+"/ui/access"), chromedp.WaitVisible(css("ul.requests")),
		wantText("ul.requests", "nightly export of orders"), shot("24-access-requests"),
		chromedp.SendKeys(css("ul.requests input[name=reason]"), "ticket OPS-42"),
		chromedp.Click(css("ul.requests button[value=approve]")), chromedp.WaitVisible(css("main .empty")),
		chromedp.Navigate(admin+"/ui/access?status=all"), chromedp.WaitVisible(css("ul.requests")),
		wantText("ul.requests", "user:grace@example.com"), shot("25-access-approved"))
	rotating := g.key(t, "acme", keygate.KeyRequest{Name: "nightly"})
	run("rotate", chromedp.Navigate(admin+"/ui/keys/"+rotating.ID+"/rotate"), chromedp.WaitVisible(css("#grace_hours")),
		chromedp.SetValue(css("#grace_hours"), "2"), shot("26-rotate"), chromedp.Click(css("#confirm-rotate")),
		chromedp.WaitVisible(css("#secret")), wantText("h1", "Key rotated"),
		chromedp.SetValue(css("#secret"), "kg_test_… (blanked for the screenshot)"), shot("27-key-rotated"))
	run("key timeline", chromedp.Navigate(admin+"/ui/keys/"+rotating.ID), chromedp.WaitVisible(css("ol.timeline")),
		wantText("ol.timeline", "key.rotated"), shot("28-key-timeline"))
	if _, err := g.admin.CreateHMACCredential(ctx, "acme", keygate.HMACCredentialRequest{Username: "acme-signer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.admin.CreateOAuthClient(ctx, "acme", keygate.OAuthClientRequest{Name: "billing", Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	run("credentials", chromedp.Navigate(admin+"/ui/credentials/hmac"), chromedp.WaitVisible(css("table.list")), shot("29-hmac-credentials"),
		chromedp.Navigate(admin+"/ui/credentials/oauth"), chromedp.WaitVisible(css("table.list")), wantText("table.list", "billing"),
		shot("30-oauth-clients"))
	// Usage is written every second: wait until the calls above show.
	for i := 0; ; i++ {
		run("usage", chromedp.Navigate(admin+"/ui/usage"), chromedp.WaitVisible(css("main h1")))
		if title := value(chromedp.Evaluate[string](`document.querySelector("svg.chart title").textContent`)); !strings.HasPrefix(title, "Requests per hour: 0 allowed, 0 rejected") {
			break
		} else if i == 20 {
			t.Fatalf("the usage page shows no calls: %s", title)
		}
		time.Sleep(500 * time.Millisecond)
	}
	run("usage page", wantText("#top-consumers", "acme"), shot("31-usage"),
		chromedp.Navigate(admin+"/ui/usage?consumer=acme&range=7d"), chromedp.WaitVisible(css("svg.chart")), shot("32-usage-consumer"))
	run("keyring", chromedp.Navigate(admin+"/ui/keyring"), chromedp.WaitVisible(css("table.list")), wantText("dl.facts", "Current version"),
		shot("33-keyring"))
	// The third slice: an HMAC credential from the consumer's page, a
	// webhook, an access rule, admin tokens, the cluster's nodes.
	blank := func() void { return chromedp.SetValue(css("#secret"), "… (blanked for the screenshot)") }
	run("create HMAC credential", chromedp.Navigate(consumerURL), chromedp.WaitVisible(css("details.create summary")),
		chromedp.Click(css("details:has(#hmac-username) summary")), chromedp.WaitVisible(css("#hmac-username")),
		chromedp.SendKeys(css("#hmac-username"), "acme-signer-2\r"), chromedp.WaitVisible(css("#secret")),
		wantText("h1", "HMAC credential created"), blank(), shot("41-hmac-created"))
	run("create webhook", chromedp.Navigate(admin+"/ui/webhooks"), chromedp.WaitVisible(css("details.create summary")),
		chromedp.Click(css("details.create summary")), chromedp.WaitVisible(css("#wh-url")),
		chromedp.SendKeys(css("#wh-url"), "https://hooks.example.com/keygate"),
		chromedp.Click(css(`input[name=events][value="key.revoked"]`)), shot("42-webhook-new"),
		chromedp.Click(css("#create-webhook")), chromedp.WaitVisible(css("#secret")), wantText("h1", "Webhook created"),
		blank(), shot("43-webhook-created"), chromedp.Click(css("main a.button")), chromedp.WaitVisible(css("dl.facts")),
		wantText("dl.facts", "key.revoked"), shot("44-webhook"))
	run("create access rule", chromedp.Navigate(admin+"/ui/access-rules"), chromedp.WaitVisible(css("details.create summary")),
		chromedp.Click(css("details.create summary")), chromedp.WaitVisible(css("#rule-name")),
		chromedp.SendKeys(css("#rule-name"), "partners"), chromedp.SendKeys(css("#rule-groups"), "partners"),
		chromedp.SendKeys(css("#rule-plan"), "gold"), chromedp.Click(css("#create-rule")), chromedp.WaitVisible(css("dl.facts")),
		wantText("h1", "partners"), chromedp.Navigate(admin+"/ui/access-rules"), chromedp.WaitVisible(css("table.list")), shot("45-access-rules"))
	run("admin tokens", chromedp.Navigate(admin+"/ui/admin-tokens"), chromedp.WaitVisible(css("table.list")), shot("46-admin-tokens"))
	run("cluster", chromedp.Navigate(admin+"/ui/nodes"), chromedp.WaitVisible(css("table.list")), wantText("table.list", "gateway, admin"),
		shot("47-cluster"))

	// Phone width: the tables become cards, no page is wider than the screen.
	run("375 px", chromedp.EmulateViewport(375, 812))
	for _, p := range []struct{ name, url string }{
		{"10-dashboard-375px", admin + "/ui/"},
		{"11-consumers-375px", admin + "/ui/consumers"},
		{"12-consumer-375px", consumerURL},
		{"13-revoke-375px", admin + "/ui/keys/" + keyID + "/revoke"},
		{"14-audit-375px", admin + "/ui/audit"},
		{"34-service-375px", serviceURL},
		{"35-plans-375px", admin + "/ui/plans"},
		{"36-access-375px", admin + "/ui/access?status=all"},
		{"37-key-timeline-375px", admin + "/ui/keys/" + rotating.ID},
		{"38-oauth-clients-375px", admin + "/ui/credentials/oauth"},
		{"39-usage-375px", admin + "/ui/usage"},
		{"40-keyring-375px", admin + "/ui/keyring"},
		{"48-webhooks-375px", admin + "/ui/webhooks"},
		{"49-access-rules-375px", admin + "/ui/access-rules"},
		{"50-admin-tokens-375px", admin + "/ui/admin-tokens"},
		{"51-cluster-375px", admin + "/ui/nodes"},
	} {
		run(p.name, chromedp.Navigate(p.url), chromedp.WaitVisible(css("main h1")), shot(p.name))
		if w, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 375 {
			t.Errorf("%s is %d px wide at 375 px (%v)", p.url, w, err)
		}
	}
	run("wide again", chromedp.EmulateViewport(1280, 900))

	// An auditor sees the consumer but is offered no change, and a revoke
	// posted anyway is refused: the key stays valid.
	second := g.key(t, "acme", keygate.KeyRequest{Name: "second"})
	idp.SetUser(oidctest.User{Subject: "2", Email: "sam@example.com", EmailVerified: true, Groups: []string{"security"}})
	run("sign out", chromedp.Navigate(admin+"/ui/"), chromedp.WaitVisible(css(".who button")), chromedp.Click(css(".who button")),
		chromedp.WaitVisible(css("#sso")))
	// Keyboard only: Tab past the skip link and the brand to the sign-in
	// button, Enter.
	run("tab to sign in", chromedp.KeyEvent("\t\t\t"))
	if id, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.activeElement.id`)); err != nil || id != "sso" {
		t.Fatalf("after three Tabs the focus is on %q (%v), want the sign-in button", id, err)
	}
	run("sign in as auditor", chromedp.KeyEvent("\r"), chromedp.WaitVisible(css(".counts")), wantText(".who .role", "auditor"))
	run("auditor's consumer page", chromedp.Navigate(consumerURL), chromedp.WaitVisible(css("table.list")), shot("15-auditor-consumer"))
	if n, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll("a.danger, details.create").length`)); err != nil || n != 0 {
		t.Errorf("the auditor is offered %d changes (%v)", n, err)
	}
	run("auditor's revoke", chromedp.Navigate(admin+"/ui/keys/"+second.ID+"/revoke"), chromedp.WaitVisible(css("#confirm-revoke")),
		chromedp.Click(css("#confirm-revoke")), chromedp.WaitVisible(css("main .alert")),
		wantText("h1", "403"), wantText("main .alert", "auditor"), shot("16-auditor-revoke-refused"))
	if status := callGateway(second.Key); status != http.StatusOK {
		t.Fatalf("gateway with the key the auditor tried to revoke: %d, want 200", status)
	}
}
