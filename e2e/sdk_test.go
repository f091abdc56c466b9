package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// The SDK against the binary: a client.KeyHolder keeps a caller's
// short-lived key renewed through the gateway's self-service rotation, so
// a caller that calls all the time never sends an expired key; the
// gateway's requests and the verify API's calls are counted by outcome in
// the verification analytics and in keygate_verifications_total.
// Not parallel: it depends on the wall clock (keys of 3 seconds).
func TestSDKKeyHolderAndVerificationAnalytics(t *testing.T) {
	g := startGatewayWith(t, "--self-rotate-path", "/.keygate/rotate", "--usage-flush-interval", "200ms")
	ctx := t.Context()
	g.service(t, "docs", g.upstream.URL, nil)
	g.route(t, "docs", "docs", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "acme")
	ttl := 3
	first := g.key(t, "acme", keygate.KeyRequest{TTL: &ttl})

	call := func(key string) int {
		status, _, _ := g.call(t, "GET", "/docs", hdr("apikey", key))
		return status
	}
	var renewals atomic.Int32
	h, err := client.NewKeyHolder(client.KeyHolderConfig{GatewayURL: g.proxyURL, Key: first.Key, ExpiresAt: *first.ExpiresAt,
		GracePeriod: 10 * time.Second,
		Check: func(_ context.Context, key string) error {
			if s := call(key); s != 200 {
				return fmt.Errorf("HTTP %d", s)
			}
			return nil
		},
		OnRenew: func(string, time.Time) { renewals.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- h.Run(runCtx) }()
	calls := 0
	for end := time.Now().Add(4500 * time.Millisecond); time.Now().Before(end); calls++ {
		if s := call(h.Key()); s != 200 {
			t.Fatalf("call %d with the held key: HTTP %d (after %d renewals)", calls, s, renewals.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	<-done
	if renewals.Load() < 2 || h.Key() == first.Key {
		t.Fatalf("%d renewals in 4.5 s of a 3 s key", renewals.Load())
	}
	if s := call(first.Key); s != 401 {
		t.Errorf("the first key, past its life and grace: HTTP %d", s)
	}

	// The verify API, with a verifier token.
	tok, err := g.admin.CreateAdminToken(ctx, keygate.AdminTokenRequest{Name: "docs-service", Role: keygate.RoleVerifier})
	if err != nil {
		t.Fatal(err)
	}
	verifier := client.New(g.adminURL, tok.Token)
	if ans, err := verifier.Verify(ctx, keygate.VerifyRequest{Key: h.Key(), Service: "docs"}); err != nil || !ans.Valid {
		t.Fatalf("verify the held key: %+v, %v", ans, err)
	}
	if ans, err := verifier.Verify(ctx, keygate.VerifyRequest{Key: first.Key}); err != nil || ans.Valid {
		t.Fatalf("verify the first key: %+v, %v", ans, err)
	}

	// Counted once the meter flushed.
	var sums map[string]int64
	for deadline := time.Now().Add(5 * time.Second); ; {
		rep, err := g.admin.VerificationAnalytics(ctx, client.VerificationQuery{GroupBy: []string{"source", "outcome"},
			Consumer: "acme", To: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		sums = map[string]int64{}
		for _, r := range rep.Data {
			sums[string(r.Source)+" "+string(r.Code)] += r.Count
		}
		if sums["verify VALID"] == 1 && sums["verify EXPIRED"] == 1 && sums["gateway EXPIRED"] == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every call with the held key and every check of a new one were VALID.
	if sums["gateway VALID"] < int64(calls) || sums["gateway EXPIRED"] != 1 || sums["verify VALID"] != 1 || sums["verify EXPIRED"] != 1 {
		t.Errorf("acme's verifications by source and outcome: %v (%d calls)", sums, calls)
	}

	// The CLI shows the same counts.
	useCLIOn(t, g)
	out := admin(t, "analytics", "verifications", "--group-by", "source,outcome", "--consumer", "acme", "--source", "verify",
		"--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	wantTable(t, out, []string{"START", "OUTCOME", "SOURCE", "COUNT"}, []string{"EXPIRED", "verify", "1"}, []string{"VALID", "verify", "1"})
	if _, stderr, err := runAdmin(t, "", "analytics", "verifications", "--group-by", "route"); err == nil || !strings.Contains(stderr, "group_by") {
		t.Errorf("--group-by route: %v %s", err, stderr)
	}

	resp, err := http.Get(g.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`keygate_verifications_total{code="VALID",source="gateway"}`, `keygate_verifications_total{code="EXPIRED",source="verify"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
