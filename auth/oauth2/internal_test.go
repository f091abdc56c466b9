package oauth2

import (
	"strings"
	"testing"
	"time"
)

func TestMaxAge(t *testing.T) {
	tests := map[string]time.Duration{
		"":                          DefaultJWKSMaxAge,
		"max-age=600":               10 * time.Minute,
		"public, max-age=3600":      time.Hour,
		"max-age=5":                 MinJWKSMaxAge,
		"max-age=31536000":          MaxJWKSMaxAge,
		"no-store":                  MinJWKSMaxAge,
		"no-cache, max-age=600":     MinJWKSMaxAge,
		"max-age=nonsense":          DefaultJWKSMaxAge,
		"max-age=-1":                DefaultJWKSMaxAge,
		"max-age=99999999999999999": MaxJWKSMaxAge,
	}
	for cc, want := range tests {
		if got := maxAge(cc); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", cc, got, want)
		}
	}
}

func TestJWTShaped(t *testing.T) {
	tests := map[string]bool{
		"a.b.c": true, "a.b.": true, "eyJ.eyJ.sig-_": true,
		"": false, "a.b": false, "a..c": false, ".b.c": false, "a.b.c.d": false, "a.b.c=": false,
		"kg_live_abc": false, "a b.c.d": false, strings.Repeat("a", 8<<10) + ".b.c": false,
	}
	for tok, want := range tests {
		if got := jwtShaped(tok); got != want {
			t.Errorf("jwtShaped(%.20q) = %v, want %v", tok, got, want)
		}
	}
}

func TestParseExternalJWKS(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		kids []string // usable
		err  string
	}{
		{"not JSON", `{`, nil, "jwks"},
		{"no keys", `{"keys": []}`, nil, "no signing key"},
		{"only an encryption key", `{"keys": [{"kty":"EC","crv":"P-256","kid":"e","use":"enc",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, nil, "no signing key"},
		{"EC key without alg", `{"keys": [{"kty":"EC","crv":"P-256","kid":"a",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, []string{"a"}, ""},
		{"EC key with another curve's alg", `{"keys": [{"kty":"EC","crv":"P-256","kid":"a","alg":"ES384",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, nil, "no signing key"},
		{"kid twice", `{"keys": [{"kty":"EC","crv":"P-256","kid":"a",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},` +
			`{"kty":"EC","crv":"P-256","kid":"a",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, nil, "twice"},
		{"a key type go-jose does not know is skipped", `{"keys": [{"kty":"OKP","crv":"X25519","kid":"x","x":"AAAA"},` +
			`{"kty":"EC","crv":"P-256","kid":"a",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parseExternalJWKS([]byte(tt.doc))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if keys.Len() != len(tt.kids) {
				t.Errorf("%d keys, want %v", keys.Len(), tt.kids)
			}
			for _, kid := range tt.kids {
				if _, _, ok := keys.PublicKey(kid); !ok {
					t.Errorf("kid %s missing", kid)
				}
			}
		})
	}
}

func TestAlgFits(t *testing.T) {
	for _, tt := range []struct {
		key, header string
		want        bool
	}{{"RS256", "RS256", true}, {"RS256", "PS256", false}, {"RS256|PS256", "PS256", true}, {"RS256|PS256", "HS256", false}, {"ES256", "ES384", false}} {
		if got := algFits(tt.key, tt.header); got != tt.want {
			t.Errorf("algFits(%s, %s) = %v", tt.key, tt.header, got)
		}
	}
}
