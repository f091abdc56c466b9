package declarative_test

import (
	"strings"
	"testing"

	"github.com/keygate/keygate/adminapi/adminapitest"
)

// TestOAuth2RoundTrip: a route's oauth2 is applied, exported without the
// settings left at their defaults, and re-applied without changes.
func TestOAuth2RoundTrip(t *testing.T) {
	doc := `
services:
- name: orders
  url: http://orders:8080
  routes:
  - name: orders-jwt
    paths: [/orders]
    oauth2:
      scopes: [orders]
      method_scopes: {POST: [orders:write]}
      issuers:
      - local: true
      - issuer: https://idp.example
        jwks_uri: https://idp.example/jwks
        audience: orders-api
        consumer_by: username
`
	src := adminapitest.New(t)
	apply(t, src.Client, doc, false)
	if again := apply(t, src.Client, doc, false); again != noChanges {
		t.Errorf("the same document again planned changes:\n%s", again)
	}
	exported := export(t, src.Client)
	for _, want := range []string{"oauth2:", "orders:write", "jwks_uri: https://idp.example/jwks", "consumer_by: username", "local: true"} {
		if !strings.Contains(exported, want) {
			t.Errorf("export lacks %q:\n%s", want, exported)
		}
	}
	if strings.Contains(exported, "leeway") {
		t.Errorf("export holds the default leeway:\n%s", exported)
	}
	fresh := adminapitest.New(t)
	apply(t, fresh.Client, exported, false)
	if again := export(t, fresh.Client); again != exported {
		t.Errorf("export of the fresh keygate differs\nfirst:\n%s\nagain:\n%s", exported, again)
	}
}
