package accesstoken_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/internal/cpubench"
)

// BenchmarkVerifyJWT is the gateway's per-request cost of an access token:
// parse, look up the kid, verify the signature, check the claims.
func BenchmarkVerifyJWT(b *testing.B) {
	for _, alg := range []string{accesstoken.ES256, accesstoken.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			k := currentKey(b, alg)
			set := &accesstoken.KeySet{Keys: []*accesstoken.SigningKey{k}}
			tok := issue(b, k, claimsAt(b, grant(), t0))
			v := verifierAt(set, t0.Add(time.Minute))
			b.ReportAllocs()
			done := cpubench.PerOp(b)
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
			done()
		})
	}
}

// BenchmarkSignatureOnly is the floor under BenchmarkVerifyJWT: the bare
// signature check of a token-sized input, with no JOSE around it.
func BenchmarkSignatureOnly(b *testing.B) {
	msg := make([]byte, 400)
	b.Run(accesstoken.ES256, func(b *testing.B) {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		digest := sha256.Sum256(msg)
		sig, _ := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		b.ReportAllocs()
		done := cpubench.PerOp(b)
		for b.Loop() {
			digest := sha256.Sum256(msg)
			if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
				b.Fatal("bad signature")
			}
		}
		done()
	})
	b.Run(accesstoken.EdDSA, func(b *testing.B) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		sig := ed25519.Sign(priv, msg)
		b.ReportAllocs()
		done := cpubench.PerOp(b)
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("bad signature")
			}
		}
		done()
	})
}
