package adminapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// An HMAC credential's secret is shown once, at creation, and is stored
// sealed: the store's row holds no plaintext, and the keyring opens it.
func TestHMACCredentialSecretIsShownOnceAndSealed(t *testing.T) {
	e := adminapitest.New(t)
	alice := newConsumer(t, e.Client, "alice")

	r := request(t, e, "POST", "/v1/consumers/alice/hmac-credentials", `{"username":"alice-signer"}`, nil)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var issued keygate.IssuedHMACCredential
	json.Unmarshal([]byte(r.body), &issued)
	if len(issued.Secret) < 32 || issued.Username != "alice-signer" || issued.Consumer.ID != alice.ID || issued.Status != keygate.KeyActive {
		t.Fatalf("created %s", r.body)
	}
	base := "/v1/consumers/alice/hmac-credentials/"
	after := map[string]response{
		"get":          request(t, e, "GET", base+issued.ID, "", nil),
		"list":         request(t, e, "GET", "/v1/consumers/alice/hmac-credentials", "", nil),
		"list all":     request(t, e, "GET", "/v1/hmac-credentials", "", nil),
		"revoke":       request(t, e, "POST", base+issued.ID+"/revoke", "", nil),
		"revoke again": request(t, e, "POST", base+issued.ID+"/revoke", "", nil),
	}
	for name, r := range after {
		if r.status != 200 || !strings.Contains(r.body, issued.ID) {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		if strings.Contains(r.body, issued.Secret) {
			t.Errorf("%s shows the secret: %s", name, r.body)
		}
	}
	if strings.Contains(e.Logs.String(), issued.Secret) {
		t.Errorf("the secret is logged")
	}

	cred, consumer, err := e.Store.LookupHMACCredential(t.Context(), "alice-signer")
	if err != nil || consumer.ID != alice.ID || cred.Status != keygate.KeyRevoked {
		t.Fatalf("lookup %+v %+v %v", cred, consumer, err)
	}
	if strings.Contains(string(cred.Secret.Ciphertext), issued.Secret) {
		t.Fatal("the secret is stored in clear")
	}
	if plain, err := e.Keyring.Ring.Open(cred.Secret); err != nil || string(plain) != issued.Secret {
		t.Fatalf("sealed secret opens to %q, %v", plain, err)
	}

	if r := request(t, e, "DELETE", base+issued.ID, "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := request(t, e, "GET", base+issued.ID, "", nil); r.status != 404 {
		t.Errorf("after delete: %d", r.status)
	}
	// Crypto-shredding: the credential's data key is gone with it.
	if counts, err := e.Store.DataKeyCounts(t.Context()); err != nil || len(counts) != 0 {
		t.Errorf("data keys left after delete: %v %v", counts, err)
	}
}

func TestHMACCredentialBadInput(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "bob")
	newConsumer(t, e.Client, "eve")
	r := request(t, e, "POST", "/v1/consumers/bob/hmac-credentials", `{"username":"bob-1","secret":"0123456789abcdef0123456789abcdef"}`, nil)
	if r.status != 201 || !strings.Contains(r.body, `"secret":"0123456789abcdef0123456789abcdef"`) {
		t.Fatalf("with a given secret: %d %s", r.status, r.body)
	}
	var bobCred keygate.IssuedHMACCredential
	json.Unmarshal([]byte(r.body), &bobCred)
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"no username", "POST", "/v1/consumers/bob/hmac-credentials", `{}`, 400, "username"},
		{"username with a quote", "POST", "/v1/consumers/bob/hmac-credentials", `{"username":"a\"b"}`, 400, "username"},
		{"short secret", "POST", "/v1/consumers/bob/hmac-credentials", `{"username":"x","secret":"short"}`, 400, "secret"},
		{"unknown field", "POST", "/v1/consumers/bob/hmac-credentials", `{"username":"x","algorithm":"md5"}`, 400, "algorithm"},
		{"username taken", "POST", "/v1/consumers/eve/hmac-credentials", `{"username":"bob-1"}`, 409, "username"},
		{"unknown consumer", "POST", "/v1/consumers/nobody/hmac-credentials", `{"username":"y"}`, 404, "consumer"},
		{"another consumer's credential", "GET", "/v1/consumers/eve/hmac-credentials/" + bobCred.ID, "", 404, ""},
		{"revoke another consumer's credential", "POST", "/v1/consumers/eve/hmac-credentials/" + bobCred.ID + "/revoke", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, e, tt.method, tt.path, tt.body, nil)
			if r.status != tt.status || !strings.Contains(r.err.Message, tt.field) {
				t.Fatalf("%d %s, want %d naming %q", r.status, r.body, tt.status, tt.field)
			}
		})
	}
}
