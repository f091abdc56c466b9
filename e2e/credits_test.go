package e2e

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Three nodes, two clients each, half through the gateway and half through
// the verify API, draining one key's credits: exactly as many uses succeed
// as there were credits, the rest are refused (429, USAGE_EXCEEDED), and
// the key ends at exactly 0. On PostgreSQL when KEYGATE_TEST_POSTGRES_URL is
// set, as a real cluster.
func TestClusterCreditsExact(t *testing.T) {
	nodes := cluster(t)
	a := nodes[0]
	ctx := context.Background()
	a.service(t, "s", a.upstream.URL, nil)
	a.route(t, "r", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	a.consumer(t, "acme")
	const credits, perClient = 240, 50 // 6 clients x 50 = 300 uses
	k := a.key(t, "acme", keygate.KeyRequest{Credits: &keygate.Credits{Remaining: credits}})
	for _, n := range nodes { // the route is everywhere before the clients start
		within(t, 2*time.Second, "route r", http.StatusOK, func() int {
			s, _, _ := n.call(t, "GET", "/r", hdr("apikey", k.Key))
			return s
		})
	}
	warm := int64(len(nodes)) // the calls above spent one each

	var ok, refused, other atomic.Int64
	var wg sync.WaitGroup
	for i, n := range nodes {
		for c := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perClient {
					var status int
					if c == 0 {
						status, _, _ = n.call(t, "GET", "/r", hdr("apikey", k.Key))
					} else {
						res, err := n.admin.VerifyKey(ctx, keygate.VerifyRequest{Key: k.Key})
						switch {
						case err != nil:
							t.Errorf("node %d verify: %v", i, err)
						case res.Code == keygate.CodeValid:
							status = http.StatusOK
						case res.Code == keygate.CodeUsageExceeded:
							status = http.StatusTooManyRequests
						}
					}
					switch status {
					case http.StatusOK:
						ok.Add(1)
					case http.StatusTooManyRequests:
						refused.Add(1)
					default:
						other.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	stored, err := a.admin.Key(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok.Load()+warm != credits || refused.Load() != 6*perClient-(credits-warm) || other.Load() != 0 ||
		stored.Credits == nil || stored.Credits.Remaining != 0 {
		t.Errorf("%d allowed (+%d warming up), %d refused, %d other; %+v left; want %d allowed in all and 0 left",
			ok.Load(), warm, refused.Load(), other.Load(), stored.Credits, credits)
	}
}
