package oauth2server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/internal/cpubench"
)

// BenchmarkTokenEndpoint is one client_secret_basic token request through
// the handler: form, client lookup (SQLite), secret hash, claims, signature,
// JSON answer. It reports cpu-ns/op too: the machine is shared.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, alg := range []string{accesstoken.ES256, accesstoken.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			e := newEnv(b)
			p := policy
			p.Alg = alg
			set, _, err := accesstoken.Rotate(&accesstoken.KeySet{}, p, e.clock.Now())
			if err != nil {
				b.Fatal(err)
			}
			e.srv.SetKeys(set)
			id, secret := e.client(b, "ci", nil)
			b.ReportAllocs()
			done := cpubench.PerOp(b)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, accesstoken.TokenPath, strings.NewReader("grant_type=client_credentials&scope=orders%3Aread"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(id, secret)
				w := httptest.NewRecorder()
				e.srv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			done()
		})
	}
}
