package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/portal"
)

// The portal on its own listener, wired as serve does: a local account made
// by keygate users create-portal signs in, creates a key for its consumer,
// and the gateway accepts that key.
func TestPortalWiring(t *testing.T) {
	file := filepath.Join(t.TempDir(), "portal-users")
	out, err := runCLIStdin(t, "correct horse battery\n", "users", "create-portal", "--file", file, "--name", "dev@acme.example", "--consumers", "acme")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), "correct horse") || !strings.HasPrefix(string(data), "dev@acme.example acme $argon2id$") {
		t.Fatalf("portal users file: %q", data)
	}
	if _, err := portal.ParseAccounts(strings.NewReader(string(data))); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLIStdin(t, "correct horse battery\n", "users", "create-portal", "--file", file, "--name", "DEV@acme.example", "--consumers", "acme"); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("a second account of the same name: %v %s", err, out)
	}

	g := startGatewayWith(t, func(c *Config) { c.Portal.Listen = "127.0.0.1:0"; c.Portal.UsersFile = file })
	g.service(t, "echo", g.upstream.URL, nil)
	g.route(t, "echo", "echo", func(r *keygate.Route) { r.Paths = []string{"/echo"} })
	acme := g.consumer(t, "acme")

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := g.main.PortalURL()
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]*)"`)
	post := func(path string, form url.Values, page string) (int, string) {
		t.Helper()
		form.Set("csrf", csrf.FindStringSubmatch(page)[1])
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, home := post("/portal/signin", url.Values{"name": {"dev@acme.example"}, "password": {"correct horse battery"}}, get("/"))
	if st != http.StatusOK || !strings.Contains(home, "/portal/apps/"+acme.ID) {
		t.Fatalf("sign-in: %d\n%s", st, home)
	}
	st, created := post("/portal/apps/"+acme.ID+"/keys", url.Values{"name": {"from-portal"}}, home)
	m := regexp.MustCompile(`class="secret-value" readonly value="([^"]+)"`).FindStringSubmatch(created)
	if st != http.StatusCreated || m == nil {
		t.Fatalf("create key: %d\n%s", st, created)
	}
	if st, _, body := g.call(t, http.MethodGet, "/echo", hdr("apikey", m[1])); st != http.StatusOK {
		t.Fatalf("the portal's key at the gateway: %d %s", st, body)
	}
	// The admin listener does not serve the portal.
	resp, err := http.Get(g.main.AdminURL() + "/portal/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("the admin listener serves /portal/")
	}
}

func TestPortalFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  portalConfig
		want string
	}{
		{"oidc without issuer", portalConfig{OIDCClientID: "x"}, "--portal-oidc-issuer: required"},
		{"bad mapping", portalConfig{OIDCIssuer: "https://idp.example", OIDCClientID: "x", OIDCRedirectURL: "https://p.example/portal/oidc/callback", OIDCConsumers: []string{"nope"}}, "--portal-oidc-consumers"},
		{"bad redirect", portalConfig{OIDCIssuer: "https://idp.example", OIDCClientID: "x", OIDCRedirectURL: "https://p.example/cb", OIDCConsumers: []string{"g=acme"}}, "--portal-oidc-redirect-url"},
		{"no users file", portalConfig{UsersFile: filepath.Join(t.TempDir(), "missing")}, "--portal-users-file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Main{Config: Config{Portal: tt.cfg}}
			_, err := m.portalHandler(nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
