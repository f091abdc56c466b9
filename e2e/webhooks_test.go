package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/webhook"
)

// received is one delivery as a receiver saw it.
type received struct {
	eventType, eventID string
	body               keygate.Event
	verified           error
}

// Webhooks end to end: a key rotation reaches the consumer's webhook,
// signed; a receiver that fails with a 500 gets the event again after the
// backoff (the injected clock moves, nothing sleeps for it).
func TestGatewayWebhooks(t *testing.T) {
	t.Parallel()
	clock := newFileClock(t, time.Now())
	g := startGatewayWith(t, clock.flags()...)
	ctx := context.Background()

	var mu sync.Mutex
	var got []received
	var secret string // set before any event is published
	fail := true
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc := received{eventType: r.Header.Get(webhook.EventTypeHeader), eventID: r.Header.Get(webhook.EventIDHeader),
			verified: webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), b, 0, clock.Now())}
		json.Unmarshal(b, &rc.body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, rc)
		if rc.eventType == keygate.EventKeyRotated && fail {
			fail = false
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer recv.Close()
	seen := func(n int) []received {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			r := append([]received(nil), got...)
			mu.Unlock()
			if len(r) >= n {
				return r
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("the receiver got fewer than %d deliveries", n)
		return nil
	}

	g.consumer(t, "acme")
	hook, err := g.admin.CreateWebhook(ctx, "acme", keygate.WebhookRequest{URL: recv.URL, Events: []string{keygate.EventKeyRotated}})
	if err != nil {
		t.Fatal(err)
	}
	secret = hook.Secret

	// A test ping arrives at once, signed.
	if _, err := g.admin.TestWebhook(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if r := seen(1)[0]; r.eventType != keygate.EventWebhookTest || r.verified != nil {
		t.Fatalf("ping %+v", r)
	}

	// A rotation: the first delivery fails with a 500 ...
	key := g.key(t, "acme", keygate.KeyRequest{})
	rot, err := g.admin.RotateKey(ctx, key.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := seen(2)[1]
	if first.eventType != keygate.EventKeyRotated || first.verified != nil || first.body.Data["key_id"] != key.ID ||
		first.body.Data["successor_id"] != rot.Key.ID || first.body.ConsumerID != rot.Key.Consumer.ID {
		t.Fatalf("rotation event %+v", first)
	}
	// The receiver answered before the dispatcher records the attempt: wait for the record.
	var ds []*keygate.WebhookDelivery
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ds, _, err = g.admin.WebhookDeliveries(ctx, hook.ID, keygate.DeliveryPending, keygate.Page{})
		if err == nil && len(ds) == 1 && ds[0].LastStatus == 500 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(ds) != 1 || ds[0].LastStatus != 500 || ds[0].Attempts != 1 {
		t.Fatalf("pending deliveries %+v %v", ds, err)
	}
	// ... and is sent again once the backoff has passed on the clock.
	clock.Advance(time.Minute)
	retry := seen(3)[2]
	if retry.eventID != first.eventID || retry.verified != nil {
		t.Errorf("retry %+v, want the same event %s, signed", retry, first.eventID)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, _, err = g.admin.WebhookDeliveries(ctx, hook.ID, keygate.DeliveryDelivered, keygate.Page{})
		if err == nil && len(ds) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(ds) != 2 || ds[0].Attempts != 2 || ds[0].LastStatus != 200 {
		t.Errorf("delivered %+v %v", ds, err)
	}
}

// The keygate webhooks commands.

func TestCLIWebhooks(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	admin(t, "consumers", "create", "--username", "alice")

	out := admin(t, "webhooks", "create", "--url", "https://hooks.example.com/in", "--event", "key.created,key.revoked", "--description", "audit")
	if !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create:\n%s", out)
	}
	secret := strings.Fields(strings.SplitN(out, "its signing secret:", 2)[1])[0]
	if !strings.HasPrefix(secret, keygate.WebhookSecretPrefix) {
		t.Fatalf("secret %q", secret)
	}
	own := adminJSON[keygate.IssuedWebhook](t, "webhooks", "create", "--consumer", "alice", "--url", "https://alice.example.com/in",
		"--event", "key.rotated", "--event", "key.expiring", "--disabled")
	if own.Enabled || own.ConsumerID == "" || strings.Join(own.Events, ",") != "key.rotated,key.expiring" || own.Secret == "" {
		t.Fatalf("created %+v", own)
	}

	list := adminJSON[keygate.List[*keygate.Webhook]](t, "webhooks", "list")
	if len(list.Data) != 2 {
		t.Fatalf("list %+v", list.Data)
	}
	global := list.Data[0]
	wantTable(t, admin(t, "webhooks", "list", "--consumer", "alice"), webhookHeader, []string{own.ID, own.ConsumerID, "https://alice.example.com/in", "false"})
	for _, args := range [][]string{{"webhooks", "list"}, {"webhooks", "get", global.ID}, {"webhooks", "list", "--json"}, {"webhooks", "get", own.ID, "--json"}} {
		if out := admin(t, args...); strings.Contains(out, secret) || strings.Contains(out, own.Secret) {
			t.Errorf("keygate %s shows a secret:\n%s", strings.Join(args, " "), out)
		}
	}
	wantTable(t, admin(t, "webhooks", "get", global.ID), webhookHeader, []string{global.ID, "global", "key.created,key.revoked", "true"})

	updated := adminJSON[keygate.Webhook](t, "webhooks", "update", own.ID, "--enabled", "--event", "key.leaked", "--url", "https://alice.example.com/v2")
	if !updated.Enabled || strings.Join(updated.Events, ",") != "key.leaked" || updated.URL != "https://alice.example.com/v2" || updated.Description != "" {
		t.Errorf("updated %+v", updated)
	}
	if updated = adminJSON[keygate.Webhook](t, "webhooks", "update", own.ID, "--enabled=false"); updated.Enabled || updated.URL != "https://alice.example.com/v2" {
		t.Errorf("disabled %+v", updated)
	}

	out = admin(t, "webhooks", "test", own.ID)
	wantTable(t, out, deliveryHeader, []string{keygate.EventWebhookTest, "pending", "0"})
	wantTable(t, admin(t, "webhooks", "deliveries", own.ID), deliveryHeader, []string{keygate.EventWebhookTest, "pending"})
	if got := adminJSON[keygate.List[*keygate.WebhookDelivery]](t, "webhooks", "deliveries", own.ID, "--status", "delivered"); len(got.Data) != 0 {
		t.Errorf("delivered: %+v", got.Data)
	}

	_, errOut, err := runAdmin(t, "", "webhooks", "create", "--url", "https://x.example.com/", "--event", "key.exploded")
	if err == nil || !strings.Contains(errOut, `events: unknown event type "key.exploded"`) {
		t.Errorf("unknown event: %v %s", err, errOut)
	}
	_, errOut, err = runAdmin(t, "", "webhooks", "create", "--url", "ftp://x.example.com/", "--event", "key.created")
	if err == nil || !strings.Contains(errOut, "url: scheme must be http or https") {
		t.Errorf("bad url: %v %s", err, errOut)
	}

	admin(t, "webhooks", "delete", own.ID)
	_, errOut, err = runAdmin(t, "", "webhooks", "get", own.ID)
	if err == nil || !strings.Contains(errOut, "NOT_FOUND") {
		t.Errorf("get after delete: %v %s", err, errOut)
	}
}
