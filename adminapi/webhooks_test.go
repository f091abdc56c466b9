package adminapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/webhook"
)

// waker counts wake-ups: the dispatcher as the admin API sees it.
type waker struct {
	keygate.Publisher
	wakes atomic.Int32
}

func (w *waker) Wake() { w.wakes.Add(1) }

// webhookEnv is an admin API with events going to events (nil: nowhere).
func webhookEnv(tb testing.TB, events keygate.Publisher) *adminapitest.Env {
	tb.Helper()
	e := adminapitest.New(tb)
	e.Server.Events = events // read per request, so setting it now takes effect
	return e
}

func createWebhook(tb testing.TB, e *adminapitest.Env, path, body string) keygate.IssuedWebhook {
	tb.Helper()
	r := request(tb, e, "POST", path, body, nil)
	if r.status != http.StatusCreated {
		tb.Fatalf("POST %s: %d %s", path, r.status, r.body)
	}
	var issued keygate.IssuedWebhook
	if err := json.Unmarshal([]byte(r.body), &issued); err != nil {
		tb.Fatal(err)
	}
	return issued
}

// A webhook's secret is generated, shown once at creation, and stored
// sealed: no later response, log line or database file holds it.
func TestWebhookSecretIsShownOnceAndSealed(t *testing.T) {
	e := webhookEnv(t, nil)
	alice := newConsumer(t, e.Client, "alice")

	global := createWebhook(t, e, "/v1/webhooks", `{"url":"https://hooks.example.com/in","events":["key.created","key.revoked"],"description":"audit"}`)
	if !strings.HasPrefix(global.Secret, keygate.WebhookSecretPrefix) || len(global.Secret) < 40 || global.ConsumerID != "" ||
		!global.Enabled || global.Description != "audit" || !keygate.LooksLikeID(global.ID) || !global.CreatedAt.Equal(adminapitest.Start) {
		t.Fatalf("created %+v", global)
	}
	own := createWebhook(t, e, "/v1/consumers/alice/webhooks", `{"url":"http://10.1.2.3:9000/keygate","events":["key.rotated"],"enabled":false}`)
	if own.ConsumerID != alice.ID || own.Enabled || own.Secret == global.Secret {
		t.Fatalf("created %+v", own)
	}

	after := map[string]response{
		"get":        request(t, e, "GET", "/v1/webhooks/"+global.ID, "", nil),
		"list":       request(t, e, "GET", "/v1/webhooks", "", nil),
		"patch":      request(t, e, "PATCH", "/v1/webhooks/"+global.ID, `{"description":"audit trail"}`, nil),
		"test":       request(t, e, "POST", "/v1/webhooks/"+global.ID+"/test", "", nil),
		"deliveries": request(t, e, "GET", "/v1/webhooks/"+global.ID+"/deliveries", "", nil),
	}
	for name, r := range after {
		if r.status >= 300 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		for _, secret := range []string{global.Secret, own.Secret} {
			if strings.Contains(r.body, secret) || strings.Contains(r.body, `"secret"`) {
				t.Errorf("%s shows a secret: %s", name, r.body)
			}
		}
	}
	if strings.Contains(e.Logs.String(), global.Secret) {
		t.Error("the log holds the secret")
	}
	// The keyring opens what the store holds (package webhook's tests check
	// that the database files never hold it in clear).
	ws, ok := any(e.Store).(keygate.WebhookStore)
	if !ok {
		t.Fatal("the store keeps no webhooks")
	}
	if _, err := ws.EnqueueWebhookEvent(context.Background(), own.ID, &keygate.Event{Type: keygate.EventWebhookTest}); err != nil {
		t.Fatal(err)
	}
	claimed, err := ws.ClaimDeliveries(context.Background(), e.Clock.Now(), 10, 60e9)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	for _, c := range claimed {
		plain, err := e.Keyring.Ring.Open(c.Secret)
		want := global.Secret
		if c.WebhookID == own.ID {
			want = own.Secret
		}
		if err != nil || string(plain) != want {
			t.Errorf("the sealed secret of %s opens to %q, %v", c.WebhookID, plain, err)
		}
	}
}

func TestWebhookValidation(t *testing.T) {
	e := webhookEnv(t, nil)
	newConsumer(t, e.Client, "alice")
	tests := []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		{"no url", "/v1/webhooks", `{"events":["key.created"]}`, 400, keygate.EINVALID, "url: required"},
		{"not http", "/v1/webhooks", `{"url":"ftp://x.example.com/","events":["key.created"]}`, 400, keygate.EINVALID, "url: scheme must be http or https"},
		{"no host", "/v1/webhooks", `{"url":"https:///in","events":["key.created"]}`, 400, keygate.EINVALID, "url: host required"},
		{"credentials", "/v1/webhooks", `{"url":"https://u:p@x.example.com/","events":["key.created"]}`, 400, keygate.EINVALID, "url: must not contain credentials"},
		{"no events", "/v1/webhooks", `{"url":"https://x.example.com/"}`, 400, keygate.EINVALID, "events: at least one event type is required"},
		{"empty events", "/v1/webhooks", `{"url":"https://x.example.com/","events":[]}`, 400, keygate.EINVALID, "events: at least one"},
		{"unknown event", "/v1/webhooks", `{"url":"https://x.example.com/","events":["key.created","key.exploded"]}`, 400, keygate.EINVALID, `events: unknown event type "key.exploded"`},
		{"an event twice", "/v1/webhooks", `{"url":"https://x.example.com/","events":["key.created","key.created"]}`, 400, keygate.EINVALID, `events: "key.created" is listed twice`},
		{"a secret given", "/v1/webhooks", `{"url":"https://x.example.com/","events":["key.created"],"secret":"mine"}`, 400, keygate.EINVALID, `unknown field "secret"`},
		{"a consumer in the body", "/v1/webhooks", `{"url":"https://x.example.com/","events":["key.created"],"consumer_id":"alice"}`, 400, keygate.EINVALID, `unknown field "consumer_id"`},
		{"an id", "/v1/webhooks", `{"id":"x","url":"https://x.example.com/","events":["key.created"]}`, 400, keygate.EINVALID, "id: read-only"},
		{"control characters", "/v1/webhooks", `{"url":"https://x.example.com/","events":["key.created"],"description":"a\u0000b"}`, 400, keygate.EINVALID, "description: must not contain control characters"},
		{"unknown consumer", "/v1/consumers/nobody/webhooks", `{"url":"https://x.example.com/","events":["key.created"]}`, 404, keygate.ENOTFOUND, "nobody"},
		{"not JSON", "/v1/webhooks", `url=x`, 400, keygate.EINVALID, "request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, "POST", tt.path, tt.body, nil).wantError(t, tt.status, tt.code, tt.msg)
		})
	}
	if r := request(t, e, "GET", "/v1/webhooks", "", nil); !strings.Contains(r.body, `"data":[]`) {
		t.Errorf("a refused webhook was stored: %s", r.body)
	}
}

func TestWebhookUpdateListDelete(t *testing.T) {
	e := webhookEnv(t, nil)
	newConsumer(t, e.Client, "alice")
	newConsumer(t, e.Client, "bob")
	global := createWebhook(t, e, "/v1/webhooks", `{"url":"https://hooks.example.com/in","events":["key.created"]}`)
	ofAlice := createWebhook(t, e, "/v1/consumers/alice/webhooks", `{"url":"https://alice.example.com/in","events":["key.created"]}`)
	e.Clock.Advance(60e9)

	r := request(t, e, "PATCH", "/v1/webhooks/"+ofAlice.ID, `{"url":"https://alice.example.com/v2","events":["key.revoked","key.leaked"],"enabled":false,"description":"v2"}`, nil)
	var got keygate.Webhook
	if err := json.Unmarshal([]byte(r.body), &got); r.status != 200 || err != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got.URL != "https://alice.example.com/v2" || strings.Join(got.Events, ",") != "key.revoked,key.leaked" || got.Enabled ||
		got.Description != "v2" || got.ConsumerID != ofAlice.ConsumerID || !got.UpdatedAt.Equal(adminapitest.Start.Add(60e9)) {
		t.Errorf("patched %+v", got)
	}
	for _, tt := range []struct{ body, msg string }{
		{`{"events":[]}`, "events: at least one"},
		{`{"events":["nope"]}`, `events: unknown event type "nope"`},
		{`{"url":"mailto:ops@example.com"}`, "url: scheme must be http or https"},
		{`{"consumer_id":"bob"}`, `unknown field "consumer_id"`},
		{`{"secret":"whsec_x"}`, `unknown field "secret"`},
	} {
		request(t, e, "PATCH", "/v1/webhooks/"+ofAlice.ID, tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
	}
	if again := request(t, e, "GET", "/v1/webhooks/"+ofAlice.ID, "", nil); !strings.Contains(again.body, `"url":"https://alice.example.com/v2"`) {
		t.Errorf("a refused patch changed the webhook: %s", again.body)
	}

	list := func(query string) []string {
		r := request(t, e, "GET", "/v1/webhooks"+query, "", nil)
		var l keygate.List[*keygate.Webhook]
		if err := json.Unmarshal([]byte(r.body), &l); r.status != 200 || err != nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var ids []string
		for _, w := range l.Data {
			ids = append(ids, w.ID)
		}
		return ids
	}
	if got := list(""); strings.Join(got, " ") != global.ID+" "+ofAlice.ID {
		t.Errorf("list %v", got)
	}
	if got := list("?consumer=alice"); strings.Join(got, " ") != ofAlice.ID {
		t.Errorf("alice's %v", got)
	}
	if got := list("?consumer=bob"); len(got) != 0 {
		t.Errorf("bob's %v", got)
	}
	if got := list("?size=1"); len(got) != 1 {
		t.Errorf("a page of one: %v", got)
	}
	request(t, e, "GET", "/v1/webhooks?consumer=nobody", "", nil).wantError(t, 404, keygate.ENOTFOUND, "nobody")

	if r := request(t, e, "DELETE", "/v1/webhooks/"+ofAlice.ID, "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/v1/webhooks/" + ofAlice.ID, "/v1/webhooks/" + ofAlice.ID + "/deliveries"} {
		request(t, e, "GET", path, "", nil).wantError(t, 404, keygate.ENOTFOUND, "webhook")
	}
	request(t, e, "DELETE", "/v1/webhooks/"+ofAlice.ID, "", nil).wantError(t, 404, keygate.ENOTFOUND, "webhook")
	request(t, e, "POST", "/v1/webhooks/"+ofAlice.ID+"/test", "", nil).wantError(t, 404, keygate.ENOTFOUND, "webhook")
	request(t, e, "PATCH", "/v1/webhooks/"+ofAlice.ID, `{"enabled":true}`, nil).wantError(t, 404, keygate.ENOTFOUND, "webhook")

	// Deleting a consumer deletes its webhooks.
	ofBob := createWebhook(t, e, "/v1/consumers/bob/webhooks", `{"url":"https://bob.example.com/in","events":["key.created"]}`)
	if err := e.Client.DeleteConsumer(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	request(t, e, "GET", "/v1/webhooks/"+ofBob.ID, "", nil).wantError(t, 404, keygate.ENOTFOUND, "webhook")
}

// The test ping end to end: the admin API queues it and wakes the
// dispatcher, which signs it with the secret the creation showed; the
// receiver checks that signature with webhook.Verify.
func TestWebhookTestPing(t *testing.T) {
	wake := &waker{}
	e := webhookEnv(t, wake)
	var mu sync.Mutex
	var got []error
	var secret string // set before the ping is sent
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, 0, e.Clock.Now()))
		if r.Header.Get(webhook.EventTypeHeader) != keygate.EventWebhookTest || !strings.Contains(string(body), `"message":"a test ping from keygate"`) {
			t.Errorf("ping %v %s", r.Header, body)
		}
	}))
	defer recv.Close()

	d, err := webhook.New(e.Store, webhook.Options{Open: e.Keyring.Ring.Open, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Disabled: a ping goes out anyway, to check the receiver before enabling it.
	issued := createWebhook(t, e, "/v1/webhooks", `{"url":"`+recv.URL+`","events":["key.created"],"enabled":false}`)
	secret = issued.Secret

	r := request(t, e, "POST", "/v1/webhooks/"+issued.ID+"/test", "", nil)
	var queued keygate.WebhookDelivery
	if err := json.Unmarshal([]byte(r.body), &queued); r.status != http.StatusAccepted || err != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if queued.Status != keygate.DeliveryPending || queued.EventType != keygate.EventWebhookTest || queued.WebhookID != issued.ID {
		t.Errorf("queued %+v", queued)
	}
	if wake.wakes.Load() != 1 {
		t.Errorf("the dispatcher was woken %d times, want once", wake.wakes.Load())
	}
	if n, err := d.RunOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != nil {
		t.Errorf("the receiver got %v", got)
	}
	mu.Unlock()

	r = request(t, e, "GET", "/v1/webhooks/"+issued.ID+"/deliveries?status=delivered", "", nil)
	var l keygate.List[*keygate.WebhookDelivery]
	if err := json.Unmarshal([]byte(r.body), &l); err != nil || len(l.Data) != 1 || l.Data[0].ID != queued.ID || l.Data[0].LastStatus != 200 {
		t.Errorf("deliveries: %s", r.body)
	}
	if r = request(t, e, "GET", "/v1/webhooks/"+issued.ID+"/deliveries?status=pending", "", nil); !strings.Contains(r.body, `"data":[]`) {
		t.Errorf("pending deliveries: %s", r.body)
	}
	request(t, e, "GET", "/v1/webhooks/"+issued.ID+"/deliveries?status=lost", "", nil).wantError(t, 400, keygate.EINVALID, "status: must be")
}

// Without a token, nothing webhook-related answers.
func TestWebhookRoutesNeedAToken(t *testing.T) {
	e := webhookEnv(t, nil)
	for _, path := range []string{"/v1/webhooks", "/v1/consumers/alice/webhooks"} {
		request(t, e, "POST", path, `{}`, map[string]string{"Authorization": ""}).wantError(t, 401, keygate.EUNAUTHORIZED, "admin token")
	}
	request(t, e, "GET", "/v1/webhooks", "", map[string]string{"Authorization": ""}).wantError(t, 401, keygate.EUNAUTHORIZED, "admin token")
}
