package e2e

import (
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate"
)

// The keygate keyring commands against a running gateway.

// The keyring is rotated, rewrapped and its old version retired through the
// CLI while the gateway serves keyed requests: none fails, and after a
// restart the pepper — now wrapped by the new version only — still opens,
// so every issued key still works.
func TestKeyringRotationWhileServing(t *testing.T) {
	g := startGateway(t)
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "orders", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "acme")
	key := g.key(t, "acme", keygate.KeyRequest{}).Key

	stop := make(chan struct{})
	var wg sync.WaitGroup
	failures := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if status, _, _ := g.call(t, "GET", "/orders", hdr("apikey", key)); status != 200 {
				failures++
			}
		}
	})
	t.Setenv("KEYGATE_ADMIN_URL", g.adminURL)
	t.Setenv("KEYGATE_ADMIN_TOKEN", testAdminToken)
	for _, args := range [][]string{
		{"keyring", "rotate"},
		{"keyring", "rewrap", "--batch-size", "1"},
		{"keyring", "retire", "1"},
	} {
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	close(stop)
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d requests failed during the rotation", failures)
	}
	out, err := runCLI(t, "keyring", "status", "--json")
	if err != nil || !strings.Contains(out, `"current": 2`) || strings.Contains(out, `"version": 1`) {
		t.Fatalf("status after retire: %v\n%s", err, out)
	}

	if err := g.stop(t); err != nil {
		t.Fatalf("keygate's exit after SIGTERM: %v", err)
	}
	restarted := startGatewayWith(t, "--data-dir", g.dataDir)
	if status, _, body := restarted.call(t, "GET", "/orders", hdr("apikey", key)); status != 200 {
		t.Fatalf("the key after a restart on the rotated keyring: %d %s", status, body)
	}
}
