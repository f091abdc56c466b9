package adminapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

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

// An HMAC credential may expire, given a ttl or an expires_at as a key is;
// every read shows when, and its status.
func TestHMACCredentialExpiry(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	ctx := t.Context()
	const path = "/v1/consumers/alice/hmac-credentials"

	future := adminapitest.Start.Add(48 * time.Hour)
	limit := adminapitest.Start.Add(keygate.MaxKeyTTL * time.Second)
	ttl := 3600
	valid := []struct {
		name string
		req  keygate.HMACCredentialRequest
		want *time.Time
	}{
		{"ttl", keygate.HMACCredentialRequest{TTL: &ttl}, new(adminapitest.Start.Add(time.Hour))},
		{"expires_at", keygate.HMACCredentialRequest{ExpiresAt: &future}, &future},
		{"expires_at at the limit", keygate.HMACCredentialRequest{ExpiresAt: &limit}, &limit},
		{"expires_at in another zone, stored in UTC", keygate.HMACCredentialRequest{ExpiresAt: new(future.In(time.FixedZone("UTC+2", 7200)))}, &future},
		{"neither: never", keygate.HMACCredentialRequest{}, nil},
	}
	for i, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Username = fmt.Sprint("signer-", i)
			issued, err := e.Client.CreateHMACCredential(ctx, "alice", tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Client.HMACCredential(ctx, "alice", issued.ID)
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range map[string]*keygate.HMACCredential{"created": &issued.HMACCredential, "got": got} {
				if (c.ExpiresAt == nil) != (tt.want == nil) || c.ExpiresAt != nil && (!c.ExpiresAt.Equal(*tt.want) || c.ExpiresAt.Location() != time.UTC) {
					t.Errorf("%s: expires_at %v, want %v", name, c.ExpiresAt, tt.want)
				}
				if c.Status != keygate.KeyActive {
					t.Errorf("%s: status %s", name, c.Status)
				}
			}
		})
	}
	t.Run("lists show expires_at and status, null when it never expires", func(t *testing.T) {
		r := request(t, e, "GET", path, "", nil)
		var list keygate.List[map[string]any]
		if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Data) != len(valid) {
			t.Fatalf("%d %s", r.status, r.body)
		}
		for _, c := range list.Data {
			exp, ok := c["expires_at"]
			if !ok || c["status"] != "active" || (exp == nil) != (c["username"] == fmt.Sprint("signer-", len(valid)-1)) {
				t.Errorf("listed %v", c)
			}
		}
	})

	tests := []struct {
		name, body, msg string
	}{
		{"ttl zero", `{"username":"x","ttl":0}`, "ttl: must be from 1 to 315360000 seconds"},
		{"ttl negative", `{"username":"x","ttl":-5}`, "ttl: must be from 1"},
		{"ttl too long", `{"username":"x","ttl":315360001}`, "ttl: must be from 1"},
		{"ttl not a number", `{"username":"x","ttl":"1h"}`, "ttl: must be an integer"},
		{"ttl and expires_at", `{"username":"x","ttl":60,"expires_at":"2031-01-01T00:00:00Z"}`, "ttl: cannot be given together with expires_at"},
		{"expires_at in the past", `{"username":"x","expires_at":"2029-12-31T00:00:00Z"}`, "expires_at: must be in the future"},
		{"expires_at now", `{"username":"x","expires_at":"2030-01-01T00:00:00Z"}`, "expires_at: must be in the future"},
		{"expires_at not a time", `{"username":"x","expires_at":"tomorrow"}`, "expires_at: must be an RFC 3339 time"},
		{"expires_at a number", `{"username":"x","expires_at":5}`, "expires_at: must be an RFC 3339 time"},
		{"expires_at a second past the limit", `{"username":"x","expires_at":"2039-12-30T00:00:01Z"}`, "expires_at: must be at most 315360000 seconds"},
		{"expires_at in 9999", `{"username":"x","expires_at":"9999-12-31T23:59:59Z"}`, "expires_at: must be at most"},
		// The other fields are checked first, and none is stored.
		{"a bad username with a good ttl", `{"username":"a b","ttl":60}`, "username:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, e, "POST", path, tt.body, nil)
			r.wantError(t, 400, keygate.EINVALID, tt.msg)
			if !strings.HasPrefix(r.err.Message, strings.SplitN(tt.msg, ":", 2)[0]+": ") {
				t.Errorf("message %q does not name the field first", r.err.Message)
			}
		})
	}
	if creds, _, err := e.Client.HMACCredentials(ctx, "alice", keygate.Page{}); err != nil || len(creds) != len(valid) {
		t.Errorf("after the refused requests: %d credentials, %v", len(creds), err)
	}
	if counts, err := e.Store.DataKeyCounts(ctx); err != nil || counts[1] != len(valid) {
		t.Errorf("data keys %v, %v: a refused request sealed a secret", counts, err)
	}

	t.Run("an expired credential still reads as it was stored", func(t *testing.T) {
		e.Clock.Advance(2 * time.Hour)
		creds, _, err := e.Client.HMACCredentials(ctx, "alice", keygate.Page{})
		if err != nil {
			t.Fatal(err)
		}
		c := creds[0] // ttl: an hour
		if c.Status != keygate.KeyActive || c.ExpiresAt == nil || !c.Expired(e.Clock.Now()) || c.Usable(e.Clock.Now()) {
			t.Errorf("expired credential %+v", c)
		}
	})
}

// A secret imported from Kong ("import": true) may be shorter than a chosen
// one: it is kept, shown once, sealed and never logged like any other, and
// the credential is weak for every read and for ?weak=true. Without import
// the short secret is refused as before; an import needs a secret.
func TestHMACCredentialImport(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	newConsumer(t, e.Client, "bob")
	const short = "kong-S3cr"
	long := strings.Repeat("L", 40)
	create := func(consumer, body string) keygate.IssuedHMACCredential {
		t.Helper()
		r := request(t, e, "POST", "/v1/consumers/"+consumer+"/hmac-credentials", body, nil)
		if r.status != 201 {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
		var c keygate.IssuedHMACCredential
		json.Unmarshal([]byte(r.body), &c)
		return c
	}
	weak := create("alice", `{"username":"kong-alice","secret":"`+short+`","import":true}`)
	if !weak.Weak || weak.Secret != short {
		t.Fatalf("imported short secret: weak %v, secret shown %v", weak.Weak, weak.Secret == short)
	}
	importedLong := create("alice", `{"username":"kong-alice-2","secret":"`+long+`","import":true}`)
	chosen := create("bob", `{"username":"bob-1","secret":"`+long+`"}`)
	generated := create("bob", `{"username":"bob-2"}`)
	create("bob", `{"username":"kong-bob","secret":"x","import":true}`)
	for _, c := range []keygate.IssuedHMACCredential{importedLong, chosen, generated} {
		if c.Weak {
			t.Errorf("%s is weak", c.Username)
		}
	}

	cred, _, err := e.Store.LookupHMACCredential(t.Context(), "kong-alice")
	if err != nil || !cred.Weak {
		t.Fatalf("lookup %+v %v", cred, err)
	}
	if plain, err := e.Keyring.Ring.Open(cred.Secret); err != nil || string(plain) != short {
		t.Fatalf("sealed secret opens to %q, %v", plain, err)
	}
	if got := must[*keygate.HMACCredential](t)(e.Client.HMACCredential(t.Context(), "alice", weak.ID)); !got.Weak {
		t.Errorf("get: %+v", got)
	}

	lists := []struct {
		name, path string
		want       []string
	}{
		{"weak", "/v1/hmac-credentials?weak=true", []string{"kong-alice", "kong-bob"}},
		{"not weak", "/v1/hmac-credentials?weak=false", []string{"kong-alice-2", "bob-1", "bob-2"}},
		{"all", "/v1/hmac-credentials", []string{"kong-alice", "kong-alice-2", "bob-1", "bob-2", "kong-bob"}},
		{"a consumer's weak", "/v1/consumers/bob/hmac-credentials?weak=1", []string{"kong-bob"}},
		{"paged, the filter kept", "/v1/hmac-credentials?weak=true&size=1", []string{"kong-alice"}},
	}
	for _, tt := range lists {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, e, "GET", tt.path, "", nil)
			var l keygate.List[*keygate.HMACCredential]
			if err := json.Unmarshal([]byte(r.body), &l); r.status != 200 || err != nil {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var got []string
			for _, c := range l.Data {
				got = append(got, c.Username)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if strings.Contains(r.body, short) || strings.Contains(r.body, `"secret"`) {
				t.Errorf("a list shows a secret: %s", r.body)
			}
			if l.Next != nil && !strings.Contains(*l.Next, "weak=true") {
				t.Errorf("next page %s drops the filter", *l.Next)
			}
		})
	}
	if strings.Contains(e.Logs.String(), short) {
		t.Error("the imported secret is logged")
	}

	bad := []struct{ name, path, body, field string }{
		{"short secret not imported", "/v1/consumers/alice/hmac-credentials", `{"username":"x1","secret":"` + short + `"}`, "secret: must be 32 to 512"},
		{"import without a secret", "/v1/consumers/alice/hmac-credentials", `{"username":"x2","import":true}`, "secret: required to import"},
		{"import with an empty secret", "/v1/consumers/alice/hmac-credentials", `{"username":"x3","secret":"","import":true}`, "secret: required to import"},
		{"import with a control character", "/v1/consumers/alice/hmac-credentials", `{"username":"x4","secret":"a\tb","import":true}`, "secret: must be printable ASCII"},
		{"import with a taken username", "/v1/consumers/bob/hmac-credentials", `{"username":"kong-alice","secret":"y","import":true}`, "username"},
		{"import not a boolean", "/v1/consumers/alice/hmac-credentials", `{"username":"x5","secret":"y","import":"yes"}`, "import: must be"},
		{"weak filter not a boolean", "/v1/hmac-credentials?weak=maybe", "", "weak: must be true or false"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			method := "POST"
			if tt.body == "" {
				method = "GET"
			}
			r := request(t, e, method, tt.path, tt.body, nil)
			if r.status/100 != 4 || !strings.Contains(r.err.Message, tt.field) {
				t.Errorf("%d %s, want 4xx naming %q", r.status, r.body, tt.field)
			}
		})
	}
}
