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

// HMAC secrets are base64url.
var hmacSecret = regexp.MustCompile(`id="secret" class="secret-value" readonly value="([A-Za-z0-9_-]{43})"`)

func TestCreateCredentialsOnConsumerPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	cid := b.createConsumer("acme")
	want(t, b.get("/ui/consumers/"+cid), http.StatusOK, "New HMAC credential", "New OAuth client", "No HMAC credentials.", "/ui/webhooks?consumer="+cid)

	t.Run("bad input", func(t *testing.T) {
		want(t, b.post("/ui/consumers/"+cid+"/hmac-credentials", url.Values{"username": {""}}), http.StatusBadRequest, "username")
		want(t, b.post("/ui/consumers/"+cid+"/hmac-credentials", url.Values{"username": {"x"}, "ttl_days": {"0"}}), http.StatusBadRequest, "Lifetime")
		want(t, b.post("/ui/consumers/"+cid+"/oauth-clients", url.Values{"name": {""}}), http.StatusBadRequest, "name")
		want(t, b.post("/ui/consumers/"+cid+"/oauth-clients", url.Values{"name": {"x"}, "token_lifetime": {"soon"}}), http.StatusBadRequest, "Token lifetime")
		want(t, b.post("/ui/consumers/nobody/oauth-clients", url.Values{"name": {"x"}}), http.StatusNotFound)
		if hs, _, _ := e.api.Store.ListHMACCredentials(ctx, keygate.HMACCredentialFilter{}, keygate.Page{}); len(hs) != 0 {
			t.Fatalf("refused forms left %d HMAC credentials", len(hs))
		}
	})

	t.Run("auditor cannot", func(t *testing.T) {
		aud := e.browser(t)
		aud.signIn("aud", "aud's password")
		if pg := aud.get("/ui/consumers/" + cid); strings.Contains(pg.body, "New HMAC credential") {
			t.Error("the auditor is offered a change")
		}
		want(t, aud.post("/ui/consumers/"+cid+"/hmac-credentials", url.Values{"username": {"a"}}), http.StatusForbidden)
		want(t, aud.post("/ui/consumers/"+cid+"/oauth-clients", url.Values{"name": {"a"}}), http.StatusForbidden)
	})

	p := b.post("/ui/consumers/"+cid+"/hmac-credentials", url.Values{"username": {"acme-signer"}, "ttl_days": {"30"}})
	want(t, p, http.StatusCreated, "Copy this secret now", "acme-signer")
	hm := hmacSecret.FindStringSubmatch(p.body)
	if hm == nil {
		t.Fatalf("no secret on the page:\n%s", p.body)
	}
	p = b.post("/ui/consumers/"+cid+"/oauth-clients", url.Values{"name": {"billing"}, "scopes": {"orders:read orders:write"}})
	want(t, p, http.StatusCreated, "Copy this client secret now", "orders:read orders:write", keygate.OAuthClientIDPrefix)
	om := secretPattern.FindStringSubmatch(p.body)
	if om == nil {
		t.Fatalf("no client secret on the page:\n%s", p.body)
	}
	pg := b.get("/ui/consumers/" + cid)
	want(t, pg, http.StatusOK, "acme-signer", "billing")
	if strings.Contains(pg.body, om[1]) || strings.Contains(pg.body, hm[1]) {
		t.Error("the consumer page shows a secret")
	}
	hs, _, _ := e.api.Store.ListHMACCredentials(ctx, keygate.HMACCredentialFilter{ConsumerID: cid}, keygate.Page{})
	if len(hs) != 1 || hs[0].ExpiresAt == nil {
		t.Fatalf("HMAC credentials: %+v", hs)
	}
	want(t, b.get("/ui/audit?target="+hs[0].ID), http.StatusOK, "user:olga")
}
