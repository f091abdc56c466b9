package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/console/oidctest"
)

// TestPortalInBrowser signs a partner's developer in to the consumer portal
// (its own listener) through an OIDC provider whose group claim maps to a
// consumer, creates a key with the keyboard only, calls the gateway with it,
// rotates it with a day's overlap (both keys work), revokes the old one
// (the gateway refuses it), and checks that no page
// is wider than a 375 px phone. It saves screenshots, wide and at 375 px.
func TestPortalInBrowser(t *testing.T) {
	browser := browserCtx(t)
	shots := screenshotDir(t)
	idp := oidctest.New(t, "keygate-portal", "portal-secret")
	idp.SetUser(oidctest.User{Subject: "1", Email: "dev@acme.example", EmailVerified: true, Groups: []string{"acme-devs"}})
	portalAddr := freePort(t)
	portal := "http://" + portalAddr
	g := startGatewayEnv(t, []string{"KEYGATE_PORTAL_OIDC_CLIENT_SECRET=portal-secret"},
		"--portal-listen", portalAddr,
		"--portal-oidc-issuer", idp.URL, "--portal-oidc-client-id", "keygate-portal",
		"--portal-oidc-redirect-url", portal+"/portal/oidc/callback",
		"--portal-oidc-consumers", "acme-devs=acme")
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	acme := g.consumer(t, "acme")
	g.consumer(t, "globex")

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
			if !strings.Contains(strings.ToLower(got), strings.ToLower(text)) {
				return fmt.Errorf("%s says %q, want %q in it", sel, got, text)
			}
			return nil
		})
	}
	callGateway := func(key string) int {
		status, _, _ := g.call(t, "GET", "/r", hdr("apikey", key))
		return status
	}

	run("sign-in page", chromedp.Navigate(portal+"/"), chromedp.WaitVisible(css("#sso")), shot("p01-signin"))
	// Keyboard only: Tab past the skip link and the brand to the sign-in button.
	run("tab to sign in", chromedp.KeyEvent("\t\t\t"))
	if id, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.activeElement.id`)); err != nil || id != "sso" {
		t.Fatalf("after three Tabs the focus is on %q (%v), want the sign-in button", id, err)
	}
	run("single sign-on", chromedp.KeyEvent("\r"), chromedp.WaitVisible(css("table.list")),
		wantText(".who .user", "dev@acme.example"), wantText("table.list", "acme"), shot("p02-applications"))
	if html := value(chromedp.OuterHTML(css("main"))); strings.Contains(html, "globex") {
		t.Fatal("the portal shows a consumer the user does not act for")
	}
	appURL := portal + "/portal/apps/" + acme.ID
	run("create key", chromedp.Navigate(appURL), chromedp.WaitVisible(css("details.create summary")),
		chromedp.Focus(css("details.create summary")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(css("#name")), chromedp.SendKeys(css("#name"), "ci\r"),
		chromedp.WaitVisible(css("#secret")), wantText("h1", "Key created"))
	key := value(chromedp.Value(css("#secret")))
	run("blank the key", chromedp.SetValue(css("#secret"), "kg_test_… (blanked for the screenshot)"), shot("p03-key-created"))
	if status := callGateway(key); status != http.StatusOK {
		t.Fatalf("gateway with the portal's key: %d, want 200", status)
	}
	run("application page", chromedp.Navigate(appURL), chromedp.WaitVisible(css("table.list")), shot("p04-application"))
	if html := value(chromedp.OuterHTML(css("html"))); strings.Contains(html, key) {
		t.Fatal("the application page shows the key again")
	}
	// Rotate with the keyboard: the overlap select keeps its default (a
	// day), the Rotate button takes Enter.
	run("rotate", chromedp.Focus(css("table.list form.inline-form button")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(css("#secret")), wantText("h1", "Key rotated"), wantText("main", "keeps working until"))
	next := value(chromedp.Value(css("#secret")))
	run("blank the new key", chromedp.SetValue(css("#secret"), "kg_test_… (blanked for the screenshot)"), shot("p05-key-rotated"))
	if a, b := callGateway(key), callGateway(next); a != http.StatusOK || b != http.StatusOK {
		t.Fatalf("during the overlap: old key %d, new key %d, want both 200", a, b)
	}

	// Revoke the old key now, through the confirm page: the gateway refuses
	// it, the new one keeps working.
	run("revoke", chromedp.Navigate(appURL), chromedp.WaitVisible(css("a.danger")), chromedp.Click(css("a.danger")),
		chromedp.WaitVisible(css("#confirm-revoke")), shot("p06-revoke-confirm"), chromedp.Click(css("#confirm-revoke")),
		chromedp.WaitVisible(css(".status-revoked")), wantText("main", "is revoked"))
	if a, b := callGateway(key), callGateway(next); a != http.StatusUnauthorized || b != http.StatusOK {
		t.Fatalf("after the revoke: old key %d (want 401), new key %d (want 200)", a, b)
	}

	run("375 px", chromedp.EmulateViewport(375, 812))
	for _, p := range []struct{ name, url string }{
		{"p07-applications-375px", portal + "/portal/"},
		{"p08-application-375px", appURL},
		{"p09-usage-375px", appURL + "/usage"},
		{"p10-docs-375px", appURL + "/docs"},
	} {
		run(p.name, chromedp.Navigate(p.url), chromedp.WaitVisible(css("main h1")), shot(p.name))
		if w, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 375 {
			t.Errorf("%s is %d px wide at 375 px (%v)", p.url, w, err)
		}
	}
	run("wide again", chromedp.EmulateViewport(1280, 900))
}
