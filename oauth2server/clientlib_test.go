package oauth2server_test

import (
	"testing"

	"github.com/keygate/keygate/accesstoken"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The real client library gets tokens with either secret method.
func TestClientCredentialsLibrary(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client(t, "ci", nil)
	for name, style := range map[string]oauth2.AuthStyle{"basic": oauth2.AuthStyleInHeader, "post": oauth2.AuthStyleInParams, "auto": oauth2.AuthStyleAutoDetect} {
		t.Run(name, func(t *testing.T) {
			cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.ts.URL + accesstoken.TokenPath,
				Scopes: []string{"orders:write"}, AuthStyle: style}
			tok, err := cfg.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			claims, err := e.verifier(t).Verify(tok.AccessToken)
			if err != nil || tok.TokenType != "Bearer" || claims.ClientID != id || len(claims.Scopes) != 1 || claims.Scopes[0] != "orders:write" {
				t.Errorf("token %+v, claims %+v, %v", tok, claims, err)
			}
		})
	}
	t.Run("a wrong secret is the library's RetrieveError invalid_client", func(t *testing.T) {
		cfg := clientcredentials.Config{ClientID: id, ClientSecret: "wrong", TokenURL: e.ts.URL + accesstoken.TokenPath, AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cfg.Token(t.Context())
		re, ok := err.(*oauth2.RetrieveError)
		if !ok || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
			t.Errorf("%v", err)
		}
	})
}
