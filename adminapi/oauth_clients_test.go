package adminapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// verifies reports whether secret is one the stored client accepts now.
func verifies(tb testing.TB, e *adminapitest.Env, clientID, secret string) bool {
	tb.Helper()
	c, err := e.Store.FindOAuthClient(tb.Context(), clientID)
	if err != nil {
		tb.Fatal(err)
	}
	sum := e.Server.Hasher.HashSecret(c.ClientID, secret)
	return c.VerifySecret(sum[:], e.Clock.Now())
}

// A client's secret is shown at creation and at each rotation, never by a
// read, and only its hash is stored; the rotated-out secret works until the
// overlap ends.
func TestOAuthClientSecretIsShownOnce(t *testing.T) {
	e := adminapitest.New(t)
	alice := newConsumer(t, e.Client, "alice")

	r := request(t, e, "POST", "/v1/consumers/alice/oauth-clients", `{"name":"ci","scopes":["orders:read"]}`, nil)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var issued keygate.IssuedOAuthClient
	json.Unmarshal([]byte(r.body), &issued)
	if len(issued.ClientSecret) < 32 || !strings.HasPrefix(issued.ClientID, "kgc_") || issued.Consumer.ID != alice.ID ||
		issued.TokenLifetime != keygate.DefaultTokenLifetime || !issued.AllowsAuthMethod(keygate.ClientSecretBasic) {
		t.Fatalf("created %s", r.body)
	}
	if !verifies(t, e, issued.ClientID, issued.ClientSecret) || verifies(t, e, issued.ClientID, issued.ClientSecret+"x") {
		t.Fatal("the stored hash does not verify exactly the issued secret")
	}
	stored, _ := e.Store.FindOAuthClient(t.Context(), issued.ID)
	if strings.Contains(string(stored.SecretHash), issued.ClientSecret) {
		t.Fatal("the secret is stored in clear")
	}

	r = request(t, e, "POST", "/v1/oauth-clients/"+issued.ClientID+"/rotate-secret", `{"overlap":3600}`, nil)
	if r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	var rotated keygate.IssuedOAuthClient
	json.Unmarshal([]byte(r.body), &rotated)
	if rotated.ClientSecret == issued.ClientSecret || len(rotated.ClientSecret) < 32 || strings.Contains(r.body, issued.ClientSecret) ||
		rotated.PreviousSecretExpiresAt == nil || !rotated.PreviousSecretExpiresAt.Equal(e.Clock.Now().Add(time.Hour)) {
		t.Fatalf("rotated %s", r.body)
	}
	if !verifies(t, e, issued.ClientID, issued.ClientSecret) || !verifies(t, e, issued.ClientID, rotated.ClientSecret) {
		t.Error("in the overlap: want both secrets")
	}
	e.Clock.Advance(time.Hour)
	if verifies(t, e, issued.ClientID, issued.ClientSecret) || !verifies(t, e, issued.ClientID, rotated.ClientSecret) {
		t.Error("after the overlap: want only the new secret")
	}

	after := map[string]response{
		"get by id":        request(t, e, "GET", "/v1/oauth-clients/"+issued.ID, "", nil),
		"get by client_id": request(t, e, "GET", "/v1/oauth-clients/"+issued.ClientID, "", nil),
		"list":             request(t, e, "GET", "/v1/consumers/alice/oauth-clients", "", nil),
		"list all":         request(t, e, "GET", "/v1/oauth-clients", "", nil),
		"revoke":           request(t, e, "POST", "/v1/oauth-clients/"+issued.ID+"/revoke", "", nil),
		"revoke again":     request(t, e, "POST", "/v1/oauth-clients/"+issued.ID+"/revoke", "", nil),
	}
	for name, r := range after {
		if r.status != 200 || !strings.Contains(r.body, issued.ClientID) {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		for _, secret := range []string{issued.ClientSecret, rotated.ClientSecret} {
			if strings.Contains(r.body, secret) || strings.Contains(r.body, "secret_hash") {
				t.Errorf("%s shows a secret or its hash: %s", name, r.body)
			}
		}
	}
	if verifies(t, e, issued.ClientID, rotated.ClientSecret) {
		t.Error("a revoked client's secret verifies")
	}
	request(t, e, "POST", "/v1/oauth-clients/"+issued.ID+"/rotate-secret", "", nil).
		wantError(t, 409, keygate.ECONFLICT, "revoked")
	for _, secret := range []string{issued.ClientSecret, rotated.ClientSecret} {
		if strings.Contains(e.Logs.String(), secret) {
			t.Error("a secret is logged")
		}
	}
	events, _, err := e.Client.Audit(t.Context(), keygate.AuditFilter{TargetID: issued.ID}, keygate.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
		if b, _ := json.Marshal(ev); strings.Contains(string(b), issued.ClientSecret) || strings.Contains(string(b), rotated.ClientSecret) {
			t.Errorf("audit event holds a secret: %s", b)
		}
	}
	if want := "oauth_client.created oauth_client.secret_rotated oauth_client.revoked oauth_client.revoked"; strings.Join(actions, " ") != want {
		t.Errorf("audit = %v, want %s", actions, want)
	}

	if r := request(t, e, "DELETE", "/v1/oauth-clients/"+issued.ClientID, "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	request(t, e, "GET", "/v1/oauth-clients/"+issued.ClientID, "", nil).wantError(t, 404, keygate.ENOTFOUND, "oauth client")
	request(t, e, "DELETE", "/v1/oauth-clients/"+issued.ClientID, "", nil).wantError(t, 404, keygate.ENOTFOUND, "oauth client")
}

func TestOAuthClientBadInput(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "bob")
	if r := request(t, e, "POST", "/v1/consumers/bob/oauth-clients", `{"name":"taken"}`, nil); r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	public, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ec.PublicKey, KeyID: "k1", Algorithm: "ES256"}}})
	private, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec, KeyID: "k1", Algorithm: "ES256"}}})
	tests := []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		{"no name", "/v1/consumers/bob/oauth-clients", `{}`, 400, keygate.EINVALID, "name: required"},
		{"name taken", "/v1/consumers/bob/oauth-clients", `{"name":"taken"}`, 409, keygate.ECONFLICT, "name:"},
		{"unknown consumer", "/v1/consumers/nobody/oauth-clients", `{"name":"a"}`, 404, keygate.ENOTFOUND, "consumer"},
		{"scope with a space", "/v1/consumers/bob/oauth-clients", `{"name":"a","scopes":["a b"]}`, 400, keygate.EINVALID, "scopes[0]:"},
		{"lifetime too short", "/v1/consumers/bob/oauth-clients", `{"name":"a","token_lifetime":10}`, 400, keygate.EINVALID, "token_lifetime:"},
		{"unknown auth method", "/v1/consumers/bob/oauth-clients", `{"name":"a","auth_methods":["none"]}`, 400, keygate.EINVALID, "auth_methods:"},
		{"private_key_jwt without keys", "/v1/consumers/bob/oauth-clients", `{"name":"a","auth_methods":["private_key_jwt"]}`, 400, keygate.EINVALID, "jwks:"},
		{"jwks_uri over http", "/v1/consumers/bob/oauth-clients", `{"name":"a","auth_methods":["private_key_jwt"],"jwks_uri":"http://ci.example/jwks"}`, 400, keygate.EINVALID, "jwks_uri:"},
		{"private key in the jwks", "/v1/consumers/bob/oauth-clients", `{"name":"a","auth_methods":["private_key_jwt"],"jwks":` + string(private) + `}`, 400, keygate.EINVALID, "jwks: keys[0]: must be a public key"},
		{"unparsable key", "/v1/consumers/bob/oauth-clients", `{"name":"a","auth_methods":["private_key_jwt"],"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}}`, 400, keygate.EINVALID, "jwks:"},
		{"unknown field", "/v1/consumers/bob/oauth-clients", `{"name":"a","client_secret":"mine"}`, 400, keygate.EINVALID, "client_secret"},
		{"negative overlap", "/v1/oauth-clients/kgc_nope/rotate-secret", `{"overlap":-1}`, 400, keygate.EINVALID, "overlap:"},
		{"rotate unknown", "/v1/oauth-clients/kgc_nope/rotate-secret", ``, 404, keygate.ENOTFOUND, "oauth client"},
		{"revoke unknown", "/v1/oauth-clients/kgc_nope/revoke", ``, 404, keygate.ENOTFOUND, "oauth client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, "POST", tt.path, tt.body, nil).wantError(t, tt.status, tt.code, tt.msg)
		})
	}
	clients, _, err := e.Client.OAuthClients(t.Context(), "bob", keygate.Page{})
	if err != nil || len(clients) != 1 {
		t.Errorf("after refusals: %d clients, %v; want only the first", len(clients), err)
	}

	r := request(t, e, "POST", "/v1/consumers/bob/oauth-clients", `{"name":"signer","auth_methods":["private_key_jwt"],"jwks":`+string(public)+`}`, nil)
	if r.status != 201 || !strings.Contains(r.body, `"kid":"k1"`) {
		t.Errorf("with a public jwks: %d %s", r.status, r.body)
	}
}
