package oauth2_test

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/oauth2"
	"github.com/keygate/keygate/internal/cpubench"
)

// BenchmarkVerifyJWTAtGateway is the gateway's per-request cost of an
// oauth2 route: find the bearer token, verify the ES256 JWT against the
// cached keys, check the denylist and the scopes, and find the client and
// consumer (cached), through the Authenticator.
func BenchmarkVerifyJWTAtGateway(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"verify", -1}, {"cached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			w := newWorld(b)
			w.provider = oauth2.NewProvider(w.store, oauth2.Options{
				Local:         &oauth2.Local{Issuer: localIssuer, Audience: localIssuer, Keys: w.loadKeys},
				Denylist:      denylist(w.denied),
				TokenCacheTTL: bc.ttl,
			})
			w.clock.ns.Store(time.Now().UnixNano())
			a := w.authenticator(b, func(c *keygate.OAuth2AuthConfig) { c.Scopes = []string{"orders"} })
			r := request("GET", "Bearer "+w.token(b, "orders"))
			ctx := context.Background()
			if res, _ := a.Authenticate(ctx, r, keygate.Target{}); res.Verdict != auth.Granted {
				b.Fatal(res.Message)
			}
			b.ReportAllocs()
			done := cpubench.PerOp(b)
			for b.Loop() {
				res, err := a.Authenticate(ctx, r, keygate.Target{})
				if err != nil || res.Verdict != auth.Granted {
					b.Fatal(res.Message, err)
				}
			}
			done()
		})
	}
}
