package keygate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func TestOAuthClientRequestValidate(t *testing.T) {
	lifetime := func(n int) *int { return &n }
	const ed = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`
	tests := []struct {
		name  string
		req   keygate.OAuthClientRequest
		field string // "" when valid
	}{
		{"defaults", keygate.OAuthClientRequest{Name: "ci"}, ""},
		{"scopes and methods", keygate.OAuthClientRequest{Name: "ci", Scopes: []string{"orders:read", "orders.write"},
			AuthMethods: []string{"client_secret_basic", "client_secret_post"}}, ""},
		{"private_key_jwt with a jwks", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKS: []byte(ed)}, ""},
		{"private_key_jwt with a jwks_uri", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKSURL: "https://ci.example/jwks"}, ""},
		{"lifetime at the bounds", keygate.OAuthClientRequest{Name: "ci", TokenLifetime: lifetime(60)}, ""},
		{"no name", keygate.OAuthClientRequest{}, "name"},
		{"name with a space", keygate.OAuthClientRequest{Name: "c i"}, "name"},
		{"empty scope", keygate.OAuthClientRequest{Name: "ci", Scopes: []string{""}}, "scopes[0]"},
		{"scope with a comma", keygate.OAuthClientRequest{Name: "ci", Scopes: []string{"a,b"}}, "scopes[0]"},
		{"scope with a quote", keygate.OAuthClientRequest{Name: "ci", Scopes: []string{`a"b`}}, "scopes[0]"},
		{"scope not ASCII", keygate.OAuthClientRequest{Name: "ci", Scopes: []string{"zoë"}}, "scopes[0]"},
		{"lifetime too short", keygate.OAuthClientRequest{Name: "ci", TokenLifetime: lifetime(59)}, "token_lifetime"},
		{"lifetime too long", keygate.OAuthClientRequest{Name: "ci", TokenLifetime: lifetime(86401)}, "token_lifetime"},
		{"unknown method", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"none"}}, "auth_methods"},
		{"private_key_jwt without keys", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}}, "jwks"},
		{"jwks and jwks_uri", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKS: []byte(ed), JWKSURL: "https://a.example/j"}, "jwks_uri"},
		{"jwks without private_key_jwt", keygate.OAuthClientRequest{Name: "ci", JWKS: []byte(ed)}, "jwks"},
		{"jwks_uri over http", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKSURL: "http://a.example/j"}, "jwks_uri"},
		{"jwks_uri with credentials", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKSURL: "https://u:p@a.example/j"}, "jwks_uri"},
		{"jwks not an object", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKS: []byte(`[1]`)}, "jwks"},
		{"jwks without keys", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKS: []byte(`{"keys":[]}`)}, "jwks"},
		{"jwk without kty", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"}, JWKS: []byte(`{"keys":[{"x":"a"}]}`)}, "jwks"},
		{"private jwk", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"},
			JWKS: []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"a","d":"b"}]}`)}, "jwks"},
		{"symmetric jwk", keygate.OAuthClientRequest{Name: "ci", AuthMethods: []string{"private_key_jwt"},
			JWKS: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)}, "jwks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Normalize()
			err := tt.req.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.field == "":
			case keygate.ErrorCode(err) != keygate.EINVALID || !strings.HasPrefix(keygate.ErrorMessage(err), tt.field+":"):
				t.Fatalf("Validate = %v, want EINVALID naming %s", err, tt.field)
			}
		})
	}
}

func TestOAuthClientVerifySecret(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := now.Add(time.Hour)
	c := &keygate.OAuthClient{Status: keygate.KeyActive, SecretHash: []byte("current"), PreviousSecretHash: []byte("previous"), PreviousSecretExpiresAt: &until}
	revoked := *c
	revoked.Status = keygate.KeyRevoked
	noPrevious := *c
	noPrevious.PreviousSecretHash, noPrevious.PreviousSecretExpiresAt = nil, nil
	tests := []struct {
		name   string
		client *keygate.OAuthClient
		sum    string
		at     time.Time
		want   bool
	}{
		{"current", c, "current", now, true},
		{"previous in the overlap", c, "previous", now, true},
		{"previous when the overlap ends", c, "previous", until, false},
		{"current after the overlap", c, "current", until, true},
		{"other", c, "other", now, false},
		{"empty", c, "", now, false},
		{"empty with no previous", &noPrevious, "", now, false},
		{"revoked", &revoked, "current", now, false},
		{"empty against an empty hash", &keygate.OAuthClient{Status: keygate.KeyActive}, "", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.client.VerifySecret([]byte(tt.sum), tt.at); got != tt.want {
				t.Errorf("VerifySecret = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRotateSecretRequestOverlap(t *testing.T) {
	n := func(v int) *int { return &v }
	tests := []struct {
		name    string
		overlap *int
		want    time.Duration
		bad     bool
	}{
		{"default", nil, keygate.DefaultSecretOverlap, false},
		{"none", n(0), 0, false},
		{"an hour", n(3600), time.Hour, false},
		{"negative", n(-1), 0, true},
		{"past the maximum", n(int(keygate.MaxSecretOverlap/time.Second) + 1), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := keygate.RotateSecretRequest{Overlap: tt.overlap}
			got, err := r.OverlapDuration()
			if (err != nil) != tt.bad || got != tt.want {
				t.Errorf("OverlapDuration = %v, %v; want %v, error %v", got, err, tt.want, tt.bad)
			}
		})
	}
}

// ValidateJWKSShape takes any bytes: it refuses, never panics.
func FuzzValidateJWKSShape(f *testing.F) {
	for _, seed := range []string{`{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]}`, `{"keys":[null]}`, `{"keys":[{"kty":1}]}`, `[]`, `null`, ``} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := keygate.ValidateJWKSShape(b); err != nil && keygate.ErrorCode(err) != keygate.EINVALID {
			t.Fatalf("error %v is not EINVALID", err)
		}
	})
}
