package e2e

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// A credential imported with Kong's documentation secret ("secret", far
// shorter than a chosen one may be) signs requests through the gateway in
// both schemes, as it did in Kong; a wrong secret is still refused.
func TestGatewayHMACImportedShortSecret(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "signed", "orders", func(r *keygate.Route) { r.HMACAuth = keygate.NewHMACAuthConfig() })
	g.consumer(t, "acme")
	cred, err := g.admin.CreateHMACCredential(context.Background(), "acme", keygate.HMACCredentialRequest{Username: "kong-acme", Secret: "secret", Import: true})
	if err != nil || !cred.Weak {
		t.Fatalf("import: %+v %v", cred, err)
	}
	for _, tt := range []struct {
		name   string
		secret string
		scheme client.Scheme
		want   int
	}{
		{"Kong scheme", "secret", client.KongScheme, 200},
		{"RFC 9421", "secret", client.RFC9421, 200},
		{"wrong secret", "secreT", client.KongScheme, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hc := &http.Client{Transport: client.NewSigner("kong-acme", []byte(tt.secret), tt.scheme)}
			resp, err := hc.Get(g.proxyURL + "/signed/x")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
		})
	}
}
