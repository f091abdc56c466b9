package accesstoken_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/keygate/keygate/accesstoken"
)

func TestJWKSPublishesPublicKeysOnly(t *testing.T) {
	set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{currentKey(t, accesstoken.ES256), currentKey(t, accesstoken.EdDSA)}}
	doc, err := json.Marshal(set.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	for i, k := range parsed.Keys {
		if _, private := k["d"]; private {
			t.Errorf("key %d carries its private part", i)
		}
		if k["kid"] != set.Keys[i].ID || k["alg"] != set.Keys[i].Alg || k["use"] != "sig" {
			t.Errorf("key %d = %v, want kid, alg and use sig", i, k)
		}
	}

	// A verifier built from the parsed document accepts both keys' tokens.
	keys, err := accesstoken.ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	v := &accesstoken.Verifier{Issuer: issuer, Audience: aud, Keys: keys, Now: func() time.Time { return t0 }}
	for _, k := range set.Keys {
		if _, err := v.Verify(issue(t, k, claimsAt(t, grant(), t0))); err != nil {
			t.Errorf("%s token against the parsed JWKS: %v", k.Alg, err)
		}
	}
}

func TestParseJWKSRefuses(t *testing.T) {
	es := currentKey(t, accesstoken.ES256)
	doc, _ := json.Marshal((&accesstoken.KeySet{Keys: []*accesstoken.SigningKey{es}}).JWKS())
	one := func(change func(k map[string]any)) string {
		var parsed struct {
			Keys []map[string]any `json:"keys"`
		}
		json.Unmarshal(doc, &parsed)
		change(parsed.Keys[0])
		b, _ := json.Marshal(parsed)
		return string(b)
	}
	tests := map[string]string{
		"not JSON":               "{",
		"no kid":                 one(func(k map[string]any) { delete(k, "kid") }),
		"alg HS256":              one(func(k map[string]any) { k["alg"] = "HS256" }),
		"alg EdDSA on an EC key": one(func(k map[string]any) { k["alg"] = "EdDSA" }),
		"no alg":                 one(func(k map[string]any) { delete(k, "alg") }),
		"use enc":                one(func(k map[string]any) { k["use"] = "enc" }),
		"symmetric key":          `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"a","alg":"HS256"}]}`,
		"duplicate kid":          twice(t, doc),
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := accesstoken.ParseJWKS([]byte(doc)); err == nil {
				t.Errorf("ParseJWKS accepted %s", doc)
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	m, err := accesstoken.NewMetadata("https://auth.example.test/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	var got map[string]any
	json.Unmarshal(b, &got)
	want := map[string]any{
		"issuer":                 "https://auth.example.test/",
		"token_endpoint":         "https://auth.example.test/oauth2/token",
		"jwks_uri":               "https://auth.example.test/oauth2/jwks",
		"introspection_endpoint": "https://auth.example.test/oauth2/introspect",
		"revocation_endpoint":    "https://auth.example.test/oauth2/revoke",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if g := got["grant_types_supported"].([]any); len(g) != 1 || g[0] != "client_credentials" {
		t.Errorf("grant_types_supported = %v", g)
	}
	if _, ok := got["token_endpoint_auth_methods_supported"]; !ok {
		t.Error("token_endpoint_auth_methods_supported missing")
	}
	if r, ok := got["response_types_supported"].([]any); !ok || len(r) != 0 {
		t.Errorf("response_types_supported = %v, want [] (required by RFC 8414, no authorization endpoint)", got["response_types_supported"])
	}
}

func TestValidIssuer(t *testing.T) {
	for issuer, ok := range map[string]bool{
		"https://auth.example.test":        true,
		"https://auth.example.test/tenant": true,
		"http://127.0.0.1:8080":            true,
		"http://localhost:8080":            true,
		"http://auth.example.test":         false,
		"https://auth.example.test?x=1":    false,
		"https://auth.example.test#frag":   false,
		"https://user@auth.example.test":   false,
		"auth.example.test":                false,
		"":                                 false,
	} {
		if err := accesstoken.ValidIssuer(issuer); (err == nil) != ok {
			t.Errorf("ValidIssuer(%q) = %v, want ok %v", issuer, err, ok)
		}
	}
	if _, err := accesstoken.NewMetadata("http://auth.example.test"); err == nil {
		t.Error("NewMetadata accepted an http issuer")
	}
}

// twice returns a JWKS document holding its one key twice.
func twice(tb testing.TB, doc []byte) string {
	tb.Helper()
	var parsed struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		tb.Fatal(err)
	}
	parsed.Keys = append(parsed.Keys, parsed.Keys[0])
	b, _ := json.Marshal(parsed)
	return string(b)
}
