package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
)

// The whole client credentials flow on one binary: golang.org/x/oauth2 gets a
// token from keygate's token endpoint and its http.Client calls a route that
// takes oauth2 through the gateway; the route's scopes per method hold; the
// once the client revokes the token, the gateway
// refuses it.
func TestOAuth2ClientCredentialsThroughTheGateway(t *testing.T) {
	t.Parallel()
	g := startGatewayWith(t, "--oauth2")
	ctx := context.Background()
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "orders", "orders", func(r *keygate.Route) {
		r.OAuth2 = keygate.NewOAuth2AuthConfig()
		r.OAuth2.MethodScopes = map[string][]string{"GET": {"orders:read"}, "POST": {"orders:write"}}
	})
	acme := g.consumer(t, "acme")
	id, secret := g.oauthClient(t, "acme", "ci", "orders:read", "orders:write")

	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: g.proxyURL + accesstoken.TokenPath,
		Scopes: []string{"orders:read"}}
	client := cfg.Client(ctx)
	get := func(c *http.Client, method string) int {
		t.Helper()
		req, _ := http.NewRequest(method, g.proxyURL+"/orders", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if method == "GET" && resp.StatusCode == http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			e := decodeEcho(t, body)
			if got := http.Header(e.Headers); got.Get("X-Consumer-Id") != acme.ID || got.Get("X-Credential-Identifier") != id {
				t.Errorf("upstream saw consumer %q credential %q", got.Get("X-Consumer-Id"), got.Get("X-Credential-Identifier"))
			}
		}
		return resp.StatusCode
	}
	if status := get(client, "GET"); status != http.StatusOK {
		t.Fatalf("GET with an orders:read token: %d", status)
	}
	if status := get(client, "POST"); status != http.StatusForbidden {
		t.Errorf("POST with an orders:read token: %d, want 403 (insufficient_scope)", status)
	}

	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := oauthPost(t, g.proxyURL+accesstoken.RevocationPath, url.Values{"token": {tok.AccessToken}}, id, secret); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	status, h, _ := g.call(t, "GET", "/orders", hdr("Authorization", "Bearer "+tok.AccessToken))
	if status != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
		t.Errorf("a revoked token: %d (WWW-Authenticate %q), want 401", status, h.Get("WWW-Authenticate"))
	}
}
