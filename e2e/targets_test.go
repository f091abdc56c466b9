package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Issue 16: a service's deploys never touch its keys. Callers keep calling
// with their API key while a pipeline flips the service blue → green →
// blue ten times through the deploy hook: no request fails, none is
// refused, and each flip sends the next request to the new color at once.
func TestBlueGreenDeploysKeepEveryRequest(t *testing.T) {
	g := startGateway(t)
	colors := map[string]*httptest.Server{}
	for _, color := range []string{"blue", "green"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, color)
		}))
		t.Cleanup(srv.Close)
		colors[color] = srv
	}
	g.service(t, "shop", colors["blue"].URL, nil)
	g.route(t, "shop", "shop", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "alice")
	key := g.key(t, "alice", keygate.KeyRequest{})

	var calls, failed, refused atomic.Int64
	var lastFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for caller := range 4 {
		method := []string{http.MethodGet, http.MethodPost}[caller%2] // POSTs are never retried: they must not fail either
		wg.Go(func() {
			client := &http.Client{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(method, g.proxyURL+"/shop/x", strings.NewReader("{}"))
				req.Header.Set("apikey", key.Key)
				res, err := client.Do(req)
				calls.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
					lastFailure.Store(err.Error())
					continue
				case res.StatusCode == 401 || res.StatusCode == 403:
					refused.Add(1)
				case res.StatusCode != 200:
					failed.Add(1)
					lastFailure.Store(res.Status)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}

	ctx := context.Background()
	for flip := range 20 { // ten times to green and back
		color := []string{"green", "blue"}[flip%2]
		if _, err := g.admin.Deploy(ctx, "shop", keygate.Deploy{URL: colors[color].URL, Color: color}); err != nil {
			t.Fatal(err)
		}
		if status, _, body := g.call(t, http.MethodGet, "/shop/x", hdr("apikey", key.Key)); status != 200 || string(body) != color {
			t.Fatalf("flip %d: the next request got %d %q, want %s", flip, status, body, color)
		}
		// Let the callers send some requests to this color before the next flip.
		for seen := calls.Load(); calls.Load() < seen+20; {
			runtime.Gosched()
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || refused.Load() != 0 {
		t.Fatalf("%d of %d requests failed (last: %v), %d refused", failed.Load(), calls.Load(), lastFailure.Load(), refused.Load())
	}
	t.Logf("%d requests during 20 deploys, none failed or refused", calls.Load())
	targets, err := g.admin.Targets(ctx, "shop")
	if err != nil || len(targets) != 1 || targets[0].URL != colors["blue"].URL || targets[0].Color != "blue" {
		t.Errorf("targets after the flips: %+v, %v", targets, err)
	}
}

// A deploy made through one node moves the service on every node: each
// sends the service's requests to the new target within a second.
func TestClusterDeployReachesEveryNode(t *testing.T) {
	nodes := cluster(t)
	a := nodes[0]
	green := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "green") }))
	t.Cleanup(green.Close)
	a.service(t, "shop", a.upstream.URL, nil)
	a.route(t, "shop", "shop", nil)
	isGreen := func(g *gateway) func() int {
		return func() int {
			_, _, body := g.call(t, http.MethodGet, "/shop/x", nil)
			if string(body) == "green" {
				return 1
			}
			return 0
		}
	}
	for _, n := range nodes {
		within(t, time.Second, "blue before the deploy", 0, isGreen(n))
	}
	if _, err := a.admin.Deploy(context.Background(), "shop", keygate.Deploy{URL: green.URL, Color: "green"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		within(t, time.Second, "green after the deploy", 1, isGreen(n))
	}
}
