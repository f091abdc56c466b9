package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

func TestConsumerEditAndDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.signIn("olga", "olga's password")
	plan := keygate.NewPlan()
	plan.Name = "bronze"
	if err := e.api.Store.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	id := b.createConsumer("acme")
	_, key := b.createKey(id, url.Values{})
	if _, err := e.api.Client.CreateHMACCredential(ctx, id, keygate.HMACCredentialRequest{Username: "acme-hmac"}); err != nil {
		t.Fatal(err)
	}
	want(t, b.get("/ui/consumers/"+id), http.StatusOK, "Edit consumer", ">bronze<", "acme-hmac")
	want(t, b.post("/ui/consumers/"+id, url.Values{"username": {"acme corp"}}), http.StatusBadRequest, "username", "not saved")
	want(t, b.post("/ui/consumers/"+id, url.Values{"username": {"acme"}, "plan": {"nope"}}), http.StatusBadRequest, "plan")
	p := b.post("/ui/consumers/"+id, url.Values{"username": {"acme"}, "custom_id": {"crm-7"}, "groups": {"partners, eu"}, "plan": {plan.ID}})
	want(t, p, http.StatusSeeOther)
	c, _ := e.api.Store.FindConsumer(ctx, id)
	if c.CustomID != "crm-7" || strings.Join(c.Groups, ",") != "partners,eu" || c.Plan == nil || c.Plan.ID != plan.ID {
		t.Fatalf("edited consumer: %+v", c)
	}
	want(t, b.get("/ui/consumers/"+id), http.StatusOK, `href="/ui/plans/`+plan.ID+`">bronze<`)

	aud := e.browser(t)
	aud.signIn("aud", "aud's password")
	if pg := aud.get("/ui/consumers/" + id); strings.Contains(pg.body, "Edit consumer") {
		t.Error("the auditor is offered the edit form")
	}
	want(t, aud.post("/ui/consumers/"+id, url.Values{"username": {"x"}}), http.StatusForbidden)

	b.get("/ui/consumers/" + id)
	want(t, b.post("/ui/consumers/"+id+"/delete", url.Values{"confirm": {"acm"}}), http.StatusBadRequest, "type its name (acme)")
	want(t, b.post("/ui/consumers/"+id+"/delete", url.Values{"confirm": {"acme"}}), http.StatusSeeOther)
	if _, err := e.api.Store.FindConsumer(ctx, id); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Fatalf("deleted consumer: %v", err)
	}
	if res, _ := e.api.Server.Verifier.VerifyKey(ctx, key, keygate.Target{}); res.Code == keygate.CodeValid {
		t.Fatal("the deleted consumer's key still verifies")
	}
	want(t, b.get("/ui/audit?target="+id), http.StatusOK, "consumer.updated", "consumer.deleted", "user:olga")
}
