package accesstoken_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/accesstoken"
)

var refusals = []error{
	accesstoken.ErrMalformed, accesstoken.ErrAlgorithm, accesstoken.ErrType, accesstoken.ErrUnknownKey,
	accesstoken.ErrSignature, accesstoken.ErrMissingClaim, accesstoken.ErrExpired, accesstoken.ErrNotYetValid,
	accesstoken.ErrIssuer, accesstoken.ErrAudience,
}

// FuzzVerify: whatever arrives in a Bearer header, Verify returns claims
// or one of its typed refusals, never panics, and never echoes the input.
func FuzzVerify(f *testing.F) {
	k := currentKey(f, accesstoken.EdDSA)
	set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{k}}
	good := issue(f, k, claimsAt(f, grant(), t0))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	v := verifierAt(set, t0)
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := v.Verify(token)
		if err == nil {
			if claims == nil {
				t.Fatal("no error and no claims")
			}
			return
		}
		known := false
		for _, r := range refusals {
			known = known || errors.Is(err, r)
		}
		if !known {
			t.Fatalf("untyped error %v", err)
		}
		if len(token) >= 6 && strings.Contains(err.Error(), token) {
			t.Fatalf("error %q echoes the token", err)
		}
	})
}

// FuzzParseJWKS: a JWKS document from anywhere never panics the parser.
func FuzzParseJWKS(f *testing.F) {
	f.Add(`{"keys":[]}`)
	f.Add(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a","alg":"EdDSA"}]}`)
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"b","alg":"ES256","use":"sig"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		keys, err := accesstoken.ParseJWKS([]byte(doc))
		if err == nil && keys == nil {
			t.Fatal("no error and no keys")
		}
	})
}
