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
		"--console-oidc-roles", "platform=admin,security=auditor")
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

	// Phone width: the tables become cards, no page is wider than the screen.
	run("375 px", chromedp.EmulateViewport(375, 812))
	for _, p := range []struct{ name, url string }{
		{"10-dashboard-375px", admin + "/ui/"},
		{"11-consumers-375px", admin + "/ui/consumers"},
		{"12-consumer-375px", consumerURL},
		{"13-revoke-375px", admin + "/ui/keys/" + keyID + "/revoke"},
		{"14-audit-375px", admin + "/ui/audit"},
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
