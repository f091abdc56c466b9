package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

var webhookSecret = regexp.MustCompile(`id="secret" class="secret-value" readonly value="(whsec_[A-Za-z0-9]+)"`)

func TestWebhooks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	cid := b.createConsumer("acme")
	want(t, b.get("/ui/webhooks"), http.StatusOK, "No webhooks.", "New global webhook", keygate.EventKeyCreated)

	t.Run("bad input", func(t *testing.T) {
		want(t, b.post("/ui/webhooks", url.Values{"url": {"ftp://x"}, "events": {keygate.EventKeyCreated}}), http.StatusBadRequest, "url:")
		want(t, b.post("/ui/webhooks", url.Values{"url": {"https://hooks.example.com/k"}, "events": {"no.such"}}), http.StatusBadRequest, "events")
		want(t, b.post("/ui/webhooks", url.Values{"url": {"https://hooks.example.com/k"}, "events": {keygate.EventKeyCreated}, "consumer": {"nobody"}}), http.StatusNotFound)
		if hooks, _, _ := e.api.Store.ListWebhooks(ctx, keygate.WebhookFilter{}, keygate.Page{}); len(hooks) != 0 {
			t.Fatalf("a refused form left %d webhooks", len(hooks))
		}
	})

	want(t, b.get("/ui/webhooks?consumer="+cid), http.StatusOK, "Webhooks of acme", "New webhook for this consumer")
	p := b.post("/ui/webhooks", url.Values{"url": {"https://hooks.example.com/acme"}, "events": {keygate.EventKeyCreated, keygate.EventKeyRevoked},
		"description": {"acme's pager"}, "consumer": {cid}})
	want(t, p, http.StatusCreated, "Copy this signing secret now", "https://hooks.example.com/acme")
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	m := webhookSecret.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", p.body)
	}
	hooks, _, err := e.api.Store.ListWebhooks(ctx, keygate.WebhookFilter{ConsumerID: cid}, keygate.Page{})
	if err != nil || len(hooks) != 1 {
		t.Fatalf("webhooks of acme: %v, %v", hooks, err)
	}
	h := hooks[0]
	for _, path := range []string{"/ui/webhooks", "/ui/webhooks/" + h.ID, "/ui/audit?target=" + h.ID} {
		pg := b.get(path)
		want(t, pg, http.StatusOK)
		if strings.Contains(pg.body, m[1]) {
			t.Errorf("%s shows the signing secret", path)
		}
	}
	want(t, b.get("/ui/webhooks"), http.StatusOK, "https://hooks.example.com/acme", ">acme<", "enabled")

	t.Run("auditor cannot", func(t *testing.T) {
		aud := e.browser(t)
		aud.signIn("aud", "aud's password")
		pg := aud.get("/ui/webhooks/" + h.ID)
		want(t, pg, http.StatusOK, "acme&#39;s pager")
		if strings.Contains(pg.body, "Delete webhook") {
			t.Error("the auditor is offered a change")
		}
		want(t, aud.post("/ui/webhooks", url.Values{"url": {"https://x.example.com"}, "events": {keygate.EventKeyCreated}}), http.StatusForbidden)
		want(t, aud.post("/ui/webhooks/"+h.ID, url.Values{"toggle": {"1"}}), http.StatusForbidden)
		want(t, aud.post("/ui/webhooks/"+h.ID+"/delete", url.Values{}), http.StatusForbidden)
		want(t, aud.post("/ui/webhooks/"+h.ID+"/test", url.Values{}), http.StatusForbidden)
	})

	t.Run("CSRF", func(t *testing.T) {
		want(t, b.post("/ui/webhooks/"+h.ID+"/delete", url.Values{"csrf": {"wrong"}}), http.StatusForbidden)
	})

	t.Run("test ping", func(t *testing.T) {
		want(t, b.post("/ui/webhooks/"+h.ID+"/test", url.Values{}), http.StatusSeeOther)
		want(t, b.get("/ui/webhooks/"+h.ID), http.StatusOK, keygate.EventWebhookTest, "status-pending")
	})

	t.Run("disable, edit, delete", func(t *testing.T) {
		want(t, b.post("/ui/webhooks/"+h.ID, url.Values{"toggle": {"1"}}), http.StatusSeeOther)
		if got, _ := e.api.Store.FindWebhook(ctx, h.ID); got.Enabled {
			t.Fatal("still enabled")
		}
		want(t, b.get("/ui/webhooks/"+h.ID), http.StatusOK, "disabled: events are not sent", "Enable")
		want(t, b.post("/ui/webhooks/"+h.ID, url.Values{"url": {""}, "events": {keygate.EventKeyCreated}}), http.StatusBadRequest, "url")
		want(t, b.post("/ui/webhooks/"+h.ID, url.Values{"url": {"https://hooks.example.com/v2"}, "events": {keygate.EventKeyRotated},
			"enabled": {"on"}}), http.StatusSeeOther)
		got, _ := e.api.Store.FindWebhook(ctx, h.ID)
		if !got.Enabled || got.URL != "https://hooks.example.com/v2" || len(got.Events) != 1 || got.Events[0] != keygate.EventKeyRotated {
			t.Fatalf("after edit: %+v", got)
		}
		want(t, b.post("/ui/webhooks/"+h.ID+"/delete", url.Values{}), http.StatusSeeOther)
		want(t, b.get("/ui/webhooks/"+h.ID), http.StatusNotFound)
	})
}
