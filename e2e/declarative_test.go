package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keygate apply / export / import kong, as an operator runs them against a
// running keygate: a file applied once changes it and applied again changes
// nothing; an invalid file changes nothing and names its lines; a Kong file's
// key works through the gateway at once and is never printed.
func TestCLIDeclarative(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	useCLIOn(t, g)
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	config := write("config.yaml", `services:
- name: orders
  url: `+g.upstream.URL+`/api
  routes:
  - name: orders
    paths: [/orders]
    key_auth: {}
    acl: {allow: [partners]}
consumers:
- username: acme
  groups: [partners]
`)
	if out := admin(t, "apply", "-f", config); !strings.Contains(out, "+ service orders") || !strings.Contains(out, "+ route orders") {
		t.Fatalf("first apply:\n%s", out)
	}
	if out := admin(t, "apply", "-f", config); !strings.Contains(out, "No changes") {
		t.Errorf("second apply changed something:\n%s", out)
	}
	if out := admin(t, "export"); !strings.Contains(out, "name: orders") || !strings.Contains(out, "username: acme") {
		t.Errorf("export:\n%s", out)
	}

	invalid := write("invalid.yaml", "services:\n- name: billing\n  url: ftp://billing\n")
	_, errOut, err := runAdmin(t, "", "apply", "-f", invalid)
	if err == nil || !strings.Contains(errOut, "invalid.yaml:3: services[0].url: scheme must be http or https") {
		t.Errorf("an invalid file: %v\n%s", err, errOut)
	}
	if out := admin(t, "services", "list"); strings.Contains(out, "billing") {
		t.Errorf("an invalid file changed keygate:\n%s", out)
	}

	const kongKey = "acme-kong-key-1"
	kong := write("kong.yml", `_format_version: "3.0"
services:
- name: legacy
  url: `+g.upstream.URL+`/legacy
  routes:
  - name: legacy
    paths: [/legacy]
    plugins:
    - name: key-auth
consumers:
- username: initech
  keyauth_credentials:
  - key: `+kongKey+`
`)
	out := admin(t, "import", "kong", kong)
	if strings.Contains(out, kongKey) || !strings.Contains(out, "+ key 1") {
		t.Errorf("import kong:\n%s", out)
	}
	status, _, body := g.call(t, "GET", "/legacy/x", hdr("apikey", kongKey))
	if status != http.StatusOK || decodeEcho(t, body).Headers["X-Consumer-Username"][0] != "initech" {
		t.Errorf("the imported Kong key through the gateway: %d %s", status, body)
	}
	if status, _, _ := g.call(t, "GET", "/legacy/x", hdr("apikey", "acme-kong-key-2")); status != http.StatusUnauthorized {
		t.Errorf("a key Kong never had: %d", status)
	}
}
