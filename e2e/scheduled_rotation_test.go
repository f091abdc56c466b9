package e2e

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/webhook"
)

// jobsInterval is how often the lifecycle jobs run in the scheduled
// rotation test (--jobs-interval): often, so that the test can wait for a
// few runs after it moved the clock.
const jobsInterval = 20 * time.Millisecond

// Scheduled rotation end to end, on a clock the test drives: a policy set
// through the admin API; the jobs (run every jobsInterval here) rotate the key once it is due; the caller picks the new key up through
// the gateway's self-service rotation with its old key, once; the old key
// works during the overlap and is refused after it. A consumer with a
// public key gets its new key by webhook instead, sealed to that key.
func TestGatewayScheduledRotation(t *testing.T) {
	t.Parallel()
	clock := newFileClock(t, time.Now())
	g := startGatewayWith(t, append(clock.flags(), "--self-rotate-path", "/.keygate/rotate", "--key-expiry-notice", "168h",
		"--jobs-interval", jobsInterval.String())...)
	ctx := context.Background()
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "orders", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })

	// A global webhook hears every rotation event.
	var mu sync.Mutex
	var got []keygate.Event
	var secret string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		// The test moves the clock by days, possibly between the signing and
		// this check: the signature is checked, the timestamp window is not.
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), b, 1000*24*time.Hour, clock.Now()); err != nil {
			t.Errorf("delivery not signed: %v", err)
		}
		var ev keygate.Event
		json.Unmarshal(b, &ev)
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer recv.Close()
	hook, err := g.admin.CreateWebhook(ctx, "", keygate.WebhookRequest{URL: recv.URL,
		Events: []string{keygate.EventKeyRotationDue, keygate.EventKeyRotated}})
	if err != nil {
		t.Fatal(err)
	}
	secret = hook.Secret
	received := func(typ, consumerID string) keygate.Event {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			for _, ev := range got {
				if ev.Type == typ && ev.ConsumerID == consumerID {
					mu.Unlock()
					return ev
				}
			}
			mu.Unlock()
		}
		t.Fatalf("no %s event for consumer %s", typ, consumerID)
		return keygate.Event{}
	}

	// bodies is every event received, as JSON: no key may be in it in clear.
	bodies := func() string {
		mu.Lock()
		defer mu.Unlock()
		b, _ := json.Marshal(got)
		return string(b)
	}

	acme := g.consumer(t, "acme")
	old := g.key(t, "acme", keygate.KeyRequest{})
	acme, err = g.admin.UpdateConsumer(ctx, "acme", map[string]any{"rotation_policy": map[string]any{
		"every": 30 * 86400, "overlap": 7 * 86400, "notice": 14 * 86400, "auto": true}})
	if err != nil {
		t.Fatal(err)
	}
	want := keygate.RotationPolicy{Every: 30 * 86400, Overlap: 7 * 86400, Notice: 14 * 86400, Auto: true}
	if acme.RotationPolicy == nil || *acme.RotationPolicy != want {
		t.Fatalf("policy %+v, want %+v", acme.RotationPolicy, want)
	}
	if got, err := g.admin.Consumer(ctx, "acme"); err != nil || got.RotationPolicy == nil || *got.RotationPolicy != want {
		t.Fatalf("stored policy %+v %v", got, err)
	}

	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	globex := keygate.NewConsumer()
	globex.Username, globex.RotationPolicy = "globex", &want
	globex.PublicKey = base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes())
	if globex, err = g.admin.CreateConsumer(ctx, globex); err != nil {
		t.Fatal(err)
	}
	globexKey := g.key(t, "globex", keygate.KeyRequest{})

	// runJobs lets the jobs run a few times on the clock as it is now.
	runJobs := func() {
		t.Helper()
		time.Sleep(10 * jobsInterval)
		if line := g.proc.logged("lifecycle jobs failed; retrying at the next tick", 1); line != nil {
			t.Fatalf("the jobs failed: %v", line)
		}
	}
	runJobs()
	if k, err := g.admin.Key(ctx, old.ID); err != nil || k.SuccessorID != "" {
		t.Fatalf("before it is due: %+v %v", k, err)
	}

	clock.Advance(16 * 24 * time.Hour)
	runJobs()
	if ev := received(keygate.EventKeyRotationDue, acme.ID); ev.Data["key_id"] != old.ID || ev.Data["auto"] != true {
		t.Errorf("notice %+v", ev)
	}

	clock.Advance(14*24*time.Hour + time.Minute) // past due
	runJobs()
	rotated := received(keygate.EventKeyRotated, acme.ID)
	successorID, _ := rotated.Data["successor_id"].(string)
	if rotated.Data["key_id"] != old.ID || rotated.Data["pickup"] != "/.keygate/rotate" || rotated.Data["sealed_key"] != nil || successorID == "" {
		t.Fatalf("key.rotated %+v", rotated)
	}

	// The old key works during the overlap, announcing its end.
	status, h, _ := g.call(t, "GET", "/orders", hdr("apikey", old.Key))
	if status != 200 || h.Get("Sunset") == "" || h.Get("Deprecation") == "" {
		t.Errorf("old key during the overlap: %d, Sunset %q, Deprecation %q", status, h.Get("Sunset"), h.Get("Deprecation"))
	}

	pickup := func() (*http.Response, keygate.KeyRotation) {
		t.Helper()
		req, _ := http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", nil)
		req.Header.Set("apikey", old.Key)
		resp := do(t, req)
		defer resp.Body.Close()
		var rot keygate.KeyRotation
		json.NewDecoder(resp.Body).Decode(&rot)
		return resp, rot
	}
	resp, rot := pickup()
	if resp.StatusCode != 201 || resp.Header.Get("Cache-Control") != "no-store" || rot.Key.Key == "" ||
		rot.Key.ID != successorID || rot.Previous.ID != old.ID || rot.Previous.SuccessorID != successorID {
		t.Fatalf("pickup: %d %+v", resp.StatusCode, rot)
	}
	if end := clock.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Microsecond); !rot.Previous.ExpiresAt.Equal(end) {
		t.Errorf("the old key ends at %v, want %v (the overlap)", rot.Previous.ExpiresAt, end)
	}
	if status, h, _ := g.call(t, "GET", "/orders", hdr("apikey", rot.Key.Key)); status != 200 || h.Get("Sunset") != "" {
		t.Errorf("the picked up key: %d, Sunset %q", status, h.Get("Sunset"))
	}
	if resp, again := pickup(); resp.StatusCode != 409 || again.Key.Key != "" {
		t.Errorf("second pickup: %d", resp.StatusCode)
	}

	// The consumer with a public key got its new key by webhook, sealed.
	sealed := received(keygate.EventKeyRotated, globex.ID)
	newKey, err := client.OpenRotatedKey(priv, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if sealed.Data["key_id"] != globexKey.ID || sealed.Data["pickup"] != nil || strings.Contains(bodies(), newKey) {
		t.Errorf("key.rotated %+v", sealed)
	}
	if status, _, _ := g.call(t, "GET", "/orders", hdr("apikey", newKey)); status != 200 {
		t.Errorf("the sealed key: %d", status)
	}
	req, _ := http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", nil)
	req.Header.Set("apikey", globexKey.Key)
	if resp := do(t, req); resp.StatusCode != 409 {
		t.Errorf("pickup of a key delivered by webhook: %d, want 409", resp.StatusCode)
	}

	audit, _, err := g.admin.Audit(ctx, keygate.AuditFilter{TargetID: old.ID, Action: "key.rotated"}, keygate.Page{})
	if err != nil || len(audit) != 1 || audit[0].Actor != "system:lifecycle" {
		t.Errorf("audit %+v %v", audit, err)
	}

	clock.Advance(7 * 24 * time.Hour)
	if status, _, _ := g.call(t, "GET", "/orders", hdr("apikey", old.Key)); status != 401 {
		t.Errorf("old key after the overlap: %d", status)
	}
	if status, _, _ := g.call(t, "GET", "/orders", hdr("apikey", rot.Key.Key)); status != 200 {
		t.Errorf("new key after the overlap: %d", status)
	}
}
