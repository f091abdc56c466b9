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
