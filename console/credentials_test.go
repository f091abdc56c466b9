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

var secretPattern = regexp.MustCompile(`id="secret" class="secret-value" readonly value="([A-Za-z0-9]+)"`)

func TestCredentials(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("ada", "ada's password")
	id := b.createConsumer("acme")
	hc, err := e.api.Client.CreateHMACCredential(ctx, id, keygate.HMACCredentialRequest{Username: "acme-signer"})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := e.api.Client.CreateOAuthClient(ctx, id, keygate.OAuthClientRequest{Name: "billing", Scopes: []string{"orders:read"}})
	if err != nil {
		t.Fatal(err)
	}
	hp := b.get("/ui/credentials/hmac")
	want(t, hp, http.StatusOK, "acme-signer", ">acme<", "/ui/hmac-credentials/"+hc.ID+"/revoke")
	if strings.Contains(hp.body, hc.Secret) {
		t.Error("the list shows the HMAC secret")
	}
	want(t, b.get("/ui/credentials/oauth"), http.StatusOK, oc.ClientID, "billing", "orders:read", "/ui/oauth-clients/"+oc.ID+"/rotate")

	t.Run("auditor cannot", func(t *testing.T) {
		aud := e.browser(t)
		aud.signIn("aud", "aud's password")
		if pg := aud.get("/ui/credentials/oauth"); strings.Contains(pg.body, "Revoke…") {
			t.Error("the auditor is offered a change")
		}
		want(t, aud.post("/ui/oauth-clients/"+oc.ID+"/rotate", url.Values{}), http.StatusForbidden)
		want(t, aud.post("/ui/hmac-credentials/"+hc.ID+"/revoke", url.Values{}), http.StatusForbidden)
	})

	t.Run("new OAuth secret", func(t *testing.T) {
		want(t, b.get("/ui/oauth-clients/"+oc.ID+"/rotate"), http.StatusOK, "Overlap in hours", `value="24"`)
		want(t, b.post("/ui/oauth-clients/"+oc.ID+"/rotate", url.Values{"overlap": {"-1"}}), http.StatusBadRequest, "Overlap: a whole number")
		p := b.post("/ui/oauth-clients/"+oc.ID+"/rotate", url.Values{"overlap": {"1"}})
		want(t, p, http.StatusCreated, "Copy this secret now", oc.ClientID, "previous secret keeps working until")
		m := secretPattern.FindStringSubmatch(p.body)
		if m == nil || m[1] == oc.ClientSecret {
			t.Fatalf("no new secret on the page:\n%s", p.body)
		}
		c, _ := e.api.Store.FindOAuthClient(ctx, oc.ID)
		if c.PreviousSecretExpiresAt == nil || c.PreviousSecretExpiresAt.Sub(e.api.Clock.Now()).Hours() > 1.01 {
			t.Fatalf("previous secret until %v, want in an hour", c.PreviousSecretExpiresAt)
		}
		if pg := b.get("/ui/credentials/oauth"); strings.Contains(pg.body, m[1]) {
			t.Error("the list shows the new secret")
		}
	})

	t.Run("revoke", func(t *testing.T) {
		want(t, b.get("/ui/hmac-credentials/"+hc.ID+"/revoke"), http.StatusOK, "Revoke HMAC credential acme-signer?")
		want(t, b.post("/ui/hmac-credentials/"+hc.ID+"/revoke", url.Values{"reason": {"partner offboarded"}}), http.StatusSeeOther)
		want(t, b.get("/ui/hmac-credentials/"+hc.ID+"/revoke"), http.StatusOK, "nothing to revoke")
		want(t, b.get("/ui/oauth-clients/"+oc.ID+"/revoke"), http.StatusOK, "Revoke OAuth client")
		want(t, b.post("/ui/oauth-clients/"+oc.ID+"/revoke", url.Values{"reason": {"contract ended"}}), http.StatusSeeOther)
		want(t, b.get("/ui/credentials/oauth"), http.StatusOK, "revoked")
		want(t, b.get("/ui/oauth-clients/"+oc.ID+"/rotate"), http.StatusOK, "gets no new secret")
		want(t, b.get("/ui/audit?target="+hc.ID), http.StatusOK, "user:ada", "partner offboarded")
		want(t, b.get("/ui/audit?target="+oc.ID), http.StatusOK, "user:ada", "contract ended")
		want(t, b.get("/ui/oauth-clients/nothing/revoke"), http.StatusNotFound)
	})
}
