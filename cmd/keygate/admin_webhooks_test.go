package main

import (
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

func TestCLIWebhooks(t *testing.T) {
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
