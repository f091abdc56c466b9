package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// The anomaly detector through the binary: a burst of made-up keys from one
// address reaches a webhook as anomaly.detected (brute_force_ip), goes into
// the audit trail and the metrics, and blocks that address (429) while a
// valid key from another address passes; a revoked key tried is an alert
// of its own.
func TestAnomalyDetection(t *testing.T) {
	t.Parallel()
	g := startGatewayWith(t, "--anomaly=true", "--anomaly-block", "10m", "--anomaly-failures-per-ip", "20",
		"--trusted-proxies", "127.0.0.0/8")
	ctx := context.Background()

	var mu sync.Mutex
	var got []keygate.Event
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var e keygate.Event
		json.Unmarshal(b, &e)
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer recv.Close()
	event := func(kind keygate.AnomalyKind) keygate.Event {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			for _, e := range got {
				if e.Type == keygate.EventAnomalyDetected && e.Data["kind"] == string(kind) {
					mu.Unlock()
					return e
				}
			}
			mu.Unlock()
		}
		t.Fatalf("no anomaly.detected event of kind %s; got %+v", kind, got)
		return keygate.Event{}
	}
	if _, err := g.admin.CreateWebhook(ctx, "", keygate.WebhookRequest{URL: recv.URL, Events: []string{keygate.EventAnomalyDetected}}); err != nil {
		t.Fatal(err)
	}
	g.service(t, "s", g.upstream.URL, nil)
	g.route(t, "keyed", "s", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "partner")
	k := g.key(t, "partner", keygate.KeyRequest{})
	from := func(ip, key string) int {
		status, _, _ := g.call(t, "GET", "/keyed", hdr("apikey", key, "X-Forwarded-For", ip))
		return status
	}
	if s := from("198.51.100.1", k.Key); s != 200 {
		t.Fatalf("valid key: %d", s)
	}

	// The burst: 401s until the detector, which runs beside the request
	// path, has counted 20 and blocks the address.
	const attacker = "203.0.113.9"
	for i := range 25 {
		if s := from(attacker, fmt.Sprintf("kg_test_madeup%02d", i)); s != 401 && s != 429 {
			t.Fatalf("made-up key %d: %d", i, s)
		}
	}
	e := event(keygate.AnomalyBruteForceIP)
	if e.Data["ip"] != attacker || e.Data["blocked_until"] == nil || !strings.Contains(e.Data["explanation"].(string), attacker) {
		t.Errorf("event %+v", e)
	}
	// Blocked: even its valid key is refused from there, before
	// authentication, with a Retry-After; from elsewhere it works.
	status, h, _ := g.call(t, "GET", "/keyed", hdr("apikey", k.Key, "X-Forwarded-For", attacker))
	if status != 429 || h.Get("Retry-After") == "" {
		t.Errorf("blocked address: %d, Retry-After %q; want 429 with one", status, h.Get("Retry-After"))
	}
	if s := from("198.51.100.2", k.Key); s != 200 {
		t.Errorf("valid key from another address during the block: %d, want 200", s)
	}

	// A revoked key still tried.
	revoked := g.key(t, "partner", keygate.KeyRequest{})
	if _, err := g.admin.RevokeKey(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if s := from("198.51.100.3", revoked.Key); s != 401 {
		t.Fatalf("revoked key: %d", s)
	}
	e = event(keygate.AnomalyRevokedKeyUsed)
	if e.Data["credential_id"] != revoked.ID || e.ConsumerID != k.Consumer.ID {
		t.Errorf("revoked key event %+v", e)
	}

	// The audit trail and the metrics have them too.
	audit, _, err := g.admin.Audit(ctx, keygate.AuditFilter{Actor: "system:anomaly"}, keygate.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action+" "+a.TargetID)
	}
	if want := []string{"anomaly.brute_force_ip " + attacker, "anomaly.revoked_key_used " + revoked.ID}; strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("audit %q, want %q", actions, want)
	}
	m := scrape(t, g.adminURL+"/metrics")
	for _, line := range []string{`keygate_anomalies_total{kind="brute_force_ip"} 1`, `keygate_anomalies_total{kind="revoked_key_used"} 1`,
		`keygate_anomalies_total{kind="new_network"} 0`, `keygate_anomaly_blocked_addresses 1`} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %q:\n%s", line, grepLines(m, "anomal"))
		}
	}
}
