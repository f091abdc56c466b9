package keygate_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/keygate/keygate"
)

// TestRouteOAuth2JSON: oauth2 is decoded as key_auth is: nil when absent,
// defaults (the local issuer, 30 s leeway) for what an object leaves out,
// unknown settings refused.
func TestRouteOAuth2JSON(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // the config as JSON; "" for nil
		bad  bool
	}{
		{"absent", `{}`, "", false},
		{"null", `{"oauth2": null}`, "", false},
		{"empty object: defaults", `{"oauth2": {}}`,
			`{"scopes":[],"method_scopes":{},"issuers":[{"local":true}],"hide_credentials":false,"leeway":30}`, false},
		{"external issuer: sub holds a consumer id", `{"oauth2": {"audience": "api", "issuers": [{"issuer": "https://idp", "jwks_uri": "https://idp/jwks"}]}}`,
			`{"scopes":[],"method_scopes":{},"audience":"api","issuers":[{"issuer":"https://idp","jwks_uri":"https://idp/jwks","consumer_claim":"sub","consumer_by":"id"}],"hide_credentials":false,"leeway":30}`, false},
		{"an unknown setting", `{"oauth2": {"scope": ["a"]}}`, "", true},
		{"an unknown issuer setting", `{"oauth2": {"issuers": [{"jwks_url": "x"}]}}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := keygate.NewRoute()
			err := json.Unmarshal([]byte(tt.doc), r)
			if tt.bad {
				if err == nil {
					t.Fatal("decoded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if r.OAuth2 != nil {
					t.Fatalf("oauth2 = %+v, want nil", r.OAuth2)
				}
				return
			}
			got, _ := json.Marshal(r.OAuth2)
			if string(got) != tt.want {
				t.Errorf("oauth2 = %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRouteOAuth2Validate(t *testing.T) {
	ext := func() keygate.OAuth2Issuer {
		return keygate.OAuth2Issuer{Issuer: "https://idp.example", JWKSURI: "https://idp.example/jwks",
			Audience: "orders", ConsumerClaim: "sub", ConsumerBy: "id"}
	}
	tests := []struct {
		name  string
		edit  func(c *keygate.OAuth2AuthConfig)
		field string // "" for valid
	}{
		{"defaults", func(c *keygate.OAuth2AuthConfig) {}, ""},
		{"scopes and method scopes", func(c *keygate.OAuth2AuthConfig) {
			c.Scopes, c.MethodScopes = []string{"orders"}, map[string][]string{"POST": {"orders:write"}}
		}, ""},
		{"external issuer", func(c *keygate.OAuth2AuthConfig) { c.Issuers = append(c.Issuers, ext()) }, ""},
		{"http jwks on loopback", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.JWKSURI = "http://127.0.0.1:9/jwks"
			c.Issuers = []keygate.OAuth2Issuer{e}
		}, ""},
		{"bad scope", func(c *keygate.OAuth2AuthConfig) { c.Scopes = []string{"a b"} }, "oauth2.scopes[0]"},
		{"bad method", func(c *keygate.OAuth2AuthConfig) { c.MethodScopes = map[string][]string{"get": {"x"}} }, "oauth2.method_scopes"},
		{"bad method scope", func(c *keygate.OAuth2AuthConfig) { c.MethodScopes = map[string][]string{"GET": {`"`}} }, "oauth2.method_scopes.GET[0]"},
		{"negative leeway", func(c *keygate.OAuth2AuthConfig) { c.Leeway = -1 }, "oauth2.leeway"},
		{"huge leeway", func(c *keygate.OAuth2AuthConfig) { c.Leeway = 3600 }, "oauth2.leeway"},
		{"no issuers", func(c *keygate.OAuth2AuthConfig) { c.Issuers = nil }, "oauth2.issuers"},
		{"local twice", func(c *keygate.OAuth2AuthConfig) { c.Issuers = append(c.Issuers, keygate.OAuth2Issuer{Local: true}) }, "oauth2.issuers[1]"},
		{"local with a jwks_uri", func(c *keygate.OAuth2AuthConfig) { c.Issuers[0].JWKSURI = "https://x/jwks" }, "oauth2.issuers[0]"},
		{"local with allow_plain_jwt", func(c *keygate.OAuth2AuthConfig) { c.Issuers[0].AllowPlainJWT = true }, "oauth2.issuers[0]"},
		{"external without issuer", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.Issuer = ""
			c.Issuers = []keygate.OAuth2Issuer{e}
		}, "oauth2.issuers[0].issuer"},
		{"external with plain http jwks", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.JWKSURI = "http://idp.example/jwks"
			c.Issuers = []keygate.OAuth2Issuer{e}
		}, "oauth2.issuers[0].jwks_uri"},
		{"external without jwks", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.JWKSURI = ""
			c.Issuers = []keygate.OAuth2Issuer{e}
		}, "oauth2.issuers[0].jwks_uri"},
		{"external without audience", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.Audience = ""
			c.Issuers = []keygate.OAuth2Issuer{e}
		}, "oauth2.issuers[0].audience"},
		{"external with the route's audience", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.Audience = ""
			c.Audience, c.Issuers = "orders", []keygate.OAuth2Issuer{e}
		}, ""},
		{"bad consumer_claim", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.ConsumerClaim = "email"
			c.Issuers = []keygate.OAuth2Issuer{e}
		}, "oauth2.issuers[0].consumer_claim"},
		{"bad consumer_by", func(c *keygate.OAuth2AuthConfig) {
			e := ext()
			e.ConsumerBy = "email"
			c.Issuers = []keygate.OAuth2Issuer{e}
		}, "oauth2.issuers[0].consumer_by"},
		{"same external twice", func(c *keygate.OAuth2AuthConfig) { c.Issuers = []keygate.OAuth2Issuer{ext(), ext()} }, "oauth2.issuers[1]"},
		{"audience with a quote", func(c *keygate.OAuth2AuthConfig) { c.Audience = `a"b` }, "oauth2.audience"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRoute()
			r.KeyAuth = nil
			r.OAuth2 = keygate.NewOAuth2AuthConfig()
			tt.edit(r.OAuth2)
			wantInvalid(t, r.Validate(), tt.field)
		})
	}
	t.Run("an ACL with oauth2 alone", func(t *testing.T) {
		r := validRoute()
		r.KeyAuth, r.OAuth2 = nil, keygate.NewOAuth2AuthConfig()
		wantInvalid(t, r.Validate(), "")
	})
}

func TestOAuth2RequiredScopes(t *testing.T) {
	c := keygate.NewOAuth2AuthConfig()
	c.Scopes = make([]string, 1, 4)
	c.Scopes[0] = "orders"
	c.MethodScopes = map[string][]string{"POST": {"orders:write"}}
	if got := c.RequiredScopes("GET"); !slices.Equal(got, []string{"orders"}) {
		t.Errorf("GET: %v", got)
	}
	if got := c.RequiredScopes("POST"); !slices.Equal(got, []string{"orders", "orders:write"}) {
		t.Errorf("POST: %v", got)
	}
	c.RequiredScopes("PUT")
	if got := c.RequiredScopes("POST"); !slices.Equal(got, []string{"orders", "orders:write"}) || len(c.Scopes) != 1 {
		t.Errorf("RequiredScopes changed the config: %v, %v", got, c.Scopes)
	}
}
