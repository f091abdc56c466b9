package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// The requests the webhook methods send, checked on the wire.
func TestWebhookRequests(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/deliveries") || r.URL.Path == "/v1/webhooks" && r.Method == http.MethodGet:
			io.WriteString(w, `{"data":[],"next":null}`)
		default:
			io.WriteString(w, `{"id":"w1"}`)
		}
	}))
	defer srv.Close()
	c := client.New(srv.URL, "t")
	ctx := context.Background()
	off, url, events := false, "https://x.example.com/", []string{"key.leaked"}
	calls := []func() error{
		func() error {
			_, err := c.CreateWebhook(ctx, "", keygate.WebhookRequest{URL: "https://x.example.com/", Events: []string{"key.created"}})
			return err
		},
		func() error {
			_, err := c.CreateWebhook(ctx, "acme corp", keygate.WebhookRequest{URL: "https://x.example.com/", Events: []string{"key.created"}, Enabled: &off})
			return err
		},
		func() error { _, _, err := c.Webhooks(ctx, "", keygate.Page{}); return err },
		func() error { _, _, err := c.Webhooks(ctx, "acme", keygate.Page{Limit: 5, After: "w0"}); return err },
		func() error { _, err := c.Webhook(ctx, "w1"); return err },
		func() error {
			_, err := c.UpdateWebhook(ctx, "w1", keygate.WebhookPatch{URL: &url, Events: &events, Enabled: &off})
			return err
		},
		func() error { _, err := c.TestWebhook(ctx, "w1"); return err },
		func() error {
			_, _, err := c.WebhookDeliveries(ctx, "w1", keygate.DeliveryFailed, keygate.Page{Limit: 2})
			return err
		},
		func() error { return c.DeleteWebhook(ctx, "w1") },
	}
	for i, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	want := []string{
		`POST /v1/webhooks {"url":"https://x.example.com/","events":["key.created"]}`,
		`POST /v1/consumers/acme%20corp/webhooks {"url":"https://x.example.com/","events":["key.created"],"enabled":false}`,
		`GET /v1/webhooks`,
		`GET /v1/webhooks?consumer=acme&offset=w0&size=5`,
		`GET /v1/webhooks/w1`,
		`PATCH /v1/webhooks/w1 {"url":"https://x.example.com/","events":["key.leaked"],"enabled":false}`,
		`POST /v1/webhooks/w1/test`,
		`GET /v1/webhooks/w1/deliveries?size=2&status=failed`,
		`DELETE /v1/webhooks/w1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The client against the real admin API.
func TestWebhooks(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	if _, err := e.Client.CreateConsumer(ctx, &keygate.Consumer{Username: "alice", Groups: []string{}, Tags: []string{}}); err != nil {
		t.Fatal(err)
	}
	global, err := e.Client.CreateWebhook(ctx, "", keygate.WebhookRequest{URL: "https://hooks.example.com/in", Events: []string{"key.created"}})
	if err != nil {
		t.Fatal(err)
	}
	off := false
	own, err := e.Client.CreateWebhook(ctx, "alice", keygate.WebhookRequest{URL: "https://alice.example.com/in", Events: []string{"key.rotated"}, Enabled: &off})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(global.Secret, keygate.WebhookSecretPrefix) || own.ConsumerID == "" || own.Enabled {
		t.Fatalf("created %+v, %+v", global, own)
	}
	all, next, err := e.Client.Webhooks(ctx, "", keygate.Page{Limit: 1})
	if err != nil || len(all) != 1 || all[0].ID != global.ID || next == "" {
		t.Fatalf("first page %+v %q %v", all, next, err)
	}
	mine, _, err := e.Client.Webhooks(ctx, "alice", keygate.Page{})
	if err != nil || len(mine) != 1 || mine[0].ID != own.ID {
		t.Fatalf("alice's %+v %v", mine, err)
	}
	on, events := true, []string{"key.rotated", "key.revoked"}
	updated, err := e.Client.UpdateWebhook(ctx, own.ID, keygate.WebhookPatch{Enabled: &on, Events: &events})
	if err != nil || !updated.Enabled || len(updated.Events) != 2 || updated.URL != own.URL {
		t.Fatalf("updated %+v %v", updated, err)
	}
	d, err := e.Client.TestWebhook(ctx, own.ID)
	if err != nil || d.EventType != keygate.EventWebhookTest || d.Status != keygate.DeliveryPending {
		t.Fatalf("test %+v %v", d, err)
	}
	ds, _, err := e.Client.WebhookDeliveries(ctx, own.ID, keygate.DeliveryPending, keygate.Page{})
	if err != nil || len(ds) != 1 || ds[0].ID != d.ID {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	got, err := e.Client.Webhook(ctx, own.ID)
	if b, _ := json.Marshal(got); err != nil || strings.Contains(string(b), own.Secret) {
		t.Errorf("get %s %v", b, err)
	}

	_, err = e.Client.CreateWebhook(ctx, "", keygate.WebhookRequest{URL: "https://x.example.com/", Events: []string{"key.nope"}})
	if ae := webhookAPIError(t, err); ae.Status != 400 || !strings.HasPrefix(ae.Message, "events: ") {
		t.Errorf("unknown event: %+v", ae)
	}
	if err := e.Client.DeleteWebhook(ctx, own.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.Client.Webhook(ctx, own.ID)
	if ae := webhookAPIError(t, err); ae.Status != 404 || ae.Code != keygate.ENOTFOUND {
		t.Errorf("after delete: %+v", ae)
	}
}

// webhookAPIError returns err as the admin API's error.
func webhookAPIError(tb testing.TB, err error) *client.Error {
	tb.Helper()
	ae, ok := errors.AsType[*client.Error](err)
	if !ok {
		tb.Fatalf("err = %v (%T), want *client.Error", err, err)
	}
	return ae
}
